package blob

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// Segments created by this version are a framed log, so that one fsync
// can make a batch durable: its bytes and the record that lets the
// caller's index be redone from them.
//
//	segment = segment header, then frames
//	segment header = "YJLOG\0\0\1"
//	region frame   = "YJRG", length (8 bytes), CRC32C of those 8+4 bytes (4), blob bytes
//	record frame   = "YJRC", body length (4), CRC32C of the body (4), body
//	record body    = region count (uvarint), per region: segment, offset,
//	                 length (uvarints) and CRC32C of its blob bytes (4),
//	                 then the caller's payload
//
// A Ref still names absolute blob bytes (inside a region), so readers do not
// care about frames, and segments written before framing (no header) stay
// readable as they are: only segments created since carry frames, and only
// those are scanned.
//
// Appends are sequential: a frame is written after every frame before it,
// and one fdatasync covers everything written to the file before it
// started. A batch's region is written without a sync (stage 1 of the
// caller's pipeline); the caller then appends its record and syncs once.
// Rolling to a new segment syncs the old one first, so only the newest
// segment can end in a torn frame. A record is valid only if its own CRC
// and the CRCs of the regions it names match: a record whose blob pages
// did not reach the disk is never handed back.

const (
	segMagic        = "YJLOG\x00\x00\x01"
	segHeaderLen    = int64(len(segMagic))
	regionMagic     = "YJRG"
	recordMagic     = "YJRC"
	regionHeaderLen = 16
	recordHeaderLen = 12
	// maxRecordBody bounds a record read at recovery (a batch's record
	// holds the index rows of at most a few hundred messages).
	maxRecordBody = 256 << 20
	// maxCoalesce is the largest region copied into one write.
	maxCoalesce = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrFailed wraps the error that stopped the log: after a failed fsync
// nothing is known about what reached the disk, so every later write
// fails until the store is reopened (and recovered).
var ErrFailed = errors.New("blob: log stopped after a write failure")

// Region is one region frame of a batch: where its blob bytes are and
// their CRC32C.
type Region struct {
	Segment uint32
	Offset  int64 // of the first blob byte (after the frame header)
	Length  int64
	CRC     uint32
}

// Pos is a position in the log: a segment and an offset in it.
type Pos struct {
	Segment uint32
	Offset  int64
}

// AppendBatch writes every blob of datas as region frames (one per
// segment touched) without syncing, and returns their refs in order and
// the regions. The segments are pinned until Unpin(refs). The bytes are
// durable only after a later Sync.
func (s *Store) AppendBatch(datas [][]byte) ([]Ref, []Region, error) {
	refs, regions, err := s.appendRegions(datas)
	if err != nil {
		return nil, nil, err
	}
	s.pin(refs)
	return refs, regions, nil
}

func (s *Store) pin(refs []Ref) {
	s.mu.Lock()
	for _, r := range refs {
		if seg := s.segs[r.Segment]; seg != nil {
			seg.pins++
		}
	}
	s.mu.Unlock()
}

// usable reports whether appends may go to the active segment; under wmu.
func (s *Store) usable() error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return s.failed
}

func (s *Store) appendRegions(datas [][]byte) ([]Ref, []Region, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.usable(); err != nil {
		return nil, nil, err
	}
	refs := make([]Ref, 0, len(datas))
	var regions []Region
	for i := 0; i < len(datas); {
		need := int64(regionHeaderLen + len(datas[i]))
		if !s.appendable() || (s.size > segHeaderLen && s.size+need > s.opts.SegmentSize) {
			if err := s.roll(); err != nil {
				return nil, nil, err
			}
		}
		// The blobs that fit in this segment (at least one) form a region.
		j, n := i, int64(0)
		for j < len(datas) && (j == i || s.size+regionHeaderLen+n+int64(len(datas[j])) <= s.opts.SegmentSize) {
			n += int64(len(datas[j]))
			j++
		}
		reg, err := s.writeRegion(datas[i:j], n, &refs)
		if err != nil {
			return nil, nil, err
		}
		regions = append(regions, reg)
		i = j
	}
	return refs, regions, nil
}

// appendable reports whether the active segment takes frames: it exists,
// is framed, and is not below the floor set by Recover; under wmu.
func (s *Store) appendable() bool {
	return s.active != nil && s.active.framed && s.active.id >= s.floor
}

