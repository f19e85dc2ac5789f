package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/textterms"
)

// The text index lives in its own SQLite file, mail/text.db, beside
// index.db and apart from it: its own connections, WAL and checkpoints, no
// table, index or trigger in index.db, no code in the commit path. Delivery
// pays nothing for it; the indexer (textindexer.go) reads what the writer
// committed, after the fact, and writes text.db alone.
//
// text.db is derived data: it is rebuilt from index.db and the blobs when it
// is missing, damaged or of another version, and a crash loses at most its
// last transactions, which the indexer does again from its high-water marks.
// Its commits are therefore not fsynced (synchronous=NORMAL in WAL mode keeps
// the file consistent, not durable).

// textSchemaVersion is text.db's PRAGMA user_version; a file of another
// version is discarded and rebuilt (version 1 was FTS5 over trigrams).
const textSchemaVersion = 2

// textTables are text.db's tables, each checked at open.
var textTables = []string{"mbox", "runs", "big", "blk", "bigpost", "vocab"}

// textSchema is text.db's schema:
//   - mbox: per mailbox, the UIDVALIDITY seen, the high-water mark (every
//     message with a UID up to mark is indexed, or was expunged) and how
//     many messages were indexed (a sweep compares it with the live ones);
//   - blk, bigpost: the postings (textpost.go), by mailbox, field, tier,
//     and bucket or term. Rowid tables: a blob of a few hundred bytes
//     fits in a table's leaf page, where an index b-tree (WITHOUT ROWID)
//     would spill it to a mostly empty overflow page;
//   - runs: how many runs each tier of a mailbox holds (merges cascade),
//     and at tier -1 the last run number;
//   - big: messages whose text went beyond the bounds (or could not be
//     read), always candidates, never proved: the scan decides;
//   - vocab: the words, appended per batch (textvocab.go).
const textSchema = `CREATE TABLE mbox (id INTEGER PRIMARY KEY, uidvalidity INTEGER NOT NULL, mark INTEGER NOT NULL, docs INTEGER NOT NULL);
CREATE TABLE runs (mbox INTEGER NOT NULL, tier INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY(mbox, tier)) WITHOUT ROWID;
CREATE TABLE big (mbox INTEGER NOT NULL, uid INTEGER NOT NULL, PRIMARY KEY(mbox, uid)) WITHOUT ROWID;
CREATE TABLE blk (id INTEGER PRIMARY KEY, mbox INTEGER NOT NULL, field INTEGER NOT NULL, tier INTEGER NOT NULL, b INTEGER NOT NULL, run INTEGER NOT NULL, data BLOB NOT NULL);
CREATE UNIQUE INDEX blk_key ON blk(mbox, field, tier, b, run);
CREATE TABLE bigpost (id INTEGER PRIMARY KEY, mbox INTEGER NOT NULL, field INTEGER NOT NULL, tier INTEGER NOT NULL, term TEXT NOT NULL, run INTEGER NOT NULL, uids BLOB NOT NULL);
CREATE UNIQUE INDEX bigpost_key ON bigpost(mbox, field, tier, term, run);
CREATE TABLE vocab (seq INTEGER PRIMARY KEY, words BLOB NOT NULL);
PRAGMA user_version = 2;
`

// textDB is the open text.db. wmu serialises its writers (the indexer and
// RebuildTextIndex); readers go through the pool concurrently.
type textDB struct {
	path  string
	db    *sql.DB
	wmu   sync.Mutex
	vocab textterms.Vocab
}

// openTextDB opens text.db in dir, creating it, or discarding and
// recreating it when it cannot be used as it is (not a database, damaged,
// another version).
func openTextDB(ctx context.Context, dir string) (*textDB, error) {
	path := filepath.Join(dir, "text.db")
	t, err := tryOpenTextDB(ctx, path)
	if err == nil {
		return t, nil
	}
	if err := removeTextDB(path); err != nil {
		return nil, err
	}
	return tryOpenTextDB(ctx, path)
}

func removeTextDB(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sqlite: text index: %w", err)
		}
	}
	return nil
}

