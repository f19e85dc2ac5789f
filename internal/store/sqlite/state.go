package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/youju/youju/internal/store"
)

// The state store (store.StateStore) in the index. The embedded server
// keeps its Sieve scripts, greylist, filter models and send journal as
// files (they are as fast and need no migration); these tables give the
// SQLite backend the same seam as PostgreSQL's, for tools and tests that
// run against either. Writes go through the batching writer like every
// other; reads use the read pool.

// stateSchema is the migration step that adds the tables.
const stateSchema = `CREATE TABLE IF NOT EXISTS state_kv (
		key     BLOB PRIMARY KEY,
		value   BLOB NOT NULL,
		version INTEGER NOT NULL,
		expires INTEGER NOT NULL DEFAULT 0
	) WITHOUT ROWID;
	CREATE INDEX IF NOT EXISTS state_kv_expires ON state_kv(expires) WHERE expires > 0;
	CREATE TABLE IF NOT EXISTS state_counters (
		key BLOB PRIMARY KEY,
		n   INTEGER NOT NULL
	) WITHOUT ROWID;
	CREATE TABLE IF NOT EXISTS state_events (
		key BLOB NOT NULL,
		at  INTEGER NOT NULL,
		n   INTEGER NOT NULL
	);
	CREATE INDEX IF NOT EXISTS state_events_key_at ON state_events(key, at);`

var _ store.StateStore = (*Store)(nil)

// maxInList bounds the parameters of one IN (...) (SQLite's limit is
// 32766; smaller lists keep the statement cache useful).
const maxInList = 500