// writeRegion writes one region frame of n bytes at the end of the active
// segment; under wmu.
func (s *Store) writeRegion(datas [][]byte, n int64, refs *[]Ref) (Region, error) {
	start := s.size
	var hdr [regionHeaderLen]byte
	copy(hdr[:], regionMagic)
	binary.LittleEndian.PutUint64(hdr[4:], uint64(n))
	binary.LittleEndian.PutUint32(hdr[12:], crc32.Checksum(hdr[:12], castagnoli))
	f := s.active.f
	s.reserve(start + regionHeaderLen + n)
	fail := func(err error) (Region, error) {
		// Cut the partial frame so the next append starts clean.
		s.alloc = min(s.alloc, start)
		if terr := f.Truncate(start); terr != nil {
			s.failed = fmt.Errorf("%w: %v (truncate: %v)", ErrFailed, err, terr)
		}
		return Region{}, fmt.Errorf("blob: write: %w", err)
	}
	off := start + regionHeaderLen
	reg := Region{Segment: s.active.id, Offset: off, Length: n}
	// A region of small messages is copied into one buffer and written
	// with one system call (a pwrite per message was a sixth of the CPU
	// of a batch of 10 KB deliveries); big ones are written as they are.
	coalesce := n <= maxCoalesce
	if coalesce {
		s.wbuf = append(s.wbuf[:0], hdr[:]...)
	} else if _, err := f.WriteAt(hdr[:], start); err != nil {
		return fail(err)
	}
	for _, d := range datas {
		if coalesce {
			s.wbuf = append(s.wbuf, d...)
		} else if _, err := f.WriteAt(d, off); err != nil {
			return fail(err)
		}
		reg.CRC = crc32.Update(reg.CRC, castagnoli, d)
		*refs = append(*refs, Ref{Segment: s.active.id, Offset: off, Length: int64(len(d))})
		off += int64(len(d))
	}
	if coalesce {
		if _, err := f.WriteAt(s.wbuf, start); err != nil {
			return fail(err)
		}
	}
	s.size = off
	s.dirty = true
	s.preallocate()
	return reg, nil
}

// AppendRecord appends a record naming regions (of one batch, written by
// AppendBatch) with the caller's payload, without syncing. It returns the
// position just past the record, which the caller stores in its index as
// the last record applied.
func (s *Store) AppendRecord(regions []Region, payload []byte) (Pos, error) {
	body := make([]byte, 0, 8+len(regions)*24+len(payload))
	body = binary.AppendUvarint(body, uint64(len(regions)))
	for _, r := range regions {
		body = binary.AppendUvarint(body, uint64(r.Segment))
		body = binary.AppendUvarint(body, uint64(r.Offset))
		body = binary.AppendUvarint(body, uint64(r.Length))
		body = binary.LittleEndian.AppendUint32(body, r.CRC)
	}
	body = append(body, payload...)
	if len(body) > maxRecordBody {
		return Pos{}, fmt.Errorf("blob: record of %d bytes too large", len(body))
	}
	frame := make([]byte, recordHeaderLen, recordHeaderLen+len(body))
	copy(frame, recordMagic)
	binary.LittleEndian.PutUint32(frame[4:], uint32(len(body)))
	binary.LittleEndian.PutUint32(frame[8:], crc32.Checksum(body, castagnoli))
	frame = append(frame, body...)

	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.usable(); err != nil {
		return Pos{}, err
	}
	if !s.appendable() {
		if err := s.roll(); err != nil {
			return Pos{}, err
		}
	}
	start := s.size
	s.reserve(start + int64(len(frame)))
	if _, err := s.active.f.WriteAt(frame, start); err != nil {
		s.alloc = min(s.alloc, start)
		if terr := s.active.f.Truncate(start); terr != nil {
			s.failed = fmt.Errorf("%w: %v (truncate: %v)", ErrFailed, err, terr)
		}
		return Pos{}, fmt.Errorf("blob: write record: %w", err)
	}
	s.size = start + int64(len(frame))
	s.dirty = true
	s.preallocate()
	return Pos{Segment: s.active.id, Offset: s.size}, nil
}

// Sync makes everything appended so far durable (one fdatasync of the
// active segment: older segments were synced when the log rolled past
// them). A failure stops the log (ErrFailed): what reached the disk is
// unknown.
func (s *Store) Sync() error {
	seg, err := s.takeDirty()
	if seg == nil {
		return err
	}
	// Outside wmu: the next batch's bytes are written meanwhile. The
	// active segment is closed only by Close, after the last Sync.
	if err := s.sync(seg.f); err != nil {
		s.Fail(err)
		return err
	}
	return nil
}

