// Package backup takes a consistent copy of a data directory while serve
// runs, incrementally, with a manifest of SHA-256 checksums, and restores
// it into an empty data directory.
//
// It does not depend on the blob segment format: the index is copied
// with SQLite's VACUUM INTO (one read transaction: a consistent index),
// and every segment file is copied as bytes up to its size after that
// snapshot. Segments are append-only, and a message is acknowledged only
// after its bytes are fsynced and then its index row committed, so every
// blob the snapshot references lies within the copied bytes; what lies
// beyond is cut by the store's own recovery when the restored store is
// opened. Segment files are opened before the snapshot so that one the
// server removes meanwhile (nothing referenced it) stays readable.
package backup

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/youju/youju/internal/blob"
	"github.com/youju/youju/internal/fsutil"
)

// ManifestName is the manifest's file name in a backup.
const ManifestName = "manifest.json"

// File is one file of a backup.
type File struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Manifest lists every file of a backup (paths relative, '/'-separated).
type Manifest struct {
	Created time.Time       `json:"created"`
	Files   map[string]File `json:"files"`
}

// Report says what a backup did.
type Report struct {
	Files        int
	Bytes        int64 // bytes in the backup
	Written      int64 // bytes written this time (less after the first)
	SegmentsKept int   // segments only extended, not copied again
}

// skip are data directory entries a backup leaves out: the store's lock
// and WAL (the snapshot has it all), the control socket.
func skip(rel string) bool {
	switch rel {
	case "mail/lock", "mail/index.db", "mail/index.db-wal", "mail/index.db-shm", "control.sock", ManifestName:
		return true
	}
	return strings.HasPrefix(rel, "mail/blobs/") || strings.HasSuffix(rel, ".tmp")
}

// Backup copies dataDir into dest (created if needed; a previous backup
// there is updated incrementally).
func Backup(ctx context.Context, dataDir, dest string) (Report, error) {
	var rep Report
	if err := os.MkdirAll(filepath.Join(dest, "mail", "blobs"), 0o700); err != nil {
		return rep, err
	}
	old, _ := ReadManifest(dest)
	man := Manifest{Created: time.Now().UTC(), Files: map[string]File{}}
	blobDir := filepath.Join(dataDir, "mail", "blobs")
	// 1. Open every segment before the index snapshot.
	segs, err := openSegments(blobDir, nil)
	if err != nil {
		return rep, err
	}
	defer func() {
		for _, f := range segs {
			f.Close()
		}
	}()
	// 2. The index, in one read transaction.
	if err := snapshotIndex(ctx, filepath.Join(dataDir, "mail", "index.db"), filepath.Join(dest, "mail", "index.db")); err != nil {
		return rep, err
	}
	if err := record(&man, &rep, dest, "mail/index.db"); err != nil {
		return rep, err
	}
	// 3. Segments created since, then every segment up to its size now.
	if segs, err = openSegments(blobDir, segs); err != nil {
		return rep, err
	}
	names := make([]string, 0, len(segs))
	for n := range segs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		rel := "mail/blobs/" + n
		f, kept, err := copySegment(segs[n], filepath.Join(dest, "mail", "blobs", n), old.Files[rel], &rep)
		if err != nil {
			return rep, fmt.Errorf("segment %s: %w", n, err)
		}
		if kept {
			rep.SegmentsKept++
		}
		man.Files[rel] = f
		rep.Files++
		rep.Bytes += f.Size
	}
	// Segments of an earlier backup that the store has removed since.
	for rel := range old.Files {
		if strings.HasPrefix(rel, "mail/blobs/") {
			if _, ok := man.Files[rel]; !ok {
				os.Remove(filepath.Join(dest, filepath.FromSlash(rel)))
			}
		}
	}
	// 4. Config, TLS, DKIM keys, the outbound queue, import state.
	err = filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // a queue file delivered meanwhile
			}
			return err
		}
		rel, _ := filepath.Rel(dataDir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() || !d.Type().IsRegular() || skip(rel) {
			return nil
		}
		if err := copyFile(p, filepath.Join(dest, filepath.FromSlash(rel)), &rep); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		return record(&man, &rep, dest, rel)
	})
	if err != nil {
		return rep, err
	}
	b, _ := json.MarshalIndent(man, "", " ")
	return rep, fsutil.WriteFileAtomic(filepath.Join(dest, ManifestName), b, 0o600)
}

