package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/youju/youju/internal/blob"
	"github.com/youju/youju/internal/store"
)

// Every change goes through a two-stage pipeline:
//
//  1. writer collects the requests waiting (a batch) and appends their
//     message bytes to the blob log as a region (no fsync yet);
//  2. committer runs the batch's index changes in one SQLite transaction,
//     makes the batch durable, commits, then applies the changes to the
//     flag cache, publishes the events and acknowledges every request.
//
// One durable write per batch: a batch that only adds messages (Deliver,
// AppendMessages: the requests whose loss would lose mail) appends a
// record of its index rows to the log after its region (logrec.go) and
// fsyncs the log once, which covers the region and the record; its
// transaction then commits with synchronous=NORMAL (no WAL fsync), with
// the log position of the record in the same transaction. After a crash
// Open redoes the records the index lost. Any other batch fsyncs the log
// (if it wrote bytes) and commits with synchronous=FULL, as before; a
// FULL commit also makes the NORMAL commits before it durable (the WAL is
// sequential), so the index can only lose a suffix of adding batches,
// which is what makes replay exact. The index never gets ahead of the
// log, and nothing is acknowledged before its one fsync: never lose mail.
//
// While batch k is being committed, batch k+1 stays open and most of its
// bytes are written, so the page-cache copy of a batch overlaps the
// commit of the one before.

// op is one write request.
type op struct {
	ctx   context.Context
	datas [][]byte // messages' bytes to append first (none: nil)
	// atomic ops write nothing before they can fail: an error from fn is
	// an SQL failure that aborts the whole batch, so they need no
	// savepoint (deliveries: per-target failures are results, not errors).
	atomic bool
	fn     func(w *wtx) error
	err    chan error
	// received is told when the requester has its outcome (see the end
	// of commit; set before the outcome is sent).
	received *sync.WaitGroup
}

// wtx is what an op's fn sees: the batch transaction, the blob ref of its
// data, and the events and cache updates to apply if it commits.
type wtx struct {
	s      *Store
	tx     sqlRunner
	b      *batchTx // shared by the batch
	ctx    context.Context
	ref    blob.Ref   // of the op's first message
	refs   []blob.Ref // of each of the op's messages, in order
	events []store.Event
	cache  []func(*flagCache)
	dead   []uint32 // segments that may have become empty
	opErr  error    // the op's own error (its savepoint was rolled back)
}

// batchTx is the state of one batch's transaction shared by its requests.
// Deliveries queue their rows and the mailboxes they change; flush writes
// them (see deliver.go) before any other request runs and before commit.
type batchTx struct {
	d *deliveryState
	// logged: the batch only adds messages, flushDeliveries records its
	// rows in rec for the log (logrec.go).
	logged   bool
	recorded bool // rec is complete: no more rows may be queued
	rec      []byte
	blobs    []*blobRow
	msgs     []msgRow
	dirty    []*mboxState
	events   []store.Event // of flushed deliveries, published after commit
}

func newBatchTx(d *deliveryState) *batchTx {
	return &batchTx{d: d}
}

// flush writes what deliveries queued. Unless keep, it forgets the
// delivery state, so that what runs next reads the mailboxes from the
// database (the request about to run may change them).
func (w *wtx) flush(keep bool) error {
	if err := w.flushDeliveries(); err != nil {
		return err
	}
	if !keep || len(w.b.d.boxes) > maxKeptBoxes {
		w.b.d.reset()
	}
	return nil
}

// staged is a batch whose bytes are written (not yet synced).
type staged struct {
	ops     []*op
	ws      []*wtx
	errs    []error
	refs    []blob.Ref // pinned until the batch is committed
	regions []blob.Region
}

// stmt returns the prepared statement of q on the pinned write
// connection, or nil if q is not prepared yet (it will be after this
// batch) or the statements run in a *sql.Tx (at Open, before the writer
// pins the connection the statements belong to).
func (w *wtx) stmt(q string) *sql.Stmt {
	if _, pool := w.tx.(*sql.Tx); pool {
		return nil
	}
	st := w.s.stmts[q]
	if st == nil {
		w.s.miss[q] = true
	}
	return st
}

