// Package postgres is the shared mail store: the index and the message
// bytes in PostgreSQL (github.com/jackc/pgx/v5), so that several youju
// nodes serve the same mail with nothing but PostgreSQL between them.
//
// It has the semantics of the SQLite backend (internal/store/sqlite, the
// reference): UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ per mailbox, a MODSEQ
// per change, tombstones for QRESYNC, retained expunged messages, quota
// from the mailboxes' sizes, every query scoped by account. What differs:
//
//   - Durability is PostgreSQL's commit (synchronous_commit=on): a call
//     returns only after its transaction is committed.
//   - UIDs are assigned under the mailbox row's lock (SELECT ... FOR
//     UPDATE), so nodes writing the same mailbox never give a UID twice.
//     Rows are locked in one order (accounts, then mailboxes by id), and a
//     deadlock or serialisation failure is retried.
//   - Deliveries and APPENDs are batched (deliver.go): concurrent requests
//     share one transaction, so that they share its commit's WAL flush
//     and the mailbox lock is taken once per batch, not once per message.
//   - Message bytes are chunk rows (internal/blob/pgblobs, through the
//     store.Blobs seam, blob.go) written in the delivery's transaction; a
//     reader fetches only the chunks a range needs. Or they are in an
//     external store.Blobs (files, S3: extblobs.go).
//   - Change events go to the local notify hub after commit and to the
//     other nodes through NOTIFY (notify.go).
//
// Big mailboxes' index rows are cached (flagcache.go), checked against
// the mailbox row at every use, so that no node needs to tell another.
package postgres

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/youju/youju/internal/blob/pgblobs"
	"github.com/youju/youju/internal/notify"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/textterms"
)

// Options configure the store. Zero values are defaults.
type Options struct {
	Logger *slog.Logger
	// MaxMessageSize rejects larger messages with store.ErrTooLarge
	// (0 = no limit).
	MaxMessageSize int64
	// Notifier receives mailbox events, local ones after commit and those
	// of other nodes from LISTEN (nil = a new notify.Hub).
	Notifier store.Notifier
	// Schema, when set, is the PostgreSQL schema that holds the tables
	// (created if missing); the default is the DSN's search_path. Tests
	// use one schema each. The NOTIFY channel is per schema.
	Schema string
	// MaxConns bounds the connection pool (0 = 32).
	MaxConns int32
	// ExpungeRetention is how long expunged messages stay readable to
	// IMAP sessions not yet told (0 = DefaultExpungeRetention).
	ExpungeRetention time.Duration
	// Blobs, when set, keeps new message bytes outside the database
	// (files, S3; see extblobs.go); nil keeps them as chunk rows in the
	// database (pgblobs on the store's pool, blob.go), written in the
	// same transaction as the index. Either way, blobs stored the other
	// way before stay readable.
	Blobs store.Blobs
	// CacheMessages bounds the rows of the flag cache (flagcache.go):
	// 0 = DefaultCacheMessages, negative = no cache.
	CacheMessages int
	// NoTextIndexer: this node does not feed the text index (other
	// nodes do; SEARCH scans what is not indexed yet).
	NoTextIndexer bool
	// cacheMin overrides the cacheMin const (tests cache every mailbox).
	cacheMin int64
	// textPoll and textRescan override the indexer's consts (tests).
	textPoll, textRescan time.Duration
	// afterSelectRow runs between SelectMailbox's row and its state
	// (tests: a delivery in between).
	afterSelectRow func()
}

// Store is the PostgreSQL mail store. It implements store.Store.
type Store struct {
	pool    *pgxpool.Pool
	opts    Options
	log     *slog.Logger
	note    *notifier
	node    string // this instance's id, to skip our own NOTIFYs
	channel string // the NOTIFY channel
	dsn     string

	batcher *batcher
	cache   *flagCache   // nil: off
	chunks  txBlobs      // the bytes in the database (blob.go)
	pending pendingGroup // blob_pending rows being written (pending.go)

	vocab    textterms.Vocab // the text index's words (textindex.go)
	textKick chan struct{}
	textWork textWork // what the indexer looks at next (textindexer.go)

	closeOnce sync.Once
	closing   chan struct{}
	wg        sync.WaitGroup
}

var (
	_ store.Store          = (*Store)(nil)
	_ store.KeywordLister  = (*Store)(nil)
	_ store.SelectStater   = (*Store)(nil)
	_ store.KnownAddresses = (*Store)(nil)
)

// Channel is the NOTIFY channel of the default schema.
const Channel = "youju_changes"

