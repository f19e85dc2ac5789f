package pgqueue_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/youju/youju/internal/delivery/queue"
)

// fillDeferred inserts n messages deferred by an hour, n/10 of them held,
// and due due now, straight into the table (as many Adds would, faster).
func fillDeferred(t testing.TB, dsn, schema string, n, due int) {
	t.Helper()
	c := pgConn(t, dsn, schema)
	ctx := context.Background()
	later := time.Now().Add(time.Hour).UnixNano()
	if _, err := c.Exec(ctx, `INSERT INTO outbound(id, state, data, sender, next_attempt, held)
		SELECT 'deferred-'||lpad(g::text, 6, '0'), '{}', '\x00', 'a@youju.test', $1::bigint + g, g % 10 = 0
		FROM generate_series(1, $2) g`, later, n); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixNano()
	for i := range due {
		if _, err := c.Exec(ctx, `INSERT INTO outbound(id, state, data, sender, next_attempt) VALUES($1, '{}', '\x00', 'a@youju.test', $2)`,
			fmt.Sprintf("due-%d", i), now-int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Exec(ctx, `ANALYZE outbound`); err != nil {
		t.Fatal(err)
	}
}

// TestDueReadsOnlyDue: of 10,000 deferred messages (a tenth held) and 3
// due ones, Due returns the 3, and the 9,000 deferred ones not held are
// counted (Waiting) rather than read; a message whose lease another node
// holds beyond the window is left out until it runs out.
func TestDueReadsOnlyDue(t *testing.T) {
	dsn, schema := setup(t)
	s := openStorage(t, dsn, schema)
	fillDeferred(t, dsn, schema, 10000, 3)
	ctx := context.Background()
	due, err := s.Due(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 3 || s.Waiting() != 9000 {
		t.Fatalf("Due returned %d (want 3), Waiting %d (want 9000)", len(due), s.Waiting())
	}
	for i := range 3 {
		if _, ok := due[fmt.Sprintf("due-%d", i)]; !ok {
			t.Fatalf("due-%d missing from %v", i, due)
		}
	}

	// Another node claims due-0 for a minute: not ours to try before.
	c := pgConn(t, dsn, schema)
	if _, err := c.Exec(ctx, `UPDATE outbound SET claimed_by='other', lease_until=(extract(epoch from clock_timestamp()) * 1000000000)::bigint + $1 WHERE id='due-0'`,
		time.Minute.Nanoseconds()); err != nil {
		t.Fatal(err)
	}
	// due-1 is held by the operator; deferred-000001 falls due.
	if _, err := c.Exec(ctx, `UPDATE outbound SET held=true WHERE id='due-1'`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `UPDATE outbound SET next_attempt=$1 WHERE id='deferred-000001'`, time.Now().UnixNano()); err != nil {
		t.Fatal(err)
	}
	if due, err = s.Due(ctx); err != nil {
		t.Fatal(err)
	}
	_, ok2 := due["due-2"]
	_, okD := due["deferred-000001"]
	if len(due) != 2 || !ok2 || !okD || s.Waiting() != 9000 {
		t.Fatalf("after claim/hold: Due %v, Waiting %d (want due-2 and deferred-000001, 9000: 8999 deferred + due-0 leased)", due, s.Waiting())
	}
}

// TestLenCountsWaiting: the queue's Len (and its gauge) counts the
// messages Due left out, so a deferred backlog is still visible.
func TestLenCountsWaiting(t *testing.T) {
	dsn, schema := setup(t)
	s := openStorage(t, dsn, schema)
	fillDeferred(t, dsn, schema, 100, 0)
	q, err := queue.Open(options(s, "127.0.0.1:1", time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n := q.Len(); n != 90 {
		t.Fatalf("Len = %d, want 90 (100 deferred, 10 held)", n)
	}
}

// BenchmarkDue: one Due (what every node runs every second) on a queue of
// 10,000 messages deferred by an hour and 3 due.
func BenchmarkDue(b *testing.B) {
	dsn, schema := setup(b)
	s := openStorage(b, dsn, schema)
	fillDeferred(b, dsn, schema, 10000, 3)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if _, err := s.Due(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
