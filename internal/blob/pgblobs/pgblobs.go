// Package pgblobs keeps message bytes as chunk rows in PostgreSQL (the
// table blob_chunks): the "postgres" blob backend, with which a cluster
// needs nothing but PostgreSQL. It implements store.Blobs.
//
// The PostgreSQL index (internal/store/postgres) keeps its own messages'
// bytes here, on its own pool, and writes them in its delivery's
// transaction: QueuePut queues the rows on the caller's pgx.Batch, so
// that bytes and index rows commit together (no orphan, no extra round
// trip). Put, by itself, commits the rows on their own, as any other
// store.Blobs does.
package pgblobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/youju/youju/internal/store"
)

// ChunkSize is the size of a blob_chunks row. 256 KiB: a typical message
// is one row, a big attachment a few dozen, and a partial FETCH of a
// large message reads the chunks it spans, sliced in the database
// (substring of a toasted value detoasts only up to the slice's end).
const ChunkSize = 256 << 10

// Sequence is where blob ids come from. The index's blobs table draws
// its ids from it too, and an index blob whose bytes are here has its
// chunk rows under its own id: one sequence for both, so that a blob Put
// on its own never takes the id of an index's blob.
const Sequence = "blobs_id_seq"

// Schema prepares a database (the search_path's schema) that holds only
// blobs. The PostgreSQL index creates the same table and sequence in its
// own migrations; this is for a blob store apart from it, and tests.
const Schema = `CREATE SEQUENCE IF NOT EXISTS ` + Sequence + `;
CREATE TABLE IF NOT EXISTS blob_chunks (
	blob_id bigint NOT NULL,
	n       integer NOT NULL,
	data    bytea NOT NULL,
	PRIMARY KEY(blob_id, n)
);`

// idBlock is how many ids one round trip reserves: deliveries take their
// ids from memory, and a node that stops loses at most this many numbers
// of a 63-bit sequence.
const idBlock = 256

// DB is what the store needs of a connection pool (*pgxpool.Pool). Its
// commits must wait for the WAL flush (synchronous_commit on, as the
// index sets on its pool): Put is durable when it returns.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Store is a table of blob chunks. It implements store.Blobs.
type Store struct {
	db DB

	mu  sync.Mutex
	ids []int64 // reserved by NewIDs, not given yet
}

var _ store.Blobs = (*Store)(nil)

// New returns the store of the blob_chunks table that db reaches.
func New(db DB) *Store {
	return &Store{db: db}
}

// Shares reports whether the store works on db, so that a caller holding
// a transaction of db may have its writes join it (QueuePut).
func (s *Store) Shares(db DB) bool { return s.db == db }

// NewIDs returns n ids for QueuePut, never returned before (by this
// store or another on the same sequence). They come from blocks reserved
// in one round trip, so most calls ask the database nothing; a caller
// that finds the reserve short reserves a block of its own, without
// holding the others up (what it does not take is kept for them).
func (s *Store) NewIDs(ctx context.Context, n int) ([]int64, error) {
	if out := s.takeIDs(n, nil); out != nil {
		return out, nil
	}
	rows, err := s.db.Query(ctx, `SELECT nextval('`+Sequence+`') FROM generate_series(1, $1)`, idBlock+n)
	if err != nil {
		return nil, fmt.Errorf("pgblobs: reserving ids: %w", err)
	}
	more, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("pgblobs: reserving ids: %w", err)
	}
	return s.takeIDs(n, more), nil
}

// takeIDs adds more to the reserve and takes n ids from it, or returns
// nil if it holds fewer.
func (s *Store) takeIDs(n int, more []int64) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, more...)
	if len(s.ids) < n {
		return nil
	}
	out := make([]int64, n)
	copy(out, s.ids)
	s.ids = s.ids[n:]
	return out
}

// Split cuts data into ChunkSize pieces (sharing data's memory); an empty
// blob is one empty chunk, so that every stored blob has a row 0.
func Split(data []byte) [][]byte {
	out := make([][]byte, 0, (len(data)+ChunkSize-1)/ChunkSize)
	for len(data) > ChunkSize {
		out = append(out, data[:ChunkSize])
		data = data[ChunkSize:]
	}
	return append(out, data)
}

// insertChunks inserts the rows chunkRows gives.
const insertChunks = `INSERT INTO blob_chunks(blob_id, n, data) SELECT * FROM unnest($1::bigint[], $2::int[], $3::bytea[])`