func (w *wtx) exec(q string, args ...any) (sql.Result, error) {
	if st := w.stmt(q); st != nil {
		return st.ExecContext(w.ctx, args...)
	}
	return w.tx.ExecContext(w.ctx, q, args...)
}

func (w *wtx) query(q string, args ...any) (*sql.Rows, error) {
	if st := w.stmt(q); st != nil {
		return st.QueryContext(w.ctx, args...)
	}
	return w.tx.QueryContext(w.ctx, q, args...)
}

func (w *wtx) queryRow(q string, args ...any) *sql.Row {
	if st := w.stmt(q); st != nil {
		return st.QueryRowContext(w.ctx, args...)
	}
	return w.tx.QueryRowContext(w.ctx, q, args...)
}

// event records a mailbox change to publish after commit.
func (w *wtx) event(e store.Event) { w.events = append(w.events, e) }

// maxStmts bounds the statement cache (the writer's queries are a small
// fixed set, plus a few shapes of UID-set conditions).
const maxStmts = 256

// prepareMissed prepares the statements the last batch ran unprepared;
// it runs between transactions, when the write connection is free.
func (s *Store) prepareMissed() {
	for q := range s.miss {
		delete(s.miss, q)
		if len(s.stmts) >= maxStmts {
			continue
		}
		st, err := s.wc.c.PrepareContext(context.Background(), q)
		if err != nil {
			continue
		}
		s.stmts[q] = st
	}
}

// do queues fn (with optional message data) and waits for the batch that
// contains it to be committed.
func (s *Store) do(ctx context.Context, data []byte, fn func(w *wtx) error) error {
	o := &op{ctx: ctx, fn: fn}
	if data != nil {
		o.datas = [][]byte{data}
	}
	return s.submit(o)
}

func (s *Store) submit(o *op) error {
	o.err = make(chan error, 1)
	select {
	case <-s.closing:
		return store.ErrClosed
	default:
	}
	select {
	case s.ops <- o:
	case <-s.closing:
		return store.ErrClosed
	case <-o.ctx.Done():
		return o.ctx.Err()
	}
	// Once queued, wait for the outcome even if ctx ends: the caller must
	// not believe a committed change failed, nor the reverse.
	return o.outcome()
}

// outcome waits for the request's outcome and tells the committer it was
// received (it waits for that before its next batch).
func (o *op) outcome() error {
	err := <-o.err
	o.received.Done()
	return err
}

// writer is stage 1: it batches requests and writes their bytes.
//
// The batch stays open while the committer is busy: requests that arrive
// meanwhile join it, and the committer takes it, whatever its size, as
// soon as it is free (it asks on want). So a request waits for the
// commit in progress and then its own (not also for a batch sealed ahead
// of it), batches are as large as the commit time allows, and an idle
// store commits a lone request at once: no timer anywhere. The bytes of
// the requests that join are written stageEarly requests at a time, so
// that most of the copy overlaps the commit in progress, and the rest
// when the committer asks: a write per arriving request cost more CPU
// than the larger batches saved when the store is not the bottleneck.
func (s *Store) writer() {
	out := make(chan *staged) // unbuffered: the committer takes the open batch when it is free
	want := make(chan struct{})
	go s.committer(want, out)
	defer close(out)
	var open *staged  // bytes written, not yet taken by the committer
	var pending []*op // joined the open batch, bytes not yet written
	for {
		ops, ready := s.ops, (<-chan struct{})(nil)
		if n := open.len() + len(pending); n > 0 {
			ready = want
			if n >= maxBatch {
				ops = nil // full: wait for the committer
			}
		}
		select {
		case o := <-ops:
			if open == nil && len(pending) == 0 {
				if h := s.holdBatch.Load(); h != nil {
					(*h)()
				}
			}
			pending = append(pending, s.fill(o, maxBatch-open.len()-len(pending))...)
			if len(pending) >= stageEarly {
				open, pending = open.join(s.stage(pending)), nil
			}
		case <-ready:
			if len(pending) > 0 {
				open, pending = open.join(s.stage(pending)), nil
			}
			out <- open
			open = nil
		case <-s.closing:
			// Commit what was queued before Close.
			if len(pending) > 0 {
				open = open.join(s.stage(pending))
			}
			if open != nil {
				out <- open
			}
			for {
				select {
				case o := <-s.ops:
					out <- s.stage([]*op{o})
				default:
					return
				}
			}
		}
	}
}