func tryOpenTextDB(ctx context.Context, path string) (*textDB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "cache_size(-8000)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+uriPath.Replace(path)+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	db.SetConnMaxLifetime(0)
	t := &textDB{path: path, db: db}
	if err := t.init(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: text index: %w", err)
	}
	return t, nil
}

// init creates the schema of an empty file and checks the version of one
// that is not.
func (t *textDB) init(ctx context.Context) error {
	var v, n int
	if err := t.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return err
	}
	if err := t.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&n); err != nil {
		return err
	}
	switch {
	case n == 0:
		_, err := t.db.ExecContext(ctx, textSchema)
		return err
	case v != textSchemaVersion:
		return fmt.Errorf("version %d, want %d", v, textSchemaVersion)
	}
	// A cheap sign of damage: every table answers.
	for _, tb := range textTables {
		if _, err := t.db.ExecContext(ctx, `SELECT 1 FROM `+tb+` LIMIT 1`); err != nil {
			return err
		}
	}
	return nil
}

func (t *textDB) close() error {
	if t == nil {
		return nil
	}
	t.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	return t.db.Close()
}

// write runs fn in one text.db transaction.
func (t *textDB) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// isCorrupt reports whether err says text.db is damaged (SQLITE_CORRUPT,
// SQLITE_NOTADB): then it is rebuilt.
func isCorrupt(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "malformed") || strings.Contains(s, "not a database") || strings.Contains(s, "SQLITE_CORRUPT")
}

// resetTextDB discards a damaged text.db and starts an empty one; the
// indexer then builds it again from index.db. Searches meanwhile see every
// message as a candidate.
func (s *Store) resetTextDB(ctx context.Context) error {
	s.textMu.Lock()
	defer s.textMu.Unlock()
	old := s.text
	s.text = nil
	if old != nil {
		old.db.Close()
		if err := removeTextDB(old.path); err != nil {
			return err
		}
	}
	t, err := openTextDB(ctx, s.dir)
	if err != nil {
		return err
	}
	s.text = t
	return nil
}

// textIdx returns the open text index, nil while it is being reset.
func (s *Store) textIdx() *textDB {
	s.textMu.RLock()
	defer s.textMu.RUnlock()
	return s.text
}

// TextIndexSize is text.db's size in bytes (main file and WAL), for
// reports and benchmarks.
func (s *Store) TextIndexSize() (int64, error) {
	t := s.textIdx()
	if t == nil {
		return 0, store.ErrClosed
	}
	var n int64
	for _, p := range []string{t.path, t.path + "-wal"} {
		fi, err := os.Stat(p)
		if err == nil {
			n += fi.Size()
		}
	}
	return n, nil
}

// writerWatch is how busy the writer is, as the indexer sees it: the
// writer's own count of group commits (nothing is added to the commit path
// for the indexer) sampled by the indexer's polls.
type writerWatch struct {
	last    int64     // commits at the last sample
	changed time.Time // when last changed
	winAt   time.Time // start of the current window
	winN    int64     // commits at its start
	prevN   int64     // commits in the previous full window
}

// textWindow is the window over which the writer's commits are counted.
const textWindow = 100 * time.Millisecond

// sample takes the writer's commit count at now.
func (w *writerWatch) sample(s *Store, now time.Time) {
	b := s.batches.Load()
	if b != w.last || len(s.ops) > 0 {
		w.last, w.changed = b, now
	}
	if now.Sub(w.winAt) >= textWindow {
		w.prevN, w.winN, w.winAt = b-w.winN, b, now
	}
}

// idleFor is how long the writer has committed nothing.
func (w *writerWatch) idleFor(s *Store, now time.Time) time.Duration {
	w.sample(s, now)
	return now.Sub(w.changed)
}

// light reports whether the writer is idle or nearly: no commit for
// textWriterIdle and at most textLightCommits in the last window (a
// server with a trickle of mail). Both, because on an overloaded machine
// even a busy writer can pause textWriterIdle between commits.
func (w *writerWatch) light(s *Store, now time.Time) bool {
	idle := w.idleFor(s, now)
	return idle >= textWriterIdle && w.prevN <= textLightCommits
}
