// Package sqlite is the embedded mail store: the index in SQLite
// (modernc.org/sqlite, pure Go, WAL, synchronous=FULL) and the message bytes
// in packed blob segments (internal/blob).
//
// All writes go through one writer goroutine that batches concurrent
// requests (group commit): it appends the batch's message bytes and fsyncs
// once, then commits every index change of the batch in one SQLite
// transaction (one more fsync), then acknowledges every caller and
// publishes the notify events. Reads use a pool of read-only connections
// and never wait for the writer (WAL).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/youju/youju/internal/blob"
	"github.com/youju/youju/internal/notify"
	"github.com/youju/youju/internal/store"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Options configure the store. Zero values are defaults.
type Options struct {
	Logger *slog.Logger
	// MaxMessageSize rejects larger deliveries with store.ErrTooLarge
	// (0 = no limit).
	MaxMessageSize int64
	// Notifier receives mailbox events after commit (nil = a new notify.Hub).
	Notifier store.Notifier
	// SegmentSize is the blob segment size (0 = blob.DefaultSegmentSize).
	SegmentSize int64
	// CacheMessages bounds the in-memory flag cache, in messages
	// (0 = about a million, negative = no cache).
	CacheMessages int
}

// Store is the SQLite mail store. It implements store.Store.
type Store struct {
	dir   string
	opts  Options
	log   *slog.Logger
	wdb   *sql.DB // the one write connection, used only by the writer
	rdb   *sql.DB // read-only pool
	blobs *blob.Store
	note  store.Notifier
	cache *flagCache

	// stmts are the writer's prepared statements, by query text; only
	// the writer goroutine touches them.
	stmts map[string]*sql.Stmt
	miss  map[string]bool

	// Group-commit statistics: batches committed and requests in them.
	batches, batched atomic.Int64

	ops       chan *op
	closeOnce sync.Once
	closing   chan struct{}
	done      chan struct{}
}

var _ store.Store = (*Store)(nil)

// maxBatch bounds how many requests one group commit takes.
const maxBatch = 512

// Open opens or creates the store in dir (index.db and blobs/), recovers
// from a crash (cuts blob tails the index does not reference, removes
// orphan segments) and starts the writer.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	note := opts.Notifier
	if note == nil {
		note = new(notify.Hub)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	s := &Store{
		dir: dir, opts: opts, log: log, note: note,
		cache:   newFlagCache(cacheLimit(opts.CacheMessages)),
		stmts:   map[string]*sql.Stmt{},
		miss:    map[string]bool{},
		ops:     make(chan *op, maxBatch),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	var err error
	path := filepath.Join(dir, "index.db")
	if s.wdb, err = openDB(path, false, 1); err != nil {
		return nil, err
	}
	if err := migrate(ctx, s.wdb); err != nil {
		s.wdb.Close()
		return nil, err
	}
	if s.rdb, err = openDB(path, true, max(4, 2*runtime.GOMAXPROCS(0))); err != nil {
		s.wdb.Close()
		return nil, err
	}
	if s.blobs, err = blob.Open(filepath.Join(dir, "blobs"), blob.Options{SegmentSize: opts.SegmentSize, Logger: log}); err != nil {
		s.closeDBs()
		return nil, err
	}
	if err := s.recoverBlobs(ctx); err != nil {
		s.blobs.Close()
		s.closeDBs()
		return nil, err
	}
	go s.writer()
	return s, nil
}

func openDB(path string, readOnly bool, conns int) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	// FULL: in WAL mode every commit fsyncs the WAL, so a commit is
	// durable when it returns; group commit makes that one fsync a batch.
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "cache_size(-16000)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate")
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	return db, nil
}

func (s *Store) closeDBs() {
	if s.rdb != nil {
		s.rdb.Close()
	}
	if s.wdb != nil {
		s.wdb.Close()
	}
}

// recoverBlobs makes the blob files agree with the committed index.
func (s *Store) recoverBlobs(ctx context.Context) error {
	rows, err := s.wdb.QueryContext(ctx, `SELECT segment, MAX(off+length) FROM blobs GROUP BY segment`)
	if err != nil {
		return fmt.Errorf("sqlite: recover: %w", err)
	}
	ends := map[uint32]int64{}
	for rows.Next() {
		var seg uint32
		var end int64
		if err := rows.Scan(&seg, &end); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: recover: %w", err)
		}
		ends[seg] = end
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: recover: %w", err)
	}
	rep, err := s.blobs.Recover(ends)
	if err != nil {
		return err
	}
	if len(rep.Truncated) > 0 || len(rep.Removed) > 0 {
		s.log.Warn("blob recovery cleaned uncommitted data", "truncated", rep.Truncated, "removed_segments", rep.Removed)
	}
	return nil
}

// Notifier implements store.Store.
func (s *Store) Notifier() store.Notifier { return s.note }

// Close stops the writer after the requests already queued, checkpoints the
// WAL and closes the files.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.done
		if _, err := s.wdb.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			s.log.Warn("wal checkpoint at close", "err", err)
		}
		s.blobs.Close()
		s.closeDBs()
	})
	return nil
}

// op is one write request handled by the writer goroutine.
type op struct {
	ctx  context.Context
	data []byte // message bytes to append first (nil for none)
	fn   func(w *wtx) error
	err  chan error
}

