package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/youju/youju/internal/store"
)

// Expunged messages are retained for a while (store.ListOptions.Retained),
// as in the SQLite backend: an IMAP session keeps a message in its view
// until it is told of the expunge (RFC 9051 §7.5.1, RFC 2180 §4.1).
// Expunge moves the index row into the retained table, which keeps the
// blob reference. Every node's purger drops the rows older than the
// retention period (whichever node gets there first; the others find
// nothing), and Open drops them all when no other node is alive.

// DefaultExpungeRetention is how long expunged messages stay readable to
// the sessions that have not been told (see the SQLite backend's).
const DefaultExpungeRetention = 5 * time.Minute

func (s *Store) retention() time.Duration {
	if s.opts.ExpungeRetention > 0 {
		return s.opts.ExpungeRetention
	}
	return DefaultExpungeRetention
}

// purgeRetained drops the rows retained before the given time (Unix ns),
// releases their blob references and deletes the blobs nobody holds.
func (t *tx) purgeRetained(before int64) error {
	if _, err := t.Exec(t.ctx, `WITH gone AS (DELETE FROM retained WHERE expunged < $1 RETURNING blob_id)
		UPDATE blobs SET refcount = refcount - g.n
		FROM (SELECT blob_id, COUNT(*) AS n FROM gone GROUP BY blob_id) AS g WHERE blobs.id = g.blob_id`, before); err != nil {
		return err
	}
	return t.sweepBlobs()
}

// purger drops retained messages once their retention has passed, and
// beats this node's heartbeat.
func (s *Store) purger() {
	defer s.wg.Done()
	every := min(max(s.retention()/4, 10*time.Millisecond), heartbeatEvery)
	tick := time.NewTicker(every)
	defer tick.Stop()
	var lastBeat time.Time
	for {
		select {
		case <-s.closing:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if time.Since(lastBeat) >= heartbeatEvery/2 {
			if _, err := s.pool.Exec(ctx, `INSERT INTO nodes(id, heartbeat) VALUES($1, $2)
				ON CONFLICT(id) DO UPDATE SET heartbeat=excluded.heartbeat`, s.node, time.Now().UnixNano()); err != nil {
				s.log.Warn("node heartbeat", "err", err)
			} else {
				lastBeat = time.Now()
			}
		}
		var some bool
		before := time.Now().Add(-s.retention()).UnixNano()
		err := s.pool.QueryRow(ctx, `SELECT EXISTS(SELECT 1 FROM retained WHERE expunged < $1)`, before).Scan(&some)
		if err == nil && some {
			err = s.write(ctx, func(t *tx) error { return t.purgeRetained(before) })
		}
		cancel()
		if err != nil && !errors.Is(err, store.ErrClosed) {
			s.log.Warn("purging retained messages", "err", err)
		}
	}
}
