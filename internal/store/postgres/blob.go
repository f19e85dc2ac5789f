package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/youju/youju/internal/store"
)

// chunkSize is the size of a blob_chunks row. 256 KiB: a typical message
// is one row, a big attachment a few dozen, and a partial FETCH of a
// large message reads the chunks it spans, sliced in the database
// (substring of a toasted value detoasts only up to the slice's end).
const chunkSize = 256 << 10

// splitChunks cuts data into chunkSize pieces (sharing data's memory).
func splitChunks(data []byte) [][]byte {
	out := make([][]byte, 0, (len(data)+chunkSize-1)/chunkSize)
	for len(data) > chunkSize {
		out = append(out, data[:chunkSize])
		data = data[chunkSize:]
	}
	return append(out, data)
}

// readTimeout bounds one read of a message's bytes (a reader has no
// context of its own).
const readTimeout = time.Minute

// blobReader is a store.MessageReader over the chunks of one blob. Read is
// buffered a chunk at a time; ReadAt fetches exactly the range asked for.
type blobReader struct {
	s    *Store
	id   int64
	size int64
	pos  int64
	buf  []byte // bytes at bufAt, read ahead by Read
	at   int64
}

func (s *Store) openBlob(id, size int64) *blobReader {
	return &blobReader{s: s, id: id, size: size}
}

// Size implements store.MessageReader.
func (r *blobReader) Size() int64 { return r.size }

// Close implements io.Closer.
func (r *blobReader) Close() error { r.buf = nil; return nil }

// Read implements io.Reader.
func (r *blobReader) Read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if r.pos < r.at || r.pos >= r.at+int64(len(r.buf)) {
		// Up to the end of the chunk holding pos: one row per query.
		end := min((r.pos/chunkSize+1)*chunkSize, r.size)
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

// ReadAt implements io.ReaderAt.
func (r *blobReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("postgres: negative offset")
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
func (r *blobReader) fetch(off, end int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	rows, err := r.s.pool.Query(ctx, `SELECT n, substring(data FROM (GREATEST($2 - n::bigint*$4, 0) + 1)::int
			FOR (LEAST($3 - n::bigint*$4, $4) - GREATEST($2 - n::bigint*$4, 0))::int)
		FROM blob_chunks WHERE blob_id=$1 AND n BETWEEN $5 AND $6 ORDER BY n`,
		r.id, off, end, int64(chunkSize), off/chunkSize, (end-1)/chunkSize)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]byte, 0, end-off)
	want := off / chunkSize
	for rows.Next() {
		var n int64
		var b []byte
		if err := rows.Scan(&n, &b); err != nil {
			return nil, err
		}
		if n != want {
			break
		}
		out = append(out, b...)
		want++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if int64(len(out)) != end-off {
		// The blob went (its last reference was purged) while open.
		return nil, fmt.Errorf("postgres: blob %d: %w", r.id, store.ErrNotFound)
	}
	return out, nil
}