// chunkRows returns the chunk rows of the blobs ids[i], bytes data[i], as
// the columns of insertChunks.
func chunkRows(ids []int64, data [][]byte) []any {
	var key []int64
	var num []int32
	var rows [][]byte
	for i, d := range data {
		for n, c := range Split(d) {
			key, num, rows = append(key, ids[i]), append(num, int32(n)), append(rows, c)
		}
	}
	return []any{key, num, rows}
}

// QueuePut queues on b, in one statement, the chunk rows of the blobs
// ids[i] (from NewIDs) with bytes data[i]. The caller sends b inside its
// own transaction: the bytes commit, or not, with what refers to them.
func (s *Store) QueuePut(b *pgx.Batch, ids []int64, data [][]byte) {
	b.Queue(insertChunks, chunkRows(ids, data)...)
}

// Put implements store.Blobs: the rows in one statement, committed on
// their own. The bytes are read whole (a message is in memory anyway to
// be parsed), never more than size of them.
func (s *Store) Put(ctx context.Context, r io.Reader, size int64) (string, error) {
	if size < 0 {
		return "", errors.New("pgblobs: put of unknown size")
	}
	data, err := io.ReadAll(io.LimitReader(r, size+1))
	if err != nil {
		return "", fmt.Errorf("pgblobs: put: %w", err)
	}
	if int64(len(data)) != size {
		return "", fmt.Errorf("pgblobs: put: got %d bytes, want %d", len(data), size)
	}
	ids, err := s.NewIDs(ctx, 1)
	if err != nil {
		return "", err
	}
	if _, err := s.db.Exec(ctx, insertChunks, chunkRows(ids, [][]byte{data})...); err != nil {
		return "", fmt.Errorf("pgblobs: put: %w", err)
	}
	return FormatID(ids[0]), nil
}

// Delete implements store.Blobs.
func (s *Store) Delete(ctx context.Context, id string) error {
	k, err := ParseID(id)
	if err != nil {
		return err
	}
	if _, err := s.db.Exec(ctx, `DELETE FROM blob_chunks WHERE blob_id=$1`, k); err != nil {
		return fmt.Errorf("pgblobs: delete: %w", err)
	}
	return nil
}

// Open implements store.Blobs. With the size known it asks the database
// nothing until a read (a blob deleted meanwhile fails that read with
// store.ErrNotFound).
func (s *Store) Open(ctx context.Context, id string, size int64) (store.MessageReader, error) {
	k, err := ParseID(id)
	if err != nil {
		return nil, err
	}
	if size < 0 {
		if size, err = s.size(ctx, k); err != nil {
			return nil, err
		}
	}
	return s.OpenID(ctx, k, size), nil
}

// OpenID is Open by the numeric id, with the size known (the index's
// blobs row has it).
func (s *Store) OpenID(ctx context.Context, id, size int64) store.MessageReader {
	return &reader{db: s.db, ctx: ctx, id: id, size: size}
}

// size adds up the lengths of a blob's chunks.
func (s *Store) size(ctx context.Context, id int64) (int64, error) {
	rows, err := s.db.Query(ctx, `SELECT COUNT(*), COALESCE(SUM(length(data)), 0)::bigint FROM blob_chunks WHERE blob_id=$1`, id)
	if err != nil {
		return 0, fmt.Errorf("pgblobs: %w", err)
	}
	var n, size int64
	if _, err := pgx.ForEachRow(rows, []any{&n, &size}, func() error { return nil }); err != nil {
		return 0, fmt.Errorf("pgblobs: %w", err)
	}
	if n == 0 {
		return 0, fmt.Errorf("pgblobs: blob %d: %w", id, store.ErrNotFound)
	}
	return size, nil
}

// FormatID is the store.Blobs id of the numeric id.
func FormatID(id int64) string { return strconv.FormatInt(id, 10) }

// ParseID reads an id FormatID wrote, and nothing else (a row of another
// store's ids must not read the wrong blob).
func ParseID(id string) (int64, error) {
	k, err := strconv.ParseInt(id, 10, 64)
	if err != nil || k <= 0 || FormatID(k) != id {
		return 0, fmt.Errorf("pgblobs: bad blob id %q", id)
	}
	return k, nil
}
