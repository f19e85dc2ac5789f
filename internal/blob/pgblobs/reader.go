package pgblobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/youju/youju/internal/store"
)

// readTimeout bounds one read of a blob's bytes (a reader opened with a
// context that never ends must not wait on a stuck database for ever).
const readTimeout = time.Minute

// reader is a store.MessageReader over the chunks of one blob. Read is
// buffered a chunk at a time; ReadAt fetches exactly the range asked for.
type reader struct {
	db   DB
	ctx  context.Context
	id   int64
	size int64
	pos  int64
	buf  []byte // bytes at at, read ahead by Read
	at   int64
}

// Size implements store.MessageReader.
func (r *reader) Size() int64 { return r.size }

// Close implements io.Closer.
func (r *reader) Close() error { r.buf = nil; return nil }

// Read implements io.Reader.
func (r *reader) Read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if r.pos < r.at || r.pos >= r.at+int64(len(r.buf)) {
		// Up to the end of the chunk holding pos: one row per query.
		end := min((r.pos/ChunkSize+1)*ChunkSize, r.size)
		b, err := r.fetch(r.pos, end)
		if err != nil {
			return 0, err
		}
		r.buf, r.at = b, r.pos
	}
	n := copy(p, r.buf[r.pos-r.at:])
	r.pos += int64(n)
	return n, nil
}

// ReadAt implements io.ReaderAt: one query for the range, whatever comes
// before it (RFC 9051 §6.4.5, a partial FETCH costs what it returns).
func (r *reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("pgblobs: negative offset")
	}
	if off >= r.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), r.size)
	b, err := r.fetch(off, end)
	if err != nil {
		return 0, err
	}
	n := copy(p, b)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// fetch reads bytes [off, end) of the blob: the chunks that hold them,
// each cut in the database to the part inside the range.
func (r *reader) fetch(off, end int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(r.ctx, readTimeout)
	defer cancel()
	rows, err := r.db.Query(ctx, `SELECT n, substring(data FROM (GREATEST($2 - n::bigint*$4, 0) + 1)::int
			FOR (LEAST($3 - n::bigint*$4, $4) - GREATEST($2 - n::bigint*$4, 0))::int)
		FROM blob_chunks WHERE blob_id=$1 AND n BETWEEN $5 AND $6 ORDER BY n`,
		r.id, off, end, int64(ChunkSize), off/ChunkSize, (end-1)/ChunkSize)
	if err != nil {
		return nil, fmt.Errorf("pgblobs: %w", err)
	}
	defer rows.Close()
	out := make([]byte, 0, end-off)
	want := off / ChunkSize
	for rows.Next() {
		var n int64
		var b []byte
		if err := rows.Scan(&n, &b); err != nil {
			return nil, fmt.Errorf("pgblobs: %w", err)
		}
		if n != want {
			break
		}
		out = append(out, b...)
		want++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgblobs: %w", err)
	}
	if int64(len(out)) != end-off {
		// The blob went (its last reference was purged) while open.
		return nil, fmt.Errorf("pgblobs: blob %d: %w", r.id, store.ErrNotFound)
	}
	return out, nil
}