// wtx is what an op's fn sees: the batch transaction, the blob ref of its
// data, and the events and cache updates to apply if it commits.
type wtx struct {
	s      *Store
	tx     *sql.Tx
	txs    map[string]*sql.Stmt // statements bound to tx, shared by the batch
	ctx    context.Context
	ref    blob.Ref
	events []store.Event
	cache  []func(*flagCache)
	dead   []uint32 // segments that may have become empty
}

// stmt returns the prepared statement of q bound to the transaction, or
// nil if q is not prepared yet (it will be after this batch).
func (w *wtx) stmt(q string) *sql.Stmt {
	if st := w.txs[q]; st != nil {
		return st
	}
	st := w.s.stmts[q]
	if st == nil {
		w.s.miss[q] = true
		return nil
	}
	st = w.tx.StmtContext(w.ctx, st)
	w.txs[q] = st
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

// maxStmts bounds the statement cache (the writer's queries are a small
// fixed set, plus a few shapes of UID-set conditions).
const maxStmts = 256

// prepareMissed prepares the statements the last batch ran unprepared;
// it runs between batches, when the write connection is free.
func (s *Store) prepareMissed() {
	for q := range s.miss {
		delete(s.miss, q)
		if len(s.stmts) >= maxStmts {
			continue
		}
		st, err := s.wdb.Prepare(q)
		if err != nil {
			continue
		}
		s.stmts[q] = st
	}
}

// event records a mailbox change to publish after commit.
func (w *wtx) event(e store.Event) { w.events = append(w.events, e) }

// do queues fn (with optional message data) for the writer and waits for
// the batch that contains it to be committed.
func (s *Store) do(ctx context.Context, data []byte, fn func(w *wtx) error) error {
	o := &op{ctx: ctx, data: data, fn: fn, err: make(chan error, 1)}
	select {
	case <-s.closing:
		return store.ErrClosed
	default:
	}
	select {
	case s.ops <- o:
	case <-s.closing:
		return store.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, wait for the outcome even if ctx ends: the caller must
	// not believe a committed change failed, nor the reverse.
	return <-o.err
}

// writer is the single goroutine that commits every change.
func (s *Store) writer() {
	defer close(s.done)
	batch := make([]*op, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case o := <-s.ops:
			batch = append(batch, o)
		case <-s.closing:
			// Drain what was queued before Close.
			for {
				select {
				case o := <-s.ops:
					s.commit([]*op{o})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case o := <-s.ops:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

// commit runs one group commit: blobs, fsync, one transaction, acks.
func (s *Store) commit(batch []*op) {
	s.batches.Add(1)
	s.batched.Add(int64(len(batch)))
	errs := make([]error, len(batch))
	ws := make([]*wtx, len(batch))
	var datas [][]byte
	var withData []int
	for i, o := range batch {
		if err := o.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if o.data != nil {
			datas = append(datas, o.data)
			withData = append(withData, i)
		}
	}
	if len(datas) > 0 {
		refs, err := s.blobs.Append(datas)
		for j, i := range withData {
			if err != nil {
				errs[i] = err
			} else {
				ws[i] = &wtx{ref: refs[j]}
			}
		}
	}
	err := s.runTx(batch, ws, errs)
	var dead []uint32
	for i, o := range batch {
		if err != nil && errs[i] == nil {
			errs[i] = err
		}
		if errs[i] == nil && ws[i] != nil {
			for _, f := range ws[i].cache {
				s.cache.apply(f)
			}
			for _, e := range ws[i].events {
				s.note.Publish(e)
			}
			dead = append(dead, ws[i].dead...)
		}
		o.err <- errs[i]
	}
	if err != nil {
		// The outcome of the cached state is unknown: start afresh.
		s.cache.reset()
	}
	if len(dead) > 0 {
		s.removeDeadSegments(dead)
	}
	if len(s.miss) > 0 {
		s.prepareMissed()
	}
}

// runTx runs the batch's functions in one transaction, each in its own
// savepoint so that one failing request does not undo the others.
func (s *Store) runTx(batch []*op, ws []*wtx, errs []error) error {
	ctx := context.Background()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	txs := map[string]*sql.Stmt{}
	for i, o := range batch {
		if errs[i] != nil {
			continue
		}
		w := ws[i]
		if w == nil {
			w = &wtx{}
			ws[i] = w
		}
		w.s, w.tx, w.txs, w.ctx = s, tx, txs, ctx
		if _, err := w.exec(`SAVEPOINT op`); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: savepoint: %w", err)
		}
		if err := o.fn(w); err != nil {
			errs[i] = err
			if _, err := w.exec(`ROLLBACK TO op`); err != nil {
				tx.Rollback()
				return fmt.Errorf("sqlite: rollback to savepoint: %w", err)
			}
		}
		if _, err := w.exec(`RELEASE op`); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: release savepoint: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// removeDeadSegments deletes segments no blob row references any more.
func (s *Store) removeDeadSegments(segs []uint32) {
	seen := map[uint32]bool{}
	for _, seg := range segs {
		if seen[seg] || seg == s.blobs.Active() {
			continue
		}
		seen[seg] = true
		var n int
		if err := s.wdb.QueryRow(`SELECT EXISTS(SELECT 1 FROM blobs WHERE segment=?)`, seg).Scan(&n); err != nil || n != 0 {
			continue
		}
		if ok, err := s.blobs.Remove(seg); err != nil {
			s.log.Warn("removing dead blob segment", "segment", seg, "err", err)
		} else if ok {
			s.log.Info("removed dead blob segment", "segment", seg)
		}
	}
}

// isNoRows maps sql.ErrNoRows to store.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}
