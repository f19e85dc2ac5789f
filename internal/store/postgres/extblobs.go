package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/store"
)

// External blobs (Options.Blobs: files or S3). The order of writes is
// what keeps mail safe:
//
//  1. Put the bytes in the blob store (durable when Put returns), in the
//     delivering goroutine, so that concurrent deliveries upload at once;
//  2. commit the index in the batch transaction, the blobs row naming
//     the external id (blobs.ext) — only then is the mail acknowledged;
//  3. when the last reference goes, whatever deletes the blobs row, the
//     trigger of the schema queues ext in blob_trash in the same
//     transaction, and the sweeper deletes the object later, after
//     checking that no blobs row names it.
//
// A delivery whose transaction failed queues its objects in blob_trash
// itself. A crash between 1 and 2 leaves an object no blobs row names
// (never a row naming a missing object): before 1, the object's id is
// committed in blob_pending (store.NamedBlobs lets us choose it before
// the upload; for another store.Blobs the row follows the Put, leaving a
// window of one INSERT). The sweeper forgets pending rows whose object a
// blobs row names, and sends to blob_trash those older than pendingAge,
// whose delivery crashed. No listing of the bucket is needed.

// extTimeout bounds the index work of one sweep.
const extTimeout = time.Minute

// sweepEvery is how often the sweeper looks at blob_trash, and
// sweepBatch how many objects it deletes per transaction.
const (
	sweepEvery = 5 * time.Second
	sweepBatch = 100
)

// pendingAge is how old a blob_pending row is before its object, if no
// blobs row names it, is taken for the leftover of a crash: far above
// the time a delivery's index transaction takes.
// Rows written by several nodes age by one clock, the database's (dbNow).
const pendingAge = time.Hour

// testAfterPut, if set by a test, runs after the objects are stored and
// before the index is written; an error stands for a crash there (the
// objects stay, pending, as a killed process leaves them).
var testAfterPut func() error

// putExt stores the bytes of blobs in the external store, in order,
// recording their ids in blob_pending first (with those of concurrent
// deliveries: pending.go). On failure the ones already stored are queued
// for deletion.
func (s *Store) putExt(ctx context.Context, blobs []*pblob) error {
	if s.opts.Blobs == nil || len(blobs) == 0 {
		return nil
	}
	nb, named := s.opts.Blobs.(store.NamedBlobs)
	if named {
		for _, b := range blobs {
			b.ext = nb.NewID()
		}
		if err := s.addPending(extIDs(blobs)); err != nil {
			return err
		}
	}
	for i, b := range blobs {
		var err error
		if named {
			err = nb.PutID(ctx, b.ext, bytes.NewReader(b.data), int64(len(b.data)))
		} else {
			b.ext, err = s.opts.Blobs.Put(ctx, bytes.NewReader(b.data), int64(len(b.data)))
		}
		if err != nil {
			// With ids chosen first, the failed Put may have stored its
			// object all the same: queue it too.
			s.dropExt(blobs[:i+1])
			return fmt.Errorf("postgres: storing message bytes: %w", err)
		}
	}
	if !named {
		if err := s.addPending(extIDs(blobs)); err != nil {
			s.dropExt(blobs)
			return err
		}
	}
	if testAfterPut != nil {
		return testAfterPut()
	}
	return nil
}

// extIDs returns the external ids of blobs.
func extIDs(blobs []*pblob) []string {
	ids := make([]string, len(blobs))
	for i, b := range blobs {
		ids[i] = b.ext
	}
	return ids
}

// dropExt queues the external objects of a delivery that was not stored
// for the sweeper (which deletes only those no blobs row names: a commit
// whose answer was lost may have stored them after all).
func (s *Store) dropExt(blobs []*pblob) {
	var ids []string
	for _, b := range blobs {
		if b.ext != "" {
			ids = append(ids, b.ext)
		}
	}
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), extTimeout)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `INSERT INTO blob_trash(ext, added) SELECT unnest($1::text[]), $2
		ON CONFLICT DO NOTHING`, ids, time.Now().UnixNano()); err != nil {
		// The objects stay, unnamed: space lost, never mail.
		s.log.Warn("queueing unused blobs for deletion", "err", err, "blobs", len(ids))
	}
}

// openExt opens a blob of the external store.
func (s *Store) openExt(ctx context.Context, ext string, size int64) (store.MessageReader, error) {
	if s.opts.Blobs == nil {
		return nil, fmt.Errorf("postgres: message bytes are in an external blob store (%q) but none is configured ([blobs] backend)", ext)
	}
	return s.opts.Blobs.Open(ctx, ext, size)
}

// sweeper deletes the external objects of deleted blobs.
func (s *Store) sweeper() {
	defer s.wg.Done()
	tick := time.NewTicker(sweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-s.closing:
			return
		case <-tick.C:
		}
		for {
			n, err := s.SweepBlobs(context.Background())
			if err != nil {
				s.log.Warn("deleting unused blobs", "err", err)
			}
			if err != nil || n < sweepBatch {
				break
			}
		}
	}
}

// SweepBlobs deletes up to sweepBatch objects queued in blob_trash that
// no blobs row names, and returns how many it deleted. Several nodes may
// sweep at once: each takes rows the others have not locked.
func (s *Store) SweepBlobs(ctx context.Context) (int, error) {
	if s.opts.Blobs == nil {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, extTimeout)
	defer cancel()
	n := 0
	var errs []error
	err := pgx.BeginFunc(ctx, s.pool, func(t pgx.Tx) error {
		// Pending objects a blobs row names were committed: forget them;
		// those pendingAge old that none names were left by a crash
		// between Put and commit: they are garbage.
		if _, err := t.Exec(ctx, `DELETE FROM blob_pending p WHERE EXISTS (SELECT 1 FROM blobs b WHERE b.ext = p.ext)`); err != nil {
			return err
		}
		if _, err := t.Exec(ctx, `WITH old AS (DELETE FROM blob_pending WHERE added < `+dbNow+` - $1 RETURNING ext, added)
			INSERT INTO blob_trash(ext, added) SELECT ext, added FROM old ON CONFLICT DO NOTHING`, pendingAge.Nanoseconds()); err != nil {
			return err
		}
		// A trash row naming a live blob (a commit whose answer was lost)
		// is not garbage: forget it.
		if _, err := t.Exec(ctx, `DELETE FROM blob_trash t WHERE EXISTS (SELECT 1 FROM blobs b WHERE b.ext = t.ext)`); err != nil {
			return err
		}
		rows, err := t.Query(ctx, `SELECT ext FROM blob_trash ORDER BY added LIMIT $1 FOR UPDATE SKIP LOCKED`, sweepBatch)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		var done []string
		for _, id := range ids {
			if err := s.opts.Blobs.Delete(ctx, id); err != nil {
				errs = append(errs, err)
				continue
			}
			done = append(done, id)
		}
		if _, err := t.Exec(ctx, `DELETE FROM blob_trash WHERE ext = ANY($1)`, done); err != nil {
			return err
		}
		n = len(done)
		return nil
	})
	if err != nil {
		// Rolled back: the rows stay and are tried again (deleting a
		// missing object is not an error).
		return 0, err
	}
	// Objects that failed stay queued for the next sweep.
	return n, errors.Join(errs...)
}