// inList returns "?,?,…" for n parameters.
func inList(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

// eachChunk calls fn with the keys in chunks of at most maxInList, as
// query arguments.
func eachChunk(keys []string, fn func(args []any) error) error {
	for len(keys) > 0 {
		n := min(len(keys), maxInList)
		args := make([]any, n)
		for i, k := range keys[:n] {
			args[i] = []byte(k)
		}
		if err := fn(args); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// GetState implements store.StateStore.
func (s *Store) GetState(ctx context.Context, keys ...string) (map[string]store.StateEntry, error) {
	out := map[string]store.StateEntry{}
	now := time.Now().UnixNano()
	err := eachChunk(keys, func(args []any) error {
		rows, err := s.rdb.QueryContext(ctx, `SELECT key, value, version FROM state_kv WHERE key IN (`+inList(len(args))+
			`) AND (expires = 0 OR expires > ?)`, append(args, now)...)
		if err != nil {
			return err
		}
		list, err := scanState(rows)
		for _, e := range list {
			out[e.Key] = e
		}
		return err
	})
	return out, err
}

func scanState(rows *sql.Rows) ([]store.StateEntry, error) {
	defer rows.Close()
	var out []store.StateEntry
	for rows.Next() {
		var k []byte
		var e store.StateEntry
		if err := rows.Scan(&k, &e.Value, &e.Version); err != nil {
			return nil, err
		}
		e.Key = string(k)
		out = append(out, e)
	}
	return out, rows.Err()
}

// ListState implements store.StateStore.
func (s *Store) ListState(ctx context.Context, prefix string, limit int) ([]store.StateEntry, error) {
	var end any
	if e := store.PrefixEnd(prefix); e != "" {
		end = []byte(e)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT key, value, version FROM state_kv
		WHERE key >= ? AND (?2 IS NULL OR key < ?2) AND (expires = 0 OR expires > ?3) ORDER BY key LIMIT ?4`,
		[]byte(prefix), end, time.Now().UnixNano(), limit)
	if err != nil {
		return nil, err
	}
	return scanState(rows)
}

// PutState implements store.StateStore.
func (s *Store) PutState(ctx context.Context, key string, value []byte, version int64, ttl time.Duration) (bool, error) {
	now := time.Now()
	exp := int64(0)
	if ttl > 0 {
		exp = now.Add(ttl).UnixNano()
	}
	if value == nil {
		value = []byte{}
	}
	var ok bool
	err := s.do(ctx, nil, func(w *wtx) error {
		var res sql.Result
		var err error
		switch {
		case version < 0:
			res, err = w.exec(`INSERT INTO state_kv(key, value, version, expires) VALUES(?,?,1,?)
				ON CONFLICT (key) DO UPDATE SET value=excluded.value, version=version+1, expires=excluded.expires`,
				[]byte(key), value, exp)
		case version == 0:
			res, err = w.exec(`INSERT INTO state_kv(key, value, version, expires) VALUES(?,?,1,?)
				ON CONFLICT (key) DO UPDATE SET value=excluded.value, version=version+1, expires=excluded.expires
				WHERE expires > 0 AND expires <= ?`, []byte(key), value, exp, now.UnixNano())
		default:
			res, err = w.exec(`UPDATE state_kv SET value=?, version=version+1, expires=?
				WHERE key=? AND version=? AND (expires = 0 OR expires > ?)`, value, exp, []byte(key), version, now.UnixNano())
		}
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	return ok, err
}

// DeleteState implements store.StateStore.
func (s *Store) DeleteState(ctx context.Context, keys ...string) error {
	return s.do(ctx, nil, func(w *wtx) error {
		return eachChunk(keys, func(args []any) error {
			_, err := w.exec(`DELETE FROM state_kv WHERE key IN (`+inList(len(args))+`)`, args...)
			return err
		})
	})
}

// ExpireState implements store.StateStore.
func (s *Store) ExpireState(ctx context.Context) (int, error) {
	var n int64
	err := s.do(ctx, nil, func(w *wtx) error {
		res, err := w.exec(`DELETE FROM state_kv WHERE expires > 0 AND expires <= ?`, time.Now().UnixNano())
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	return int(n), err
}

// AddCounters implements store.StateStore.
func (s *Store) AddCounters(ctx context.Context, deltas map[string]int64) error {
	if len(deltas) == 0 {
		return nil
	}
	return s.do(ctx, nil, func(w *wtx) error {
		for k, d := range deltas {
			if _, err := w.exec(`INSERT INTO state_counters(key, n) VALUES(?,?)
				ON CONFLICT (key) DO UPDATE SET n = n + excluded.n`, []byte(k), d); err != nil {
				return err
			}
			if _, err := w.exec(`DELETE FROM state_counters WHERE key=? AND n <= 0`, []byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Counters implements store.StateStore.
func (s *Store) Counters(ctx context.Context, keys []string) ([]int64, error) {
	return s.sumByKey(ctx, keys, `SELECT key, n FROM state_counters WHERE key IN (%s)`)
}

// sumByKey runs q (with %s for the key list, and extra arguments after
// the keys) over keys in chunks and returns the value of each key.
func (s *Store) sumByKey(ctx context.Context, keys []string, q string, extra ...any) ([]int64, error) {
	got := make(map[string]int64, len(keys))
	err := eachChunk(keys, func(args []any) error {
		rows, err := s.rdb.QueryContext(ctx, strings.Replace(q, "%s", inList(len(args)), 1), append(args, extra...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k []byte
			var n int64
			if err := rows.Scan(&k, &n); err != nil {
				return err
			}
			got[string(k)] = n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(keys))
	for i, k := range keys {
		out[i] = got[k]
	}
	return out, nil
}

// ListCounters implements store.StateStore.
func (s *Store) ListCounters(ctx context.Context, prefix, after string, limit int) ([]store.StateCounter, error) {
	var end any
	if e := store.PrefixEnd(prefix); e != "" {
		end = []byte(e)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT key, n FROM state_counters
		WHERE key >= ?1 AND key > ?2 AND (?3 IS NULL OR key < ?3) ORDER BY key LIMIT ?4`,
		[]byte(prefix), []byte(after), end, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return store.ScanCounters(rows)
}

// AddEvent implements store.StateStore.
func (s *Store) AddEvent(ctx context.Context, key string, n int64, at time.Time, keep time.Duration) error {
	return s.do(ctx, nil, func(w *wtx) error {
		if _, err := w.exec(`DELETE FROM state_events WHERE key=? AND at < ?`, []byte(key), at.Add(-keep).UnixNano()); err != nil {
			return err
		}
		_, err := w.exec(`INSERT INTO state_events(key, at, n) VALUES(?,?,?)`, []byte(key), at.UnixNano(), n)
		return err
	})
}

// CountEvents implements store.StateStore.
func (s *Store) CountEvents(ctx context.Context, keys []string, since time.Time) ([]int64, error) {
	return s.sumByKey(ctx, keys, `SELECT key, sum(n) FROM state_events WHERE key IN (%s) AND at > ? GROUP BY key`, since.UnixNano())
}