// takeDirty returns the active segment if it has bytes not synced yet,
// and counts it synced (the caller syncs it); nil if there is nothing to
// sync or the log is not usable (err).
func (s *Store) takeDirty() (*segment, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	seg, dirty := s.active, s.dirty
	s.dirty = false
	if !dirty {
		return nil, nil
	}
	return seg, nil
}

// StartSync starts what Sync does and returns the function that waits
// for it and returns its outcome (call it once). The fdatasync runs
// while the caller goes on: through Linux AIO, in the kernel, where it
// can (aio_linux.go says why that beats a goroutine), else in a
// goroutine. Appends may go on meanwhile, as with Sync.
func (s *Store) StartSync() func() error {
	seg, err := s.takeDirty()
	if seg == nil || s.opts.NoSync {
		return func() error { return err }
	}
	s.syncs.Add(1)
	fail := func(err error) error {
		err = fmt.Errorf("blob: fsync: %w", err)
		s.Fail(err)
		return err
	}
	if a := s.aioContext(); a != nil && !s.noAIO.Load() {
		wait, err := a.start(seg.f)
		if err == nil {
			return func() error {
				if err := wait(); err != nil {
					return fail(err)
				}
				return nil
			}
		}
		// Not submitted (a kernel before 4.18): a goroutine from now on.
		s.noAIO.Store(true)
		s.log.Info("blob: asynchronous fdatasync unavailable, syncing in a goroutine", "err", err)
	}
	done := make(chan error, 1)
	go func() { done <- datasync(seg.f) }()
	return func() error {
		if err := <-done; err != nil {
			return fail(err)
		}
		return nil
	}
}

// aioContext returns StartSync's AIO context, made at the first call.
func (s *Store) aioContext() *aio {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if !s.aioTried {
		s.aioTried = true
		s.aio = newAIO()
	}
	return s.aio
}

// Fail stops the log: every later append or sync returns ErrFailed. The
// caller uses it when its index could not follow a record that may be
// durable (the next Open replays it).
func (s *Store) Fail(err error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.failed == nil {
		s.failed = fmt.Errorf("%w: %v", ErrFailed, err)
	}
}

// ScanReport says what Scan found in each framed segment it read.
type ScanReport struct {
	// ValidEnd is, per segment scanned, the end of its last valid frame.
	ValidEnd map[uint32]int64
	// Records counts the valid records per segment scanned.
	Records map[uint32]int
	// Size is each scanned segment's file size (beyond ValidEnd: a torn tail).
	Size map[uint32]int64
}

