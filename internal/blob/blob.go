// Package blob keeps message bytes in packed, append-only segment files.
//
// A blob is written once and never changed: it is appended to the active
// segment (dir/seg-000001, ...), and a batch of appends shares one fsync, so
// that many concurrent deliveries cost one disk flush (group commit). A blob
// is named by a Ref (segment, offset, length) which the caller stores in its
// index; the index is the source of truth for which blobs are alive.
//
// The segments are also a log (log.go): a batch's blobs form a region frame
// and the caller appends a record (its own payload, e.g. the index rows
// of the batch) that the same fsync makes durable; after a crash, Scan
// hands back the valid records after the last one the index applied.
//
// Segments roll at Options.SegmentSize. A segment that holds no live blob and
// is not the active one is deleted (Remove). After a crash, Recover cuts each
// segment back to the end the caller says it needs (a half-written tail)
// and removes segments that nothing references.
//
// Future work: partial compaction (rewriting segments that are mostly dead).
package blob

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// DefaultSegmentSize is the size at which a new segment is started.
const DefaultSegmentSize = 64 << 20

const segPrefix = "seg-"

// ErrNotFound is returned by Open for a blob whose segment is gone.
var ErrNotFound = errors.New("blob: not found")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("blob: closed")

// Ref names a blob: its segment, offset and length.
type Ref struct {
	Segment uint32
	Offset  int64
	Length  int64
}

// End is the offset just past the blob.
func (r Ref) End() int64 { return r.Offset + r.Length }

// Options configure a Store. Zero values are defaults.
type Options struct {
	SegmentSize int64 // roll to a new segment beyond this size
	Logger      *slog.Logger
	// NoSync skips fsync; only for benchmarks of everything else.
	NoSync bool
	// Prealloc is how much of the active segment is zeroed at a time
	// ahead of its end (prealloc.go); 0 is DefaultPrealloc, negative none.
	Prealloc int64
}

// segment is one open segment file, shared by readers. It is closed when
// it has been removed and the last reader is done.
type segment struct {
	id      uint32
	f       *os.File
	readers int
	pins    int // appended blobs not yet committed by the caller
	removed bool
	framed  bool // starts with the segment header (log.go); older segments do not
}

// Store is a directory of segments. Its methods are safe for concurrent
// use; appends are serialised (the mail store has one writer anyway).
type Store struct {
	dir  string
	opts Options
	log  *slog.Logger

	wmu    sync.Mutex // serialises Append
	active *segment   // only touched under wmu (and mu to publish)
	size   int64      // bytes in active, under wmu
	dirty  bool       // active has bytes not synced yet, under wmu
	floor  uint32     // appends only go to segments >= floor, under wmu
	failed error      // set when the log stopped (ErrFailed), under wmu
	wbuf   []byte     // a region being written, under wmu (log.go)
	alloc  int64      // the active segment's zeroed end, under wmu (prealloc.go)
	ext    *extension // the zeroing in progress, under wmu

	mu     sync.Mutex
	segs   map[uint32]*segment
	closed bool

	syncs atomic.Int64 // fdatasyncs done, for benchmarks
	// StartSync's asynchronous fdatasync, made at the first StartSync
	// (a store only read, as by backup, takes no AIO context); nil or
	// noAIO: a goroutine. aio is set under wmu.
	aio      *aio
	aioTried bool
	noAIO    atomic.Bool // the kernel refused a submission
}

// Syncs returns how many fdatasyncs of segments the store has done.
func (s *Store) Syncs() int64 { return s.syncs.Load() }

// Open opens (creating if needed) the blob directory. Call Recover before
// the first Append when the caller's index may be behind the files.
func Open(dir string, opts Options) (*Store, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if opts.Prealloc == 0 {
		opts.Prealloc = DefaultPrealloc
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	s := &Store{dir: dir, opts: opts, log: log, segs: make(map[uint32]*segment)}
	ids, err := s.list()
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		f, err := os.OpenFile(s.path(id), os.O_RDWR, 0)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("blob: %w", err)
		}
		s.segs[id] = &segment{id: id, f: f, framed: isFramed(f)}
	}
	return s, nil
}

func (s *Store) path(id uint32) string { return SegmentPath(s.dir, id) }

// Path is the file of segment id (for tests and tools).
func (s *Store) Path(id uint32) string { return s.path(id) }

