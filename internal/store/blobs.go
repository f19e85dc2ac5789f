package store

import (
	"context"
	"io"
)

// Blobs is the blob seam: where the bytes of messages live, apart from
// the index that names them. A store that keeps its index in a shared
// database takes one of these (files in a directory, chunk rows in
// PostgreSQL, S3-compatible object storage); the embedded SQLite store
// keeps its own segment log (internal/blob) and needs none.
//
// The bytes given to Put are final: parsing and CRLF normalisation happen
// once, before any backend (internal/message), so every backend stores
// and returns the same octets. A blob is written once and never changed;
// the index counts its references and deletes it when none is left.
type Blobs interface {
	// Put stores size bytes read from r and returns the blob's id (at most
	// 200 ASCII characters, chosen by the backend). It returns only when
	// the bytes are on stable storage: the index refers to the blob after
	// Put, and mail is acknowledged after the index commits.
	Put(ctx context.Context, r io.Reader, size int64) (id string, err error)
	// Open opens the blob for reading. size is the blob's size as Put
	// stored it (the index keeps it; no lookup is needed), or -1 for the
	// backend to find it. ReadAt reads only the range asked for (a
	// partial FETCH, RFC 9051 §6.4.5 BODY[]<start.len>, costs what it
	// returns, not the prefix before it). ctx bounds the reads too.
	Open(ctx context.Context, id string, size int64) (MessageReader, error)
	// Delete removes the blob; deleting a missing blob is not an error
	// (a sweep interrupted by a crash runs again).
	Delete(ctx context.Context, id string) error
}

// NamedBlobs is implemented by a Blobs whose ids the caller can know
// before any byte is stored: the index records the id as pending first
// (PostgreSQL: blob_pending), so that a crash between the upload and the
// index commit leaves an object the sweeper finds and deletes, without a
// listing of the bucket.
type NamedBlobs interface {
	Blobs
	// NewID returns a fresh id for PutID: random, never returned before.
	NewID() string
	// PutID is Put under id, which NewID returned.
	PutID(ctx context.Context, id string, r io.Reader, size int64) error
}

// BlobKeys is implemented by a store whose messages share stored blobs
// (COPY adds a reference; no byte is copied). BlobKeys returns, for the
// messages of the mailbox with UIDs lo to hi, an opaque key that is the
// same for messages sharing one blob, so that a copy into another store
// (youju migrate) writes such a blob once. The key means nothing outside
// the store that gave it: where a message's bytes live is the backend's
// own business (store.Message does not name it), and callers read bytes
// by account, mailbox and UID only.
type BlobKeys interface {
	BlobKeys(ctx context.Context, acct AccountID, mbox MailboxID, lo, hi UID) (map[UID]int64, error)
}
