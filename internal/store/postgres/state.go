package postgres

import (
	"context"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/store"
)

// The state store (store.StateStore) in PostgreSQL: Sieve scripts,
// greylisting, the learning filter's counts and the send counters that
// every node must see alike. Keys are bytea (a filter token may be any
// bytes); times are Unix nanoseconds as elsewhere, 0 = never expires.

// stateSchema is the migration step that adds the tables.
const stateSchema = `CREATE TABLE IF NOT EXISTS state_kv (
	key     bytea PRIMARY KEY,
	value   bytea NOT NULL,
	version bigint NOT NULL,
	expires bigint NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS state_kv_expires ON state_kv(expires) WHERE expires > 0;
CREATE TABLE IF NOT EXISTS state_counters (
	key bytea PRIMARY KEY,
	n   bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS state_events (
	key bytea NOT NULL,
	at  bigint NOT NULL,
	n   bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS state_events_key_at ON state_events(key, at);`

var _ store.StateStore = (*Store)(nil)

func stateExpiry(now time.Time, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return now.Add(ttl).UnixNano()
}

func byteKeys(keys []string) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = []byte(k)
	}
	return out
}

// GetState implements store.StateStore.
func (s *Store) GetState(ctx context.Context, keys ...string) (map[string]store.StateEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, value, version FROM state_kv WHERE key = ANY($1) AND (expires = 0 OR expires > $2)`,
		byteKeys(keys), time.Now().UnixNano())
	if err != nil {
		return nil, err
	}
	out := map[string]store.StateEntry{}
	for _, e := range scanState(rows, &err) {
		out[e.Key] = e
	}
	return out, err
}

func scanState(rows pgx.Rows, errp *error) []store.StateEntry {
	defer rows.Close()
	var out []store.StateEntry
	for rows.Next() {
		var k []byte
		var e store.StateEntry
		if *errp = rows.Scan(&k, &e.Value, &e.Version); *errp != nil {
			return nil
		}
		e.Key = string(k)
		out = append(out, e)
	}
	*errp = rows.Err()
	return out
}

// ListState implements store.StateStore.
func (s *Store) ListState(ctx context.Context, prefix string, limit int) ([]store.StateEntry, error) {
	end := store.PrefixEnd(prefix)
	rows, err := s.pool.Query(ctx, `SELECT key, value, version FROM state_kv
		WHERE key >= $1 AND ($2::bytea IS NULL OR key < $2) AND (expires = 0 OR expires > $3) ORDER BY key LIMIT $4`,
		[]byte(prefix), nilIfEmpty(end), time.Now().UnixNano(), limit)
	if err != nil {
		return nil, err
	}
	out := scanState(rows, &err)
	return out, err
}

func nilIfEmpty(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// PutState implements store.StateStore.
func (s *Store) PutState(ctx context.Context, key string, value []byte, version int64, ttl time.Duration) (bool, error) {
	now := time.Now()
	exp := stateExpiry(now, ttl)
	if value == nil {
		value = []byte{}
	}
	var q string
	args := []any{[]byte(key), value, exp}
	switch {
	case version < 0:
		q = `INSERT INTO state_kv(key, value, version, expires) VALUES($1,$2,1,$3)
			ON CONFLICT (key) DO UPDATE SET value=excluded.value, version=state_kv.version+1, expires=excluded.expires`
	case version == 0:
		q = `INSERT INTO state_kv(key, value, version, expires) VALUES($1,$2,1,$3)
			ON CONFLICT (key) DO UPDATE SET value=excluded.value, version=state_kv.version+1, expires=excluded.expires
			WHERE state_kv.expires > 0 AND state_kv.expires <= $4`
		args = append(args, now.UnixNano())
	default:
		q = `UPDATE state_kv SET value=$2, version=version+1, expires=$3
			WHERE key=$1 AND version=$4 AND (expires = 0 OR expires > $5)`
		args = append(args, version, now.UnixNano())
	}
	tag, err := s.pool.Exec(ctx, q, args...)
	return err == nil && tag.RowsAffected() == 1, err
}

// DeleteState implements store.StateStore.
func (s *Store) DeleteState(ctx context.Context, keys ...string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM state_kv WHERE key = ANY($1)`, byteKeys(keys))
	return err
}

// ExpireState implements store.StateStore.
func (s *Store) ExpireState(ctx context.Context) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM state_kv WHERE expires > 0 AND expires <= $1`, time.Now().UnixNano())
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// AddCounters implements store.StateStore: one statement for all the
// deltas (a trained message is a few hundred tokens), keys in order so
// that two nodes adding to the same counters lock them in the same order
// and never deadlock.
func (s *Store) AddCounters(ctx context.Context, deltas map[string]int64) error {
	if len(deltas) == 0 {
		return nil
	}
	keys := make([]string, 0, len(deltas))
	for k := range deltas {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ns := make([]int64, len(keys))
	for i, k := range keys {
		ns[i] = deltas[k]
	}
	bk := byteKeys(keys)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO state_counters(key, n) SELECT * FROM unnest($1::bytea[], $2::bigint[])
			ON CONFLICT (key) DO UPDATE SET n = state_counters.n + excluded.n`, bk, ns); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM state_counters WHERE key = ANY($1) AND n <= 0`, bk)
		return err
	})
}

// Counters implements store.StateStore.
func (s *Store) Counters(ctx context.Context, keys []string) ([]int64, error) {
	return s.sumByKey(ctx, keys, `SELECT key, n FROM state_counters WHERE key = ANY($1)`)
}

func (s *Store) sumByKey(ctx context.Context, keys []string, q string, args ...any) ([]int64, error) {
	rows, err := s.pool.Query(ctx, q, append([]any{byteKeys(keys)}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	got := make(map[string]int64, len(keys))
	for rows.Next() {
		var k []byte
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		got[string(k)] = n
	}
	out := make([]int64, len(keys))
	for i, k := range keys {
		out[i] = got[k]
	}
	return out, rows.Err()
}

// ListCounters implements store.StateStore.
func (s *Store) ListCounters(ctx context.Context, prefix, after string, limit int) ([]store.StateCounter, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, n FROM state_counters
		WHERE key >= $1 AND key > $2 AND ($3::bytea IS NULL OR key < $3) ORDER BY key LIMIT $4`,
		[]byte(prefix), []byte(after), nilIfEmpty(store.PrefixEnd(prefix)), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return store.ScanCounters(rows)
}

// AddEvent implements store.StateStore.
func (s *Store) AddEvent(ctx context.Context, key string, n int64, at time.Time, keep time.Duration) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM state_events WHERE key=$1 AND at < $2`, []byte(key), at.Add(-keep).UnixNano()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO state_events(key, at, n) VALUES($1,$2,$3)`, []byte(key), at.UnixNano(), n)
		return err
	})
}

// CountEvents implements store.StateStore.
func (s *Store) CountEvents(ctx context.Context, keys []string, since time.Time) ([]int64, error) {
	return s.sumByKey(ctx, keys, `SELECT key, sum(n)::bigint FROM state_events WHERE key = ANY($1) AND at > $2 GROUP BY key`, since.UnixNano())
}
