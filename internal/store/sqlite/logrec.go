package sqlite

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/youju/youju/internal/blob"
	"github.com/youju/youju/internal/store"
)

// The log record of a batch (see writer.go, "one durable write"): a batch
// that only adds messages (Deliver, AppendMessages) is acknowledged after
// one fsync of the blob log, which holds its bytes and this record; its
// index transaction commits with synchronous=NORMAL and may be lost by a
// power failure. The record is exactly what flushDeliveries wrote, so
// that replaying it on the index as it was before the batch gives the
// same rows: the blob rows (ids included), the message rows (UIDs,
// MODSEQs, flags, dates) and each touched mailbox's new UIDNEXT and
// HIGHESTMODSEQ with its count deltas. Replay is exact because the lost
// commits are always a suffix of such batches: every other batch commits
// with synchronous=FULL, which makes the WAL up to it durable.
//
// payload = chunk...; chunk = one flushDeliveries:
//
//	uvarint n, n blob rows:    id, segment, off, length, refcount, len(info), info
//	uvarint n, n message rows: mailbox, uid, modseq, sysflags, len(keywords),
//	                           keywords, internal date, save date, size, blob id
//	uvarint n, n mailboxes:    id, uidnext, highestmodseq, +messages, +unseen, +size
//
// Integers are varints (signed: dates and deltas), strings length-prefixed.

const recVersion = 1

// recordChunk appends the rows flushDeliveries is about to write to the
// batch's record.
func (b *batchTx) recordChunk() {
	if len(b.blobs)+len(b.msgs)+len(b.dirty) == 0 {
		return
	}
	r := b.rec
	if len(r) == 0 {
		r = append(r, recVersion)
	}
	r = binary.AppendUvarint(r, uint64(len(b.blobs)))
	for _, x := range b.blobs {
		r = appendInts(r, x.id, int64(x.segment), x.off, x.n, int64(x.refcount))
		r = appendBytes(r, x.info)
	}
	r = binary.AppendUvarint(r, uint64(len(b.msgs)))
	for _, x := range b.msgs {
		m := &x.m
		r = appendInts(r, int64(x.mailbox), int64(m.UID), int64(m.ModSeq), int64(m.Flags.System))
		r = appendBytes(r, []byte(store.JoinKeywords(m.Flags.Keywords)))
		r = appendInts(r, unixNano(m.InternalDate), unixNano(m.SaveDate), m.Size, x.blob)
	}
	r = binary.AppendUvarint(r, uint64(len(b.dirty)))
	for _, mb := range b.dirty {
		r = appendInts(r, int64(mb.id), int64(mb.uidNext), int64(mb.modSeq), int64(mb.dMessages), int64(mb.dUnseen), mb.dSize)
	}
	b.rec = r
}

func appendInts(b []byte, vs ...int64) []byte {
	for _, v := range vs {
		b = binary.AppendVarint(b, v)
	}
	return b
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

var errBadRecord = errors.New("sqlite: malformed log record")

// recReader decodes a record; the first error sticks.
type recReader struct {
	b   []byte
	err error
}

func (r *recReader) uvarint() uint64 {
	v, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.err, r.b = errBadRecord, nil
		return 0
	}
	r.b = r.b[k:]
	return v
}

func (r *recReader) int() int64 {
	v, k := binary.Varint(r.b)
	if k <= 0 {
		r.err, r.b = errBadRecord, nil
		return 0
	}
	r.b = r.b[k:]
	return v
}

func (r *recReader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.err, r.b = errBadRecord, nil
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// count reads a row count, bounded by what is left (every row takes more
// than one byte).
func (r *recReader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.err, r.b = errBadRecord, nil
		return 0
	}
	return int(n)
}

