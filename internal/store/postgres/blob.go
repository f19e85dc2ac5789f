package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/blob/pgblobs"
	"github.com/youju/youju/internal/store"
)

// Message bytes in the index's own database are a store.Blobs like the
// others (internal/blob/pgblobs: chunk rows of blob_chunks), on this
// store's pool. What it adds, and the index uses, is txBlobs: its writes
// join the delivery's transaction, so that the bytes and the rows naming
// them commit at once (no orphan, nothing pending, no extra round trip).
// Such a blob's blobs row has no ext; its chunk rows are keyed by the
// blobs row's id, and a trigger deletes them with the row (schema.go).

// chunkSize is the size of a blob_chunks row (the text indexer reads the
// first one of small messages directly).
const chunkSize = pgblobs.ChunkSize

// txBlobs is a store.Blobs in this store's database whose writes join
// the caller's transaction.
type txBlobs interface {
	store.Blobs
	// NewIDs returns n fresh ids, from the sequence the blobs table
	// draws from (the rows of a blob are keyed by its blobs row's id).
	NewIDs(ctx context.Context, n int) ([]int64, error)
	// QueuePut queues on b the bytes data[i] of the blobs ids[i]; b is
	// sent inside the caller's transaction.
	QueuePut(b *pgx.Batch, ids []int64, data [][]byte)
	// OpenID opens the blob of id, size bytes, reading a range for a
	// ReadAt.
	OpenID(ctx context.Context, id, size int64) store.MessageReader
}

var _ txBlobs = (*pgblobs.Store)(nil)

// openBlob opens a blob whose bytes are in the database (no ext).
func (s *Store) openBlob(id, size int64) store.MessageReader {
	return s.chunks.OpenID(context.Background(), id, size)
}