// SegmentPath is the file of segment id in a blob directory.
func SegmentPath(dir string, id uint32) string {
	return filepath.Join(dir, fmt.Sprintf("%s%06d", segPrefix, id))
}

// list returns the segment ids present in the directory, ascending.
func (s *Store) list() ([]uint32, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	var ids []uint32
	for _, e := range ents {
		n, ok := strings.CutPrefix(e.Name(), segPrefix)
		if !ok {
			continue
		}
		id, err := strconv.ParseUint(n, 10, 32)
		if err != nil || id == 0 {
			continue
		}
		ids = append(ids, uint32(id))
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

// RecoverReport says what Recover cleaned.
type RecoverReport struct {
	Truncated    map[uint32]int64 // segment -> bytes cut from its tail
	Removed      []uint32         // segments deleted (nothing referenced them)
	ActiveLength int64
}

// Recover makes the files agree with the index after a crash. ends maps
// every segment to keep to the end the caller needs (the end of its last
// referenced blob, or of the last valid frame of a scanned log segment).
// Each such segment is truncated to that end (bytes beyond were written
// but never committed: half-written or unacknowledged deliveries); every
// other segment is removed. The highest remaining segment becomes the
// active one; appends go only to a framed segment numbered floor or
// above (a new one is started otherwise), so that a log position the
// caller keeps never points into a segment appended to again later.
func (s *Store) Recover(ends map[uint32]int64, floor uint32) (RecoverReport, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.waitExtension()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.floor = floor
	rep := RecoverReport{Truncated: map[uint32]int64{}}
	for id, seg := range s.segs {
		end, ok := ends[id]
		if !ok {
			seg.f.Close()
			delete(s.segs, id)
			if err := os.Remove(s.path(id)); err != nil {
				return rep, fmt.Errorf("blob: recover: %w", err)
			}
			rep.Removed = append(rep.Removed, id)
			continue
		}
		if seg.framed {
			end = max(end, segHeaderLen)
		}
		fi, err := seg.f.Stat()
		if err != nil {
			return rep, fmt.Errorf("blob: recover: %w", err)
		}
		if fi.Size() < end {
			// The index references bytes that are not there: never cut
			// data, report loudly; reads of those blobs will fail.
			s.log.Error("blob segment shorter than index says", "segment", id, "size", fi.Size(), "want", end)
			continue
		}
		if fi.Size() > end {
			if err := seg.f.Truncate(end); err != nil {
				return rep, fmt.Errorf("blob: recover: %w", err)
			}
			if err := s.sync(seg.f); err != nil {
				return rep, err
			}
			rep.Truncated[id] = fi.Size() - end
		}
	}
	sort.Slice(rep.Removed, func(i, j int) bool { return rep.Removed[i] < rep.Removed[j] })
	if len(rep.Removed) > 0 {
		if err := s.syncDir(); err != nil {
			return rep, err
		}
	}
	s.active = nil
	for id, seg := range s.segs {
		if s.active == nil || id > s.active.id {
			s.active = seg
		}
	}
	if s.active != nil {
		fi, err := s.active.f.Stat()
		if err != nil {
			return rep, fmt.Errorf("blob: %w", err)
		}
		s.size = fi.Size()
		rep.ActiveLength = s.size
	}
	s.alloc = s.size
	s.dirty = false
	return rep, nil
}

func (s *Store) sync(f *os.File) error {
	if s.opts.NoSync {
		return nil
	}
	s.syncs.Add(1)
	if err := datasync(f); err != nil {
		return fmt.Errorf("blob: fsync: %w", err)
	}
	return nil
}

// datasync flushes the file's data and the metadata needed to read it
// back (its size), which is all an append needs: fdatasync(2) on Linux.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return f.Sync()
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}

// syncDir makes created or removed directory entries durable.
func (s *Store) syncDir() error {
	if s.opts.NoSync {
		return nil
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("blob: fsync dir: %w", err)
	}
	return nil
}

// Active returns the id of the segment that appends go to (0 if none yet).
// It must never be removed.
func (s *Store) Active() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active == nil {
		return 0
	}
	return s.active.id
}

