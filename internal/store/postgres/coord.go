package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/store"
)

// Coordination between the nodes sharing this database: the state that
// one process would keep in memory (store/coord.go). Every time here is
// the database's clock, never a node's, so that nodes whose clocks
// disagree still agree on when a lease expires.

var (
	_ store.Leases           = (*Store)(nil)
	_ store.RecentClaimer    = (*Store)(nil)
	_ store.ThrottleCounters = (*Store)(nil)
)

// coordSchema is the migration step of the coordination tables.
const coordSchema = `CREATE TABLE leases (
	name    text PRIMARY KEY,
	holder  text NOT NULL,
	expires bigint NOT NULL
);

-- floor: the highest UID some read-write session was told about; prev:
-- the floor before the last claim (so that one UPDATE both raises the
-- floor and returns what it was, under the row lock).
CREATE TABLE recent_floors (
	mailbox_id bigint PRIMARY KEY REFERENCES mailboxes(id) ON DELETE CASCADE,
	floor      bigint NOT NULL,
	prev       bigint NOT NULL
);

CREATE TABLE auth_failures (
	key   text PRIMARY KEY,
	fails integer NOT NULL,
	last  bigint NOT NULL
);
CREATE INDEX auth_failures_last ON auth_failures(last);`

// dbNow is the database's clock in Unix nanoseconds.
const dbNow = `(extract(epoch from clock_timestamp()) * 1000000000)::bigint`

// AcquireLease implements store.Leases: one statement inserts the lease,
// or takes it over when it expired or is already holder's; a lease held
// by another holder is left alone (the WHERE of DO UPDATE) and nothing is
// returned.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	var got string
	err := s.pool.QueryRow(ctx, `INSERT INTO leases AS l (name, holder, expires) VALUES ($1, $2, `+dbNow+` + $3)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
		WHERE l.expires < `+dbNow+` OR l.holder = excluded.holder
		RETURNING holder`, name, holder, ttl.Nanoseconds()).Scan(&got)
	if err == pgx.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("postgres: lease %s: %w", name, err)
	}
	return true, nil
}

// RenewLease implements store.Leases. A holder whose lease expired but
// was not taken over gets it back: nobody else relied on it meanwhile.
func (s *Store) RenewLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE leases SET expires = `+dbNow+` + $3 WHERE name = $1 AND holder = $2`,
		name, holder, ttl.Nanoseconds())
	if err != nil {
		return false, fmt.Errorf("postgres: lease %s: %w", name, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseLease implements store.Leases.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return fmt.Errorf("postgres: lease %s: %w", name, err)
	}
	return nil
}

// RecentFloor implements store.RecentClaimer. A claim is one upsert: the
// conflicting row is locked and re-read at its latest version, and SET's
// right-hand side sees the row before the update, so prev is the floor
// this claim raised — two sessions on two nodes claiming at once are
// serialised by the row lock and the second sees the first's floor. A
// mailbox nobody claimed has floor 0: all its messages are recent
// (RFC 3501 §2.3.2), as after the first start of a single node.
//
// Every read-write SELECT claims, so the claim's transaction commits
// without waiting for the WAL flush (set_config local to the statement's
// own transaction, read at its commit): \Recent is a hint, not mail
// (RFC 9051 Appendix E dropped it), and a claim lost when the database
// crashes only makes messages recent once more; a SELECT waited 5 ms for
// the disk.
func (s *Store) RecentFloor(ctx context.Context, mbox store.MailboxID, last store.UID, claim bool) (store.UID, error) {
	var floor int64
	var err error
	if claim {
		err = s.pool.QueryRow(ctx, `WITH async AS (SELECT set_config('synchronous_commit', 'off', true)),
			up AS (INSERT INTO recent_floors AS r (mailbox_id, floor, prev) VALUES ($1, $2, 0)
				ON CONFLICT (mailbox_id) DO UPDATE SET prev = r.floor, floor = GREATEST(r.floor, excluded.floor)
				RETURNING prev)
			SELECT prev FROM up, async`, mbox, int64(last)).Scan(&floor)
	} else {
		err = s.pool.QueryRow(ctx, `SELECT floor FROM recent_floors WHERE mailbox_id = $1`, mbox).Scan(&floor)
		if err == pgx.ErrNoRows {
			return 0, nil
		}
	}
	if isForeignKey(err) {
		return 0, store.ErrNotFound // the mailbox was deleted meanwhile
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: recent: %w", err)
	}
	return store.UID(floor), nil
}

// AddFailures implements store.ThrottleCounters in one statement: a
// counter quiet for window starts again from one.
func (s *Store) AddFailures(ctx context.Context, keys []string, window time.Duration) ([]int, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `INSERT INTO auth_failures AS f (key, fails, last)
		SELECT k, 1, `+dbNow+` FROM unnest($1::text[]) AS k
		ON CONFLICT (key) DO UPDATE SET
			fails = CASE WHEN f.last < excluded.last - $2 THEN 1 ELSE f.fails + 1 END,
			last = excluded.last
		RETURNING key, fails`, dedup(keys), window.Nanoseconds())
	if err != nil {
		return nil, fmt.Errorf("postgres: auth failures: %w", err)
	}
	out, err := countsByKey(rows, keys)
	if err == nil && rand.IntN(100) == 0 {
		// Forget long-quiet counters now and then: no timer of its own.
		_, err = s.pool.Exec(ctx, `DELETE FROM auth_failures WHERE last < `+dbNow+` - $1`, window.Nanoseconds())
	}
	return out, err
}

// Failures implements store.ThrottleCounters.
func (s *Store) Failures(ctx context.Context, keys []string, window time.Duration) ([]int, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT key, fails FROM auth_failures
		WHERE key = ANY($1) AND last >= `+dbNow+` - $2`, keys, window.Nanoseconds())
	if err != nil {
		return nil, fmt.Errorf("postgres: auth failures: %w", err)
	}
	return countsByKey(rows, keys)
}

// ResetFailures implements store.ThrottleCounters.
func (s *Store) ResetFailures(ctx context.Context, keys []string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM auth_failures WHERE key = ANY($1)`, keys); err != nil {
		return fmt.Errorf("postgres: auth failures: %w", err)
	}
	return nil
}

// countsByKey reads (key, fails) rows into the order of keys (0 for a key
// without a row).
func countsByKey(rows pgx.Rows, keys []string) ([]int, error) {
	m := make(map[string]int, len(keys))
	var k string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&k, &n}, func() error {
		m[k] = n
		return nil
	}); err != nil {
		return nil, fmt.Errorf("postgres: auth failures: %w", err)
	}
	out := make([]int, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out, nil
}

// dedup drops repeated keys: one INSERT ... ON CONFLICT may not touch a
// row twice.
func dedup(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := keys[:0:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