// Open connects to the database of dsn, migrates its schema (under an
// advisory lock: several nodes may start at once), registers this node,
// drops the retained messages if no other node is alive, and starts the
// listener, the batcher and the purger.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	inner := opts.Notifier
	if inner == nil {
		inner = new(notify.Hub)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg.MaxConns = opts.MaxConns
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 32
	}
	// Never acknowledge what is not flushed (the server default, made
	// certain here whatever the role or database says).
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	// Listings and searches read a mailbox in UID order, a chunk at a
	// time (ORDER BY uid LIMIT n). When the planner thinks the mailbox
	// small (a generic plan, or statistics that do not know this mailbox
	// is big) it prefers a bitmap scan of the whole range and a sort to
	// the ordered index scan, and every chunk then reads the mailbox to
	// its end: a 100k listing went from 0.1 s to 3 s. No query of this
	// store needs a bitmap scan.
	cfg.ConnConfig.RuntimeParams["enable_bitmapscan"] = "off"
	channel := Channel
	if opts.Schema != "" {
		if !validIdent(opts.Schema) {
			return nil, fmt.Errorf("postgres: invalid schema name %q", opts.Schema)
		}
		cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
		channel = Channel + "_" + opts.Schema
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, opts: opts, log: log, node: newNodeID(), channel: channel, dsn: dsn,
		closing: make(chan struct{}), textKick: make(chan struct{}, 1)}
	s.note = newNotifier(inner)
	s.chunks = pgblobs.New(pool)
	if opts.CacheMessages >= 0 {
		s.cache = newFlagCache(cmp.Or(opts.CacheMessages, DefaultCacheMessages))
	}
	if err := s.start(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) start(ctx context.Context) error {
	if s.opts.Schema != "" {
		if _, err := s.pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+s.opts.Schema); err != nil && !isUnique(err) {
			return fmt.Errorf("postgres: schema: %w", err)
		}
	}
	if err := migrate(ctx, s.pool, s.opts.Schema); err != nil {
		return err
	}
	if err := s.registerNode(ctx); err != nil {
		return err
	}
	l, err := s.listen(ctx)
	if err != nil {
		return err
	}
	s.batcher = newBatcher(s)
	s.wg.Add(2)
	go s.listener(l)
	go s.purger()
	if s.opts.Blobs != nil {
		s.wg.Add(1)
		go s.sweeper()
	}
	if !s.opts.NoTextIndexer {
		s.wg.Add(1)
		go s.textIndexer()
	}
	return nil
}

// validIdent accepts the schema names Open puts into SQL unquoted.
func validIdent(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func newNodeID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Notifier implements store.Store.
func (s *Store) Notifier() store.Notifier { return s.note }

// Close stops the listener, the batcher (after the requests queued) and
// the purger, and closes the pool.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.batcher.stop()
		s.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.pool.Exec(ctx, `DELETE FROM nodes WHERE id=$1`, s.node)
		cancel()
		s.pool.Close()
	})
	return nil
}

// tx is a write transaction with the events to publish after its commit.
type tx struct {
	pgx.Tx
	ctx    context.Context
	events []store.Event
}

// event records a mailbox change to publish after commit.
func (t *tx) event(e store.Event) { t.events = append(t.events, e) }

// maxRetries bounds the retries of a transaction that hit a deadlock or a
// serialisation failure (two nodes, or two requests, locking in turn).
const maxRetries = 8

// write runs fn in a transaction, retried on a deadlock, commits it and
// then publishes its events. Once the transaction began, its commit is not
// cancelled with ctx: a caller must not believe a committed change failed.
func (s *Store) write(ctx context.Context, fn func(t *tx) error) error {
	select {
	case <-s.closing:
		return store.ErrClosed
	default:
	}
	for attempt := 0; ; attempt++ {
		events, err := s.writeOnce(ctx, fn)
		if err != nil && retryable(err) && attempt < maxRetries && ctx.Err() == nil {
			time.Sleep(time.Duration(attempt+1) * time.Millisecond)
			continue
		}
		if err == nil {
			s.publish(events)
		}
		return err
	}
}

func (s *Store) writeOnce(ctx context.Context, fn func(t *tx) error) ([]store.Event, error) {
	ptx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: begin: %w", err)
	}
	t := &tx{Tx: ptx, ctx: ctx}
	if err := fn(t); err != nil {
		ptx.Rollback(context.WithoutCancel(ctx))
		return nil, err
	}
	if err := s.notifyOthers(t); err != nil {
		ptx.Rollback(context.WithoutCancel(ctx))
		return nil, err
	}
	if err := ptx.Commit(context.WithoutCancel(ctx)); err != nil {
		return nil, fmt.Errorf("postgres: commit: %w", err)
	}
	return t.events, nil
}

// publish hands events to the local hub.
func (s *Store) publish(events []store.Event) {
	for _, e := range events {
		s.noteText(e)
		s.note.Publish(e)
	}
}

// retryable reports a deadlock or serialisation failure.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// isUnique reports a unique or primary key violation.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// isForeignKey reports a foreign key violation.
func isForeignKey(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

// notFound maps pgx.ErrNoRows to store.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// unixNano stores t as Unix nanoseconds, the zero time as 0.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// domainOf returns the lower-case domain of an address ("" if none).
func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(addr[i+1:])
}

// heartbeatEvery is how often a node says it is alive; a node silent for
// nodeDeadAfter is taken for dead.
const (
	heartbeatEvery = 10 * time.Second
	nodeDeadAfter  = 3 * heartbeatEvery
)

// registerNode records this node and, if no other node is alive, drops the
// retained messages: no IMAP session survives a restart of every node.
func (s *Store) registerNode(ctx context.Context) error {
	now := time.Now()
	return s.write(ctx, func(t *tx) error {
		// One start at a time decides whether it is alone.
		if _, err := t.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey("nodes:"+s.opts.Schema)); err != nil {
			return err
		}
		if _, err := t.Exec(ctx, `DELETE FROM nodes WHERE heartbeat < $1`, now.Add(-nodeDeadAfter).UnixNano()); err != nil {
			return err
		}
		var others bool
		if err := t.QueryRow(ctx, `SELECT EXISTS(SELECT 1 FROM nodes)`).Scan(&others); err != nil {
			return err
		}
		if _, err := t.Exec(ctx, `INSERT INTO nodes(id, heartbeat) VALUES($1, $2)`, s.node, now.UnixNano()); err != nil {
			return err
		}
		if others {
			return nil
		}
		return t.purgeRetained(1<<63 - 1)
	})
}