// decodeChunk reads one chunk's rows into b (as deliveries queue them).
func (r *recReader) decodeChunk(b *batchTx) {
	for range r.count() {
		x := &blobRow{id: r.int(), segment: uint32(r.int()), off: r.int(), n: r.int(), refcount: int(r.int())}
		x.info = r.bytes()
		b.blobs = append(b.blobs, x)
	}
	for range r.count() {
		var x msgRow
		x.mailbox = store.MailboxID(r.int())
		m := &x.m
		m.UID, m.ModSeq, m.Flags.System = store.UID(r.int()), store.ModSeq(r.int()), store.SysFlags(r.int())
		m.Flags.Keywords = store.SplitKeywords(string(r.bytes()))
		m.InternalDate, m.SaveDate = fromNano(r.int()), fromNano(r.int())
		m.Size, x.blob = r.int(), r.int()
		b.msgs = append(b.msgs, x)
	}
	for range r.count() {
		mb := &mboxState{id: store.MailboxID(r.int()), uidNext: store.UID(r.int()), modSeq: store.ModSeq(r.int()),
			dMessages: int(r.int()), dUnseen: int(r.int()), dSize: r.int(), dirty: true}
		b.dirty = append(b.dirty, mb)
	}
}

// logApplied reads the position just past the last record the index has.
func (s *Store) logApplied(ctx context.Context) (blob.Pos, error) {
	var p blob.Pos
	err := s.wdb.QueryRowContext(ctx, `SELECT segment, off FROM log_applied WHERE id=1`).Scan(&p.Segment, &p.Offset)
	if err != nil {
		return p, fmt.Errorf("sqlite: reading the log position: %w", err)
	}
	return p, nil
}

// replayLog redoes, in one transaction, the index changes of every valid
// record after the last one the index applied (their NORMAL commits were
// lost), and returns the scan (for recoverBlobs) and the new position.
func (s *Store) replayLog(ctx context.Context) (blob.ScanReport, blob.Pos, error) {
	from, err := s.logApplied(ctx)
	if err != nil {
		return blob.ScanReport{}, from, err
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return blob.ScanReport{}, from, fmt.Errorf("sqlite: replay: %w", err)
	}
	defer tx.Rollback()
	w := &wtx{s: s, tx: tx, b: newBatchTx(newDeliveryState()), ctx: ctx}
	pos, n := from, 0
	rep, err := s.blobs.Scan(from, func(end blob.Pos, payload []byte) error {
		r := &recReader{b: payload}
		if len(r.b) == 0 || r.b[0] != recVersion {
			return fmt.Errorf("%w at %v", errBadRecord, end)
		}
		r.b = r.b[1:]
		for len(r.b) > 0 && r.err == nil {
			r.decodeChunk(w.b)
			if r.err != nil {
				break
			}
			if err := w.flushDeliveries(); err != nil {
				return fmt.Errorf("sqlite: replaying the record ending at %v: %w", end, err)
			}
		}
		if r.err != nil {
			return fmt.Errorf("%w ending at %v", r.err, end)
		}
		pos = end
		n++
		return nil
	})
	if err != nil {
		return rep, from, err
	}
	if n == 0 {
		return rep, from, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE log_applied SET segment=?, off=? WHERE id=1`, pos.Segment, pos.Offset); err != nil {
		return rep, from, fmt.Errorf("sqlite: replay: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return rep, from, fmt.Errorf("sqlite: replay: %w", err)
	}
	s.log.Warn("index changes redone from the blob log", "records", n, "from", from, "to", pos)
	return rep, pos, nil
}

// logKeep adds to ends (segment -> end of its last referenced blob) what
// the log needs kept: a scanned segment that is referenced, holds the
// applied position or valid records is cut at the end of its valid frames
// only (never inside a frame: a later scan must find frame boundaries),
// and never below a referenced blob.
func logKeep(ends map[uint32]int64, scan blob.ScanReport, applied blob.Pos) map[uint32]int64 {
	for seg, end := range scan.ValidEnd {
		ref, ok := ends[seg]
		if !ok && seg != applied.Segment && scan.Records[seg] == 0 {
			continue // only frames nothing needs: the segment goes
		}
		if ref > end {
			// Referenced bytes beyond a frame that is not valid: the
			// index was ahead of the log (should not happen); cut nothing.
			end = scan.Size[seg]
		}
		ends[seg] = end
	}
	return ends
}