// stageEarly is how many requests that joined an open batch have their
// bytes written before the committer asks for it.
const stageEarly = 8

// fill takes o and the requests queued behind it, at most n in all.
func (s *Store) fill(o *op, n int) []*op {
	batch := []*op{o}
	for len(batch) < n {
		select {
		case o := <-s.ops:
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

// len is the number of requests of a batch (0 for none).
func (b *staged) len() int {
	if b == nil {
		return 0
	}
	return len(b.ops)
}

// join appends the staged requests of c to the open batch b (nil: none
// yet). A batch may so have several regions: its log record lists them
// all (logrec.go), and its one fsync covers them all.
func (b *staged) join(c *staged) *staged {
	if b == nil {
		return c
	}
	b.ops = append(b.ops, c.ops...)
	b.ws = append(b.ws, c.ws...)
	b.errs = append(b.errs, c.errs...)
	b.refs = append(b.refs, c.refs...)
	b.regions = append(b.regions, c.regions...)
	return b
}

// stage appends the batch's message bytes (synced by the commit).
func (s *Store) stage(batch []*op) *staged {
	b := &staged{ops: batch, ws: make([]*wtx, len(batch)), errs: make([]error, len(batch))}
	var datas [][]byte
	var withData []int
	for i, o := range batch {
		if err := o.ctx.Err(); err != nil {
			b.errs[i] = err
			continue
		}
		if len(o.datas) > 0 {
			datas = append(datas, o.datas...)
			withData = append(withData, i)
		}
	}
	if len(datas) == 0 {
		return b
	}
	refs, regions, err := s.blobs.AppendBatch(datas)
	j := 0
	for _, i := range withData {
		n := len(batch[i].datas)
		if err != nil {
			b.errs[i] = err
		} else {
			b.ws[i] = &wtx{ref: refs[j], refs: refs[j : j+n : j+n]}
		}
		j += n
	}
	b.refs, b.regions = refs, regions
	return b
}

// committer is stage 2: one transaction per batch, then acknowledgements.
func (s *Store) committer(want chan<- struct{}, in <-chan *staged) {
	defer close(s.done)
	defer s.wc.close() // before done: Close checkpoints through wdb
	d := newDeliveryState()
	for {
		// Ask for the open batch; at Close the writer sends what is
		// left without being asked, then closes in.
		var b *staged
		var ok bool
		select {
		case want <- struct{}{}:
			b, ok = <-in
		case b, ok = <-in:
		}
		if !ok {
			return
		}
		s.commit(b, d)
	}
}

func (s *Store) commit(b *staged, d *deliveryState) {
	s.batches.Add(1)
	s.batched.Add(int64(len(b.ops)))
	t0 := time.Now()
	var bt *batchTx
	err := s.stopped
	if err == nil {
		bt, err = s.runTx(b, d)
	}
	s.opts.Observer.commit(time.Since(t0), len(b.ops))
	s.blobs.Unpin(b.refs)
	if err != nil {
		// The outcome for cached state is unknown: start afresh.
		s.cache.reset()
		s.retainLost()
	}
	var dead []uint32
	for i := range b.ops {
		if err != nil && b.errs[i] == nil {
			b.errs[i] = err
		}
		if w := b.ws[i]; b.errs[i] == nil && w != nil {
			for _, f := range w.cache {
				s.cache.apply(f)
			}
			dead = append(dead, w.dead...)
		}
	}
	if bt != nil {
		s.applyMu.Unlock() // taken by runTx before its COMMIT
	}
	// Segments that died go before the acknowledgements, so that a
	// caller sees its expunge's space given back (rare: whole segments).
	if len(dead) > 0 {
		s.removeDeadSegments(dead)
	}
	if bt != nil {
		// Events go out before the acknowledgements: a caller that
		// returns from Deliver finds its event published.
		for _, e := range bt.events {
			s.note.Publish(e)
		}
	}
	s.acked.Add(len(b.ops))
	for i, o := range b.ops {
		if w := b.ws[i]; b.errs[i] == nil && w != nil {
			for _, e := range w.events {
				s.note.Publish(e)
			}
		}
		s.opts.Observer.request(b.errs[i] == nil)
		o.received = &s.acked
		o.err <- b.errs[i]
	}
	if len(s.miss) > 0 {
		s.prepareMissed()
	}
	// Wait until every requester has its outcome before taking the next
	// batch. A requester woken here is queued on this goroutine's P, and
	// the committer and the writer, which wake each other to hand over
	// the next batch, run ahead of it there (a woken goroutine goes first)
	// for the whole next commit: in an execution trace of the SMTP burst
	// an acknowledged connection waited 436 µs at the median to write its
	// 250. Blocked here, the committer lets them run first; requests that
	// arrive meanwhile join the next batch, which is taken larger.
	// bench/compare -only smtp, interleaved: DATA p50 3.05/3.02 -> 2.60/
	// 2.95 ms (medians of 5), server CPU 189/180 -> 162/178 µs a message.
	s.acked.Wait()
}

// runTx runs the batch's functions in one transaction, each (but atomic
// ones) in its own savepoint so that one failing request does not undo
// the others.
func (s *Store) runTx(b *staged, d *deliveryState) (*batchTx, error) {
	ctx := context.Background()
	logged := onlyAdds(b)
	if err := s.setSynchronous(ctx, !logged); err != nil {
		d.reset()
		return nil, err
	}
	if err := s.wc.Begin(ctx); err != nil {
		d.reset()
		return nil, fmt.Errorf("sqlite: begin: %w", err)
	}
	tx := s.wc.c
	bt := newBatchTx(d)
	bt.logged = logged
	fail := func(err error) (*batchTx, error) {
		s.wc.Rollback(ctx)
		d.reset() // it holds what was rolled back
		return nil, err
	}
	w0 := &wtx{s: s, tx: tx, b: bt, ctx: ctx}
	for i, o := range b.ops {
		if b.errs[i] != nil {
			continue
		}
		w := b.ws[i]
		if w == nil {
			w = &wtx{}
			b.ws[i] = w
		}
		w.s, w.tx, w.b, w.ctx = s, tx, bt, ctx
		if o.atomic {
			if err := o.fn(w); err != nil {
				return fail(err)
			}
			continue
		}
		if err := w0.flush(false); err != nil {
			return fail(err)
		}
		if err := s.runSavepoint(w, o); err != nil {
			return fail(err)
		}
		if b.errs[i] = w.opErr; b.errs[i] != nil {
			b.ws[i] = nil
		}
	}
	// An adding batch's rows are all queued now (its requests are
	// atomic: no flush ran yet): its record goes to the log and the
	// fsync runs while SQLite inserts the same rows.
	var durable func() (bool, error)
	if logged {
		durable = s.startDurable(w0, b)
	}
	if err := w0.flush(true); err != nil {
		if durable != nil {
			if recorded, _ := durable(); recorded {
				s.stop(err)
			}
		}
		return fail(err)
	}
	if durable == nil {
		durable = s.startDurable(w0, b)
	}
	recorded, err := durable()
	if err != nil {
		return fail(err)
	}
	s.applyMu.Lock() // released by commit once the cache is applied
	if err := s.wc.Commit(ctx); err != nil {
		s.wc.Rollback(ctx) // if SQLite kept the transaction open
		s.applyMu.Unlock()
		d.reset()
		if recorded {
			s.stop(err)
		}
		return nil, fmt.Errorf("sqlite: commit: %w", err)
	}
	s.dirty.Store(true)
	if !logged {
		s.fullCommits.Add(1)
	}
	return bt, nil
}

// onlyAdds reports whether every request of the batch adds messages (it
// carries message bytes): such a batch is made durable by its log record.
func onlyAdds(b *staged) bool {
	n := 0
	for i, o := range b.ops {
		if b.errs[i] != nil {
			continue
		}
		if len(o.datas) == 0 || !o.atomic {
			// (Atomic: the batch's rows are flushed once, after its
			// record is taken; see runTx.)
			return false
		}
		n++
	}
	return n > 0
}

// startDurable starts the batch's one durable write, before its COMMIT:
// the log record of an adding batch (the rows its deliveries queued) and
// one fsync of the log, which also covers the batch's blob bytes; the
// record's position goes into the index meanwhile (same transaction).
// The returned function waits for the fsync and reports whether a record
// was written:
// from then on a failure stops the store (the record may be durable and
// would be replayed over whatever the index did next).
func (s *Store) startDurable(w *wtx, b *staged) func() (bool, error) {
	if len(b.refs) == 0 {
		return func() (bool, error) { return false, nil }
	}
	t0 := time.Now()
	var pos blob.Pos
	recorded := false
	if bt := w.b; bt.logged {
		bt.recordChunk()
		bt.recorded = true
		if len(bt.rec) > 0 {
			var err error
			if pos, err = s.blobs.AppendRecord(b.regions, bt.rec); err != nil {
				return func() (bool, error) { return false, err }
			}
			recorded = true
		}
	}
	// The fsync runs while the rows are inserted (blob.StartSync: in the
	// kernel, through Linux AIO, where it can).
	wait := s.blobs.StartSync()
	var uerr error
	if recorded {
		// Same transaction: the position commits with the rows.
		_, uerr = w.exec(`UPDATE log_applied SET segment=?, off=? WHERE id=1`, pos.Segment, pos.Offset)
	}
	return func() (bool, error) {
		if err := wait(); err != nil {
			s.stop(err)
			return recorded, err
		}
		s.opts.Observer.blobSync(time.Since(t0))
		if uerr != nil {
			s.stop(uerr)
			return true, uerr
		}
		return recorded, nil
	}
}

// stop refuses every later write until the store is reopened (whose
// recovery replays the log); committer only.
func (s *Store) stop(err error) {
	if s.stopped == nil {
		s.stopped = fmt.Errorf("sqlite: writes stopped after a failure of the durable write (reopen the store to recover): %w", err)
		s.blobs.Fail(err)
		s.log.Error("store writes stopped", "err", err)
	}
}

// setSynchronous sets the write connection's synchronous pragma for the
// next commit: FULL (the commit fsyncs the WAL) or NORMAL (it does not;
// the log record made the batch durable). Only when it changes.
func (s *Store) setSynchronous(ctx context.Context, full bool) error {
	mode := syncNormal
	if full {
		mode = syncFull
	}
	if s.syncMode == mode {
		return nil
	}
	q := `PRAGMA synchronous=NORMAL`
	if full {
		q = `PRAGMA synchronous=FULL`
	}
	if _, err := s.wc.c.ExecContext(ctx, q); err != nil {
		s.syncMode = syncUnknown
		return fmt.Errorf("sqlite: %s: %w", q, err)
	}
	s.syncMode = mode
	return nil
}

// Values of Store.syncMode (syncUnknown: as openDB set it, FULL).
const (
	syncUnknown = iota
	syncFull
	syncNormal
)

// runSavepoint runs o.fn in a savepoint, leaving its error in w.opErr;
// the returned error is a failure of the transaction itself.
func (s *Store) runSavepoint(w *wtx, o *op) error {
	if _, err := w.exec(`SAVEPOINT op`); err != nil {
		return fmt.Errorf("sqlite: savepoint: %w", err)
	}
	if w.opErr = o.fn(w); w.opErr != nil {
		if _, err := w.exec(`ROLLBACK TO op`); err != nil {
			return fmt.Errorf("sqlite: rollback to savepoint: %w", err)
		}
	}
	if _, err := w.exec(`RELEASE op`); err != nil {
		return fmt.Errorf("sqlite: release savepoint: %w", err)
	}
	return nil
}
