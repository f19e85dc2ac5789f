package postgres

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// The blob_pending rows of concurrent deliveries (extblobs.go) are
// written together: a delivery queues its ids, and one of the waiting
// deliveries, the leader, writes every id queued in one statement (one
// commit), then hands the lead to the first delivery that queued while
// it wrote, if any. One statement per delivery had cost external-blob
// deliveries a third of their rate; with 50 concurrent deliveries a
// statement carries about 8 (BenchmarkDeliver10KBFiles, pending-stmts/msg).
//
// A delivery returns from addPending only when its rows are committed,
// and uploads its objects only then: a crash after the upload leaves a
// row that names the object.

// pendingGroup queues the pending ids of concurrent deliveries.
type pendingGroup struct {
	mu      sync.Mutex
	queue   []*pendingReq
	leading bool // a leader is writing; the queue waits for its hand-off
	// writes counts the statements (benchmarks report it per message).
	writes atomic.Int64
}

// pendingReq is one delivery's ids; done gets the outcome of the
// statement that wrote them, or lead when its delivery is to write the
// queue itself.
type pendingReq struct {
	ids  []string
	done chan pendingDone
}

type pendingDone struct {
	err  error
	lead bool
}

// addPending commits ids in blob_pending, with those of the deliveries
// waiting at the same time.
func (s *Store) addPending(ids []string) error {
	g := &s.pending
	r := &pendingReq{ids: ids, done: make(chan pendingDone, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, r)
	if g.leading {
		g.mu.Unlock()
		d := <-r.done
		if !d.lead {
			return d.err
		}
		g.mu.Lock()
	}
	// Leader: write what is queued (r among it), then pass the lead on.
	g.leading = true
	batch := g.queue
	g.queue = nil
	g.mu.Unlock()
	err := s.writePending(batch)
	g.writes.Add(1)
	for _, b := range batch {
		if b != r {
			b.done <- pendingDone{err: err}
		}
	}
	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].done <- pendingDone{lead: true}
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	return err
}

// writePending inserts the ids of batch in one statement. It is not
// cancelled with a delivery's context: it writes other deliveries' rows.
// The commit does not wait for the WAL flush (synchronous_commit off for
// this transaction only): the row is durable against a crash of youju
// as soon as PostgreSQL has it, and a crash of the database that loses
// it leaves at worst an object nobody names (space, never mail); the
// delivery's own commit, flushed, comes later in the WAL and flushes it
// too. Waiting for the flush halved the deliveries per second with files.
func (s *Store) writePending(batch []*pendingReq) error {
	var ids []string
	for _, r := range batch {
		ids = append(ids, r.ids...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), extTimeout)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `WITH async AS (SELECT set_config('synchronous_commit', 'off', true))
		INSERT INTO blob_pending(ext, added) SELECT unnest($1::text[]), `+dbNow+` FROM async
		ON CONFLICT DO NOTHING`, ids); err != nil {
		return fmt.Errorf("postgres: recording message bytes to store: %w", err)
	}
	return nil
}
