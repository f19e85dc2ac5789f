// Package sqlite is the embedded mail store: the index in SQLite
// (modernc.org/sqlite, pure Go, WAL, synchronous=FULL) and the message bytes
// in packed blob segments (internal/blob).
//
// All writes are batched (group commit, see writer.go): the bytes of a
// batch are appended to the blob log, every index change of the batch
// runs in one SQLite transaction, a batch that only adds messages appends
// a record of its index rows to the log, one fsync makes the batch
// durable, the transaction commits, then the notify events are published
// and every caller acknowledged. Nothing is acknowledged before it is on
// stable storage. WAL checkpoints run on their own connection, off the
// commit path.
//
// Reads use a pool of read-only connections and never wait for the writer
// (WAL). Listing flags and searching flags, sizes and dates are served by
// a per-mailbox in-memory cache that the writer keeps current (cache.go);
// SQLite stays the source of truth.
//
// After a crash, Open redoes the index changes of the log records the
// index lost (logrec.go), cuts blob segments back to what the index and
// the log need and removes segments nothing references.
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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

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
	// ExpungeRetention is how long expunged messages stay readable to
	// IMAP sessions not yet told (0 = DefaultExpungeRetention; retain.go).
	ExpungeRetention time.Duration
	// Observer receives group-commit figures for metrics (metrics.go).
	Observer Observer
}

// Store is the SQLite mail store. It implements store.Store.
type Store struct {
	dir   string
	lock  *os.File
	opts  Options
	log   *slog.Logger
	wdb   *sql.DB // the one write connection, used only by the writer
	wc    *wconn  // wdb's connection, pinned while the writer runs (wconn.go)
	cdb   *sql.DB // the checkpointer's connection
	dirty atomic.Bool
	rdb   *sql.DB    // read-only pool
	rq    *stmtCache // prepared hot point reads on rdb
	blobs *blob.Store
	note  store.Notifier
	cache *flagCache
	bg    background // cache loads started by SelectState
	// applyMu is held by the committer from its COMMIT until the flag
	// cache has the batch applied; Changes passes through it after its
	// read, so that what a session learns from Changes (SQLite) is
	// already in the cache its next FETCH or SEARCH reads (else a FETCH
	// could miss a message just announced by EXISTS, or show an older
	// MODSEQ than the one just reported).
	applyMu sync.RWMutex

	// retainN counts the retained messages per mailbox (retain.go);
	// retainUnknown is set when a failed commit left them unknown.
	retainMu      sync.Mutex
	retainN       map[store.MailboxID]int
	retainUnknown bool

	// stopped, syncMode and acked belong to the committer (writer.go).
	stopped  error
	syncMode int
	acked    sync.WaitGroup // requesters of the last batch not yet woken

	// stmts are the writer's prepared statements, by query text; only
	// the writer goroutine touches them.
	stmts map[string]*sql.Stmt
	miss  map[string]bool

	// Group-commit statistics: batches committed and requests in them,
	// and commits with synchronous=FULL (a WAL fsync each).
	batches, batched, fullCommits atomic.Int64
	// holdBatch, when set (tests), runs in the writer after the first
	// request of a batch is taken and before the batch is filled, so a
	// test can make requests queue up and group commit certain.
	holdBatch atomic.Pointer[func()]

	ops       chan *op
	closeOnce sync.Once
	closing   chan struct{}
	done      chan struct{}
	idxDone   chan struct{} // closed when textIndexer has returned

	// The text index of SEARCH: its own file (textdb.go), nil while a
	// damaged one is replaced; textKick asks the indexer to look for work.
	textMu   sync.RWMutex
	text     *textDB
	textKick atomic.Bool
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
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s := &Store{
		lock: lock,
		dir:  dir, opts: opts, log: log, note: note,
		cache:   newFlagCache(cacheLimit(opts.CacheMessages)),
		retainN: map[store.MailboxID]int{},
		stmts:   map[string]*sql.Stmt{},
		miss:    map[string]bool{},
		ops:     make(chan *op, maxBatch),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		idxDone: make(chan struct{}),
	}
	s.bg.init()
	s, err = s.open(ctx, filepath.Join(dir, "index.db"))
	if err != nil {
		lock.Close()
		return nil, err
	}
	return s, nil
}

// lockDir takes an exclusive lock on the store directory: two processes
// appending to the same blob segments would corrupt them. The kernel
// drops the lock when the process dies.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("sqlite: store %s is in use by another process: %w", dir, err)
	}
	return f, nil
}