// roll starts a new segment after the highest one; under wmu.
func (s *Store) roll() error {
	s.mu.Lock()
	next := s.floor + 1 // a log position may name the floor segment even if it is gone
	for id := range s.segs {
		if id >= next {
			next = id + 1
		}
	}
	s.mu.Unlock()
	if err := s.trimTail(); err != nil {
		return err
	}
	// The segment left behind is synced now, so that only the newest
	// segment can end in a torn frame and one Sync (of the active
	// segment) covers a batch whose frames span a roll.
	if s.active != nil && s.dirty {
		if err := s.sync(s.active.f); err != nil {
			s.failed = fmt.Errorf("%w: %v", ErrFailed, err)
			return err
		}
		s.dirty = false
	}
	f, err := os.OpenFile(s.path(next), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("blob: new segment: %w", err)
	}
	if _, err := f.WriteAt([]byte(segMagic), 0); err != nil {
		f.Close()
		os.Remove(s.path(next))
		return fmt.Errorf("blob: new segment: %w", err)
	}
	// The new file's directory entry must be durable before any index
	// row points into it.
	if err := s.syncDir(); err != nil {
		f.Close()
		os.Remove(s.path(next))
		return err
	}
	seg := &segment{id: next, f: f, framed: true}
	s.mu.Lock()
	s.segs[next] = seg
	s.active = seg
	s.mu.Unlock()
	s.size, s.alloc = segHeaderLen, segHeaderLen
	s.dirty = true // the header
	return nil
}

// Append writes every blob of datas, fsyncs once, and returns their refs
// in order (AppendBatch then Sync). On error nothing is referenced; bytes
// that were written stay as an unreferenced tail, cut back by Recover.
//
// The segments of the returned refs are pinned (Remove leaves them alone)
// until Unpin(refs): the caller's index does not reference them yet.
func (s *Store) Append(datas [][]byte) ([]Ref, error) {
	refs, _, err := s.AppendBatch(datas)
	if err != nil {
		return nil, err
	}
	if err := s.Sync(); err != nil {
		s.Unpin(refs)
		return nil, err
	}
	return refs, nil
}

// Unpin releases the pins of Append once the refs are committed (or
// abandoned).
func (s *Store) Unpin(refs []Ref) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range refs {
		if seg := s.segs[r.Segment]; seg != nil && seg.pins > 0 {
			seg.pins--
		}
	}
}

// Reader reads one blob; it implements store.MessageReader.
type Reader struct {
	*io.SectionReader
	s    *Store
	seg  *segment
	once sync.Once
}

// Close releases the reader's hold on its segment.
func (r *Reader) Close() error {
	r.once.Do(func() { r.s.release(r.seg) })
	return nil
}

// Open returns a reader of the blob. It reads from the shared segment file
// with ReadAt; the blob is never loaded whole.
func (s *Store) Open(ref Ref) (*Reader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	seg := s.segs[ref.Segment]
	if seg == nil || seg.removed {
		return nil, ErrNotFound
	}
	seg.readers++
	return &Reader{SectionReader: io.NewSectionReader(seg.f, ref.Offset, ref.Length), s: s, seg: seg}, nil
}

func (s *Store) release(seg *segment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seg.readers--
	if seg.readers == 0 && (seg.removed || s.closed) {
		seg.f.Close()
	}
}

// Remove deletes a segment that holds no live blob. The active segment and
// pinned segments are never removed (it returns false). Readers that have it open keep reading
// until they close.
func (s *Store) Remove(id uint32) (bool, error) {
	s.mu.Lock()
	seg := s.segs[id]
	if seg == nil || seg == s.active || seg.pins > 0 {
		s.mu.Unlock()
		return false, nil
	}
	delete(s.segs, id)
	seg.removed = true
	if seg.readers == 0 {
		seg.f.Close()
	}
	s.mu.Unlock()
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("blob: remove segment: %w", err)
	}
	return true, s.syncDir()
}

// Segments returns the ids of the segments present, ascending.
func (s *Store) Segments() []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]uint32, 0, len(s.segs))
	for id := range s.segs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// Close closes the segment files (those still read are closed when their
// last reader closes).
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if err := s.trimTail(); err != nil {
		s.log.Warn("blob: close", "err", err)
	}
	s.closed = true
	if s.aio != nil {
		s.aio.close()
	}
	for _, seg := range s.segs {
		if seg.readers == 0 {
			seg.f.Close()
		}
	}
	return nil
}