// openSegments opens the segment files of dir not already in have.
func openSegments(dir string, have map[string]*os.File) (map[string]*os.File, error) {
	if have == nil {
		have = map[string]*os.File{}
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return have, nil
	}
	if err != nil {
		return have, err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || have[e.Name()] != nil {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return have, err
		}
		have[e.Name()] = f
	}
	return have, nil
}

// snapshotIndex writes a consistent copy of the SQLite database at src to
// dst with VACUUM INTO (a read transaction; the server's writer goes on).
func snapshotIndex(ctx context.Context, src, dst string) error {
	db, err := sql.Open("sqlite", "file:"+src+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	tmp := dst + ".tmp"
	os.Remove(tmp)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return fmt.Errorf("index snapshot: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	return fsutil.SyncDir(filepath.Dir(dst))
}

// copySegment copies f up to the end of its data now into dst (not the
// zeros the active segment holds ahead of it: blob.DataEnd). When dst
// holds a prefix of f whose checksum matches the earlier manifest, only
// the rest is written (kept).
func copySegment(f *os.File, dst string, prev File, rep *Report) (File, bool, error) {
	size, err := blob.DataEnd(f)
	if err != nil {
		return File{}, false, err
	}
	h := sha256.New()
	var have int64
	if di, err := os.Stat(dst); err == nil && prev.SHA256 != "" && di.Size() == prev.Size && prev.Size <= size {
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, prev.Size)); err != nil {
			return File{}, false, err
		}
		// Both the source's prefix and the copy must still match the
		// earlier manifest: the copy is read (not written) to catch a
		// damaged backup, which is then written again whole.
		if hex.EncodeToString(h.Sum(nil)) == prev.SHA256 {
			if d, err := hashFile(dst); err == nil && d == prev {
				have = prev.Size
			}
		}
		if have == 0 {
			h.Reset()
		}
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return File{}, false, err
	}
	defer out.Close()
	if err := out.Truncate(have); err != nil {
		return File{}, false, err
	}
	if _, err := out.Seek(have, io.SeekStart); err != nil {
		return File{}, false, err
	}
	n, err := io.Copy(io.MultiWriter(out, h), io.NewSectionReader(f, have, size-have))
	if err != nil {
		return File{}, false, err
	}
	rep.Written += n
	if err := out.Sync(); err != nil {
		return File{}, false, err
	}
	return File{Size: size, SHA256: hex.EncodeToString(h.Sum(nil))}, have > 0, nil
}

// copyFile copies src to dst durably.
func copyFile(src, dst string, rep *Report) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	out, err := os.OpenFile(dst+".tmp", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	rep.Written += n
	return os.Rename(dst+".tmp", dst)
}

// record adds dest/rel to the manifest.
func record(man *Manifest, rep *Report, dest, rel string) error {
	f, err := hashFile(filepath.Join(dest, filepath.FromSlash(rel)))
	if err != nil {
		return err
	}
	man.Files[rel] = f
	rep.Files++
	rep.Bytes += f.Size
	return nil
}

func hashFile(p string) (File, error) {
	f, err := os.Open(p)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return File{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, err
}

func syncFile(p string) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// ReadManifest reads the manifest of the backup in dir.
func ReadManifest(dir string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(b, &m)
}

// Restore checks every file of the backup in src against its manifest,
// then copies it into dataDir, which must be empty or absent. The store
// recovers at its first open (segments are cut to what the index uses).
func Restore(src, dataDir string) error {
	man, err := ReadManifest(src)
	if err != nil {
		return fmt.Errorf("no backup in %s: %w", src, err)
	}
	if ents, err := os.ReadDir(dataDir); err == nil && len(ents) > 0 {
		return fmt.Errorf("%s is not empty: restore only into a new data directory", dataDir)
	}
	for rel, want := range man.Files {
		got, err := hashFile(filepath.Join(src, filepath.FromSlash(rel)))
		if err != nil {
			return fmt.Errorf("backup damaged: %s: %w", rel, err)
		}
		if got != want {
			return fmt.Errorf("backup damaged: %s: checksum or size differs from the manifest", rel)
		}
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	var rep Report
	for rel := range man.Files {
		if err := copyFile(filepath.Join(src, filepath.FromSlash(rel)), filepath.Join(dataDir, filepath.FromSlash(rel)), &rep); err != nil {
			return err
		}
	}
	return filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			err = fsutil.SyncDir(p)
		}
		return err
	})
}