// Scan reads the records after from, in log order, and calls fn with each
// valid one's payload and the position just past it. It reads framed
// segments from from.Segment on (from.Offset in that one, the start in the
// later ones) and stops in each at the first frame that is not valid: a
// torn tail. Call it before Recover.
func (s *Store) Scan(from Pos, fn func(end Pos, payload []byte) error) (ScanReport, error) {
	rep := ScanReport{ValidEnd: map[uint32]int64{}, Records: map[uint32]int{}, Size: map[uint32]int64{}}
	for _, id := range s.Segments() {
		s.mu.Lock()
		seg := s.segs[id]
		s.mu.Unlock()
		if id < from.Segment || seg == nil || !seg.framed {
			continue
		}
		off := segHeaderLen
		if id == from.Segment && from.Offset > off {
			off = from.Offset
		}
		fi, err := seg.f.Stat()
		if err != nil {
			return rep, fmt.Errorf("blob: scan: %w", err)
		}
		rep.Size[id] = fi.Size()
		end, n, err := s.scanSegment(seg, off, fi.Size(), fn)
		rep.ValidEnd[id], rep.Records[id] = end, n
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// scanSegment reads frames of seg from off; it returns the end of the last
// valid frame and the number of records.
func (s *Store) scanSegment(seg *segment, off, size int64, fn func(Pos, []byte) error) (int64, int, error) {
	if off > size {
		s.log.Error("blob log shorter than the index's last applied record", "segment", seg.id, "size", size, "applied", off)
		return size, 0, nil
	}
	n := 0
	end, err := walkFrames(seg.f, off, size, func(end int64, body []byte) (bool, error) {
		payload, ok := s.verifyRecord(body)
		if !ok {
			return false, nil
		}
		n++
		return true, fn(Pos{Segment: seg.id, Offset: end}, payload)
	})
	return end, n, err
}

// walkFrames reads the frames of f (size bytes) from off and returns the
// end of the last valid one. A region frame is checked by its header's
// CRC; a record frame by its body's, and then by record (nil: accepted),
// which gets the position past it and its body.
func walkFrames(f io.ReaderAt, off, size int64, record func(end int64, body []byte) (bool, error)) (int64, error) {
	for off < size {
		var hdr [regionHeaderLen]byte
		if _, err := f.ReadAt(hdr[:4], off); err != nil {
			return off, nil
		}
		switch string(hdr[:4]) {
		case regionMagic:
			if _, err := f.ReadAt(hdr[4:], off+4); err != nil {
				return off, nil
			}
			l := int64(binary.LittleEndian.Uint64(hdr[4:]))
			if crc32.Checksum(hdr[:12], castagnoli) != binary.LittleEndian.Uint32(hdr[12:]) ||
				l < 0 || l > size-off-regionHeaderLen {
				return off, nil
			}
			off += regionHeaderLen + l
		case recordMagic:
			body, ok := readRecordAt(f, off, size)
			if !ok {
				return off, nil
			}
			end := off + recordHeaderLen + int64(len(body))
			if record != nil {
				if ok, err := record(end, body); !ok || err != nil {
					if !ok {
						return off, err
					}
					return end, err
				}
			}
			off = end
		default:
			return off, nil
		}
	}
	return off, nil
}

// readRecord reads the record frame at off and checks its body's CRC.
func (s *Store) readRecord(seg *segment, off, size int64) ([]byte, bool) {
	return readRecordAt(seg.f, off, size)
}

// readRecordAt reads the record frame at off of a file of size bytes and
// checks its body's CRC.
func readRecordAt(f io.ReaderAt, off, size int64) ([]byte, bool) {
	var hdr [recordHeaderLen]byte
	if _, err := f.ReadAt(hdr[:], off); err != nil {
		return nil, false
	}
	l := int64(binary.LittleEndian.Uint32(hdr[4:]))
	if l > maxRecordBody || l > size-off-recordHeaderLen {
		return nil, false
	}
	body := make([]byte, l)
	if _, err := f.ReadAt(body, off+recordHeaderLen); err != nil {
		return nil, false
	}
	return body, crc32.Checksum(body, castagnoli) == binary.LittleEndian.Uint32(hdr[8:])
}

// verifyRecord checks the regions a record body names against their CRCs
// and returns its payload.
func (s *Store) verifyRecord(body []byte) ([]byte, bool) {
	nreg, k := binary.Uvarint(body)
	if k <= 0 || nreg > uint64(len(body)) {
		return nil, false
	}
	body = body[k:]
	for range nreg {
		var v [3]uint64
		for i := range v {
			x, k := binary.Uvarint(body)
			if k <= 0 {
				return nil, false
			}
			v[i], body = x, body[k:]
		}
		if len(body) < 4 || v[0] > 1<<32-1 || v[1] > 1<<62 || v[2] > 1<<62 {
			return nil, false
		}
		crc := binary.LittleEndian.Uint32(body)
		body = body[4:]
		if !s.regionCRC(Region{Segment: uint32(v[0]), Offset: int64(v[1]), Length: int64(v[2]), CRC: crc}) {
			return nil, false
		}
	}
	return body, true
}

// regionCRC reads a region's bytes and compares their CRC32C.
func (s *Store) regionCRC(r Region) bool {
	s.mu.Lock()
	seg := s.segs[r.Segment]
	s.mu.Unlock()
	if seg == nil {
		return false
	}
	h := crc32.New(castagnoli)
	if n, err := io.Copy(h, io.NewSectionReader(seg.f, r.Offset, r.Length)); err != nil || n != r.Length {
		return false
	}
	return h.Sum32() == r.CRC
}

// isFramed reports whether f starts with the segment header.
func isFramed(f *os.File) bool {
	var b [segHeaderLen]byte
	_, err := f.ReadAt(b[:], 0)
	return err == nil && string(b[:]) == segMagic
}

// DataEnd is where the bytes of segment file f end: for a framed segment
// the end of its last whole frame (the active segment is zero-filled
// ahead of it, prealloc.go), else its size. It reads frame headers and
// record bodies only, not the blobs: for copying a segment (backup),
// not for recovery, which Scan does with every CRC.
func DataEnd(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if !isFramed(f) {
		return fi.Size(), nil
	}
	return walkFrames(f, segHeaderLen, fi.Size(), nil)
}