func (s *Store) open(ctx context.Context, path string) (*Store, error) {
	var err error
	opts, log := s.opts, s.log
	if s.wdb, err = openDB(path, dbWriter, 1); err != nil {
		return nil, err
	}
	if err := migrate(ctx, s.wdb); err != nil {
		s.wdb.Close()
		return nil, err
	}
	if s.rdb, err = openDB(path, dbReader, max(4, 2*runtime.GOMAXPROCS(0))); err != nil {
		s.wdb.Close()
		return nil, err
	}
	s.rq = newStmtCache(s.rdb)
	if s.cdb, err = openDB(path, dbCheckpointer, 1); err != nil {
		s.closeDBs()
		return nil, err
	}
	if s.blobs, err = blob.Open(filepath.Join(s.dir, "blobs"), blob.Options{SegmentSize: opts.SegmentSize, Logger: log}); err != nil {
		s.closeDBs()
		return nil, err
	}
	if err := s.recoverBlobs(ctx); err != nil {
		s.blobs.Close()
		s.closeDBs()
		return nil, err
	}
	// No session survives a restart: nothing needs the retained
	// messages any more. (After recovery, which keeps their bytes as
	// committed data; the purge then frees them as the purger would.)
	if err := s.purgeAllRetained(ctx); err != nil {
		s.blobs.Close()
		s.closeDBs()
		return nil, fmt.Errorf("sqlite: purging retained messages: %w", err)
	}
	if s.text, err = openTextDB(ctx, s.dir); err != nil {
		s.blobs.Close()
		s.closeDBs()
		return nil, err
	}
	if s.wc, err = pinWriteConn(ctx, s.wdb); err != nil {
		s.text.close()
		s.blobs.Close()
		s.closeDBs()
		return nil, err
	}
	go s.writer()
	go s.checkpointer()
	go s.purger()
	if runTextIndexer {
		go s.textIndexer()
	} else {
		close(s.idxDone)
	}
	return s, nil
}

// Kinds of connection.
const (
	dbWriter = iota
	dbReader
	dbCheckpointer
)

// readMmapSize is the mmap_size of read-only connections.
const readMmapSize = 1 << 30

// uriPath escapes the characters that end or escape the path of an SQLite
// URI filename (https://sqlite.org/uri.html §3.1: "?" starts the query,
// "#" the fragment, "%HH" is decoded): a data directory such as
// "/srv/mail#2" must not open "/srv/mail".
var uriPath = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

func openDB(path string, kind int, conns int) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	// FULL: in WAL mode every commit fsyncs the WAL, so a commit is
	// durable when it returns; group commit makes that one fsync a batch.
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "cache_size(-16000)")
	switch kind {
	case dbReader:
		q.Add("_pragma", "query_only(1)")
		// A listing with Info reads the Info of every message once, more
		// than the page cache holds for a big mailbox; through the map each
		// page is read in place instead of copied by a read system call
		// (about half the time of FETCH 1:* (ENVELOPE) of 100,000
		// messages). Only the main database file is mapped.
		q.Add("_pragma", fmt.Sprintf("mmap_size(%d)", readMmapSize))
	case dbWriter:
		q.Set("_txlock", "immediate")
		// The checkpointer copies the WAL into the database off the
		// commit path; this is only a safety net (about 80 MB of WAL).
		q.Add("_pragma", "wal_autocheckpoint(20000)")
	}
	db, err := sql.Open("sqlite", "file:"+uriPath.Replace(path)+"?"+q.Encode())
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
	if s.rq != nil {
		s.rq.close()
	}
	if s.cdb != nil {
		s.cdb.Close()
	}
	if s.rdb != nil {
		s.rdb.Close()
	}
	if s.wdb != nil {
		s.wdb.Close()
	}
}

// recoverBlobs redoes what the index lost from the log, then makes the
// blob files agree with the committed index.
func (s *Store) recoverBlobs(ctx context.Context) error {
	scan, pos, err := s.replayLog(ctx)
	if err != nil {
		return err
	}
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
	rep, err := s.blobs.Recover(logKeep(ends, scan, pos), pos.Segment)
	if err != nil {
		return err
	}
	if len(rep.Truncated) > 0 || len(rep.Removed) > 0 {
		s.log.Warn("blob recovery cleaned uncommitted data", "truncated", rep.Truncated, "removed_segments", rep.Removed)
	}
	return nil
}

// checkpointInterval is how often the WAL is copied into the database
// when there were commits.
const checkpointInterval = 100 * time.Millisecond

// checkpointer runs passive WAL checkpoints on its own connection, so that
// commits (and the deliveries waiting on them) never pay for them.
func (s *Store) checkpointer() {
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-s.closing:
			return
		case <-t.C:
		}
		if !s.dirty.Swap(false) {
			continue
		}
		if _, err := s.cdb.Exec(`PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
			s.log.Warn("wal checkpoint", "err", err)
		}
	}
}

// Notifier implements store.Store.
func (s *Store) Notifier() store.Notifier { return s.note }

// Close stops the writer after the requests already queued, checkpoints the
// WAL and closes the files.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.bg.stop()
		close(s.closing)
		<-s.done
		<-s.idxDone
		s.textIdx().close()
		if _, err := s.wdb.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			s.log.Warn("wal checkpoint at close", "err", err)
		}
		s.blobs.Close()
		s.closeDBs()
		s.lock.Close()
	})
	return nil
}

// wq is where the write side's own statements run: the connection the
// writer pinned, or the pool before it starts (Open).
func (s *Store) wq() sqlRunner {
	if s.wc != nil {
		return s.wc.c
	}
	return s.wdb
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
		if err := s.wq().QueryRowContext(context.Background(), `SELECT EXISTS(SELECT 1 FROM blobs WHERE segment=?)`, seg).Scan(&n); err != nil || n != 0 {
			s.log.Debug("segment kept", "segment", seg, "n", n, "err", err)
			continue
		}
		if ok, err := s.blobs.Remove(seg); err != nil {
			s.log.Warn("removing dead blob segment", "segment", seg, "err", err)
		} else if ok {
			s.log.Info("removed dead blob segment", "segment", seg)
		}
	}
}

// notFound maps sql.ErrNoRows to store.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}
