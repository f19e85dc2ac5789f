// Package fileblobs keeps message bytes as one file per blob in a
// directory: the "files" blob backend of a store whose index is elsewhere
// (PostgreSQL). Several nodes may share the directory on a file system
// that honours fsync and rename (NFSv4, CephFS). It implements
// store.Blobs. The embedded SQLite store does not use it: its segment log
// (internal/blob) packs many messages per file and is tied to its index.
package fileblobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/youju/youju/internal/store"
)

// Store is a directory of blobs. It implements store.Blobs.
type Store struct {
	dir string
}

var _ store.NamedBlobs = (*Store)(nil)

// Open uses dir (created if missing) for blobs.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("fileblobs: no directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("fileblobs: %w", err)
	}
	return &Store{dir: dir}, nil
}

// path maps an id ("ab/cdef...") to its file, refusing anything that is
// not an id Put made (no "..", no absolute path).
func (s *Store) path(id string) (string, error) {
	if len(id) != 33 || id[2] != '/' {
		return "", fmt.Errorf("fileblobs: bad blob id %q", id)
	}
	if _, err := hex.DecodeString(id[:2] + id[3:]); err != nil {
		return "", fmt.Errorf("fileblobs: bad blob id %q", id)
	}
	return filepath.Join(s.dir, filepath.FromSlash(id)), nil
}

// Put implements store.Blobs: a temporary file, fsync, rename, fsync of
// the directory, so that a crash leaves the blob whole or absent.
func (s *Store) Put(ctx context.Context, r io.Reader, size int64) (string, error) {
	id := s.NewID()
	if err := s.PutID(ctx, id, r, size); err != nil {
		return "", err
	}
	return id, nil
}

// NewID implements store.NamedBlobs: 128 random bits, the first byte a
// directory.
func (s *Store) NewID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:2] + "/" + h[2:]
}

// PutID implements store.NamedBlobs.
func (s *Store) PutID(ctx context.Context, id string, r io.Reader, size int64) error {
	final, err := s.path(id)
	if err != nil {
		return err
	}
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("fileblobs: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("fileblobs: %w", err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("fileblobs: put: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(r, size+1))
	if err != nil {
		return fail(err)
	}
	if size >= 0 && n != size {
		return fail(fmt.Errorf("got %d bytes, want %d", n, size))
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("fileblobs: put: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("fileblobs: put: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Delete implements store.Blobs.
func (s *Store) Delete(ctx context.Context, id string) error {
	p, err := s.path(id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("fileblobs: %w", err)
	}
	return nil
}

// Open implements store.Blobs. A file has ReadAt: a range read reads only
// its range.
func (s *Store) Open(ctx context.Context, id string, size int64) (store.MessageReader, error) {
	p, err := s.path(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("fileblobs: blob %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("fileblobs: %w", err)
	}
	if size < 0 {
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("fileblobs: %w", err)
		}
		size = st.Size()
	}
	return &reader{SectionReader: io.NewSectionReader(f, 0, size), f: f}, nil
}

type reader struct {
	*io.SectionReader
	f *os.File
}

func (r *reader) Close() error { return r.f.Close() }
