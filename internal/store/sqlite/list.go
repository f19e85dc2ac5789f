package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"

	"github.com/youju/youju/internal/store"
)

// The SQL read path of ListMessages (the flag cache answers without
// Info). FETCH 1:* (ENVELOPE) of a 100,000-message mailbox reads every
// row and its stored Info, so the query must be one forward range scan:
// every chunk seeks straight to its first UID. (An earlier form added
// "uid > last" beside "uid BETWEEN lo AND hi"; SQLite used the BETWEEN
// bound for the seek and re-read every row before the chunk, which made
// the whole listing quadratic.)

// listQueries are the four fixed queries, by (info, changedSince), so
// that each is prepared once. Arguments: mailbox, account, first UID,
// last UID, and the MODSEQ for changedSince. The unary + keeps the
// planner on the primary key for a CHANGEDSINCE listing, which is read
// in UID order anyway.
var listQueries = func() (q [2][2]string) {
	for info := range 2 {
		for cs := range 2 {
			cols, join := msgCols, ""
			if info == 1 {
				cols, join = msgCols+", b.info", " JOIN blobs b ON b.id=m.blob_id"
			}
			s := `SELECT ` + cols + ` FROM messages m` + join + ` WHERE ` + mboxScope + ` AND m.uid >= ? AND m.uid <= ?`
			if cs == 1 {
				s += ` AND +m.modseq > ?`
			}
			q[info][cs] = s + ` ORDER BY m.uid LIMIT 2000`
		}
	}
	return q
}()

// infoQuery reads only UIDs and Infos; the rest of each row comes from the
// flag cache (listInfoCached). Fewer columns is less work per row in
// SQLite and in the driver, which boxes every integer it returns.
const infoQuery = `SELECT m.uid, b.info FROM messages m JOIN blobs b ON b.id=m.blob_id WHERE ` + mboxScope +
	` AND m.uid >= ? AND m.uid <= ? ORDER BY m.uid LIMIT 2000`

// span is a UID range read by one run of chunked range scans; filter says
// the UIDs must also be checked against the set (gaps were merged in).
type span struct {
	lo, hi store.UID
	filter bool
}

// listSpans turns a UID set into ranges to scan. Ranges closer than a
// chunk are merged (the rows in the gap are read and skipped), so a
// sparse set costs at most a chunk of wasted rows per query.
func listSpans(set store.UIDSet) []span {
	if set == nil {
		return []span{{lo: 1, hi: ^store.UID(0)}}
	}
	var out []span
	for _, r := range set {
		if r.Lo > r.Hi {
			continue
		}
		if n := len(out); n > 0 && uint64(r.Lo) <= uint64(out[n-1].hi)+chunk {
			out[n-1].hi = max(out[n-1].hi, r.Hi)
			out[n-1].filter = true
			continue
		}
		out = append(out, span{lo: r.Lo, hi: r.Hi})
	}
	return out
}

// infoCache returns the flag cache an Info listing reads the rest of its
// rows from, or nil to read whole rows from SQL. A listing of up to a
// chunk of UIDs (a webmail page, the new mail of a FETCH) never loads
// the cache: loading it reads every row of the mailbox, about 140 ms of
// CPU at 100,000 messages, to save a few columns on 50 rows. It uses the
// cache when it is there (SELECT warms it) and loads it for the big
// listings it pays off for (FETCH 1:* ENVELOPE).
func (s *Store) infoCache(ctx context.Context, acct store.AccountID, mbox store.MailboxID, uids store.UIDSet) (*mboxCache, error) {
	if b := s.cachedBox(mbox); b != nil {
		return b, nil
	}
	if uids != nil && uidCountAtMost(uids, chunk) {
		return nil, nil
	}
	return s.box(ctx, acct, mbox)
}

// uidCountAtMost reports whether set holds at most n UIDs.
func uidCountAtMost(set store.UIDSet, n uint64) bool {
	var total uint64
	for _, r := range set {
		if r.Hi >= r.Lo {
			if total += uint64(r.Hi-r.Lo) + 1; total > n {
				return false
			}
		}
	}
	return true
}

// listSQL is ListMessages from the index, in chunks of rows.
func (s *Store) listSQL(ctx context.Context, acct store.AccountID, mbox store.MailboxID, opt store.ListOptions, fn func(*store.Message) error) error {
	var box *mboxCache
	if opt.WithInfo && s.cache.enabled() {
		var err error
		if box, err = s.infoCache(ctx, acct, mbox, opt.UIDs); err != nil {
			return err
		}
	}
	info, cs := 0, 0
	if opt.WithInfo {
		info = 1
	}
	if opt.ChangedSince > 0 {
		cs = 1
	}
	q := listQueries[info][cs]
	for _, sp := range listSpans(opt.UIDs) {
		lo := sp.lo
		for {
			args := []driver.NamedValue{{Ordinal: 1, Value: int64(mbox)}, {Ordinal: 2, Value: int64(acct)},
				{Ordinal: 3, Value: int64(lo)}, {Ordinal: 4, Value: int64(sp.hi)}}
			if cs == 1 {
				args = append(args, driver.NamedValue{Ordinal: 5, Value: int64(opt.ChangedSince)})
			}
			// At most a chunk, and no more than the span holds.
			hint := int(min(uint64(chunk), uint64(sp.hi)-uint64(lo)+1))
			var msgs []store.Message
			var err error
			if box != nil {
				msgs, err = s.readChunk(ctx, infoQuery, args[:4], true, hint)
			} else {
				msgs, err = s.readChunk(ctx, q, args, opt.WithInfo, hint)
			}
			if err != nil {
				return err
			}
			full := len(msgs) == chunk
			var last store.UID
			if len(msgs) > 0 {
				last = msgs[len(msgs)-1].UID
			}
			if box != nil {
				msgs = s.fromCache(box, msgs, opt.ChangedSince)
			}
			// Retained messages of the range this chunk covered, read
			// after it (retain.go).
			coveredHi := sp.hi
			if full {
				coveredHi = last
			}
			ret, err := s.retainedRange(ctx, acct, mbox, lo, coveredHi, &opt)
			if err != nil {
				return err
			}
			if ret != nil {
				keep := func(m *store.Message) bool { return !sp.filter || setContains(opt.UIDs, m.UID) }
				if err := emitMerged(msgs, ret, keep, fn); err != nil {
					return err
				}
				msgs = nil
			}
			for i := range msgs {
				if sp.filter && !setContains(opt.UIDs, msgs[i].UID) {
					continue
				}
				if err := fn(&msgs[i]); err != nil {
					return err
				}
			}
			if !full || last >= sp.hi {
				break
			}
			lo = last + 1
		}
	}
	return nil
}

// readChunk runs one chunk query on a pooled connection and releases it
// before returning (the caller's callback may use the store). It talks
// to the driver directly: database/sql's per-column conversions and
// locking were a quarter of the listing's time. The chunk's Infos are
// copied into one shared buffer.
func (s *Store) readChunk(ctx context.Context, q string, args []driver.NamedValue, withInfo bool, hint int) ([]store.Message, error) {
	conn, err := s.rdb.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var msgs []store.Message
	err = conn.Raw(func(dc any) error {
		qc, ok := dc.(driver.QueryerContext)
		if !ok {
			return errors.New("sqlite: driver cannot query directly")
		}
		rows, err := qc.QueryContext(ctx, q, args)
		if err != nil {
			return err
		}
		defer rows.Close()
		msgs, err = scanChunk(rows, withInfo, hint)
		return err
	})
	return msgs, err
}

// scanChunk reads the rows of a listing query (msgCols, then the Info, or
// only the UID and Info for infoQuery); hint is how many rows there can be
// at most, to size the buffers once.
func scanChunk(rows driver.Rows, withInfo bool, hint int) ([]store.Message, error) {
	msgs := make([]store.Message, 0, hint)
	var arena []byte
	var offs []int
	ncol := len(rows.Columns())
	vals := make([]driver.Value, ncol)
	for {
		if err := rows.Next(vals); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		var m store.Message
		if ncol == 2 {
			uid, _ := vals[0].(int64)
			m.UID = store.UID(uid)
		} else if err := scanCols(&m, vals[:7]); err != nil {
			return nil, err
		}
		if withInfo {
			b, _ := vals[ncol-1].([]byte)
			if arena == nil {
				// Infos of one mailbox are of similar sizes.
				arena = make([]byte, 0, hint*(len(b)+len(b)/4+16))
				offs = make([]int, 0, hint)
			}
			offs = append(offs, len(arena))
			arena = append(arena, b...)
		}
		msgs = append(msgs, m)
	}
	// Slice the Infos only now: the arena may have moved while growing.
	for i, off := range offs {
		end := len(arena)
		if i+1 < len(offs) {
			end = offs[i+1]
		}
		msgs[i].Info = arena[off:end:end]
	}
	return msgs, nil
}

// scanCols sets m from the values of msgCols.
func scanCols(m *store.Message, vals []driver.Value) error {
	var ints [7]int64
	for i, v := range vals {
		switch x := v.(type) {
		case int64:
			ints[i] = x
		case string:
			if i == 3 && x != "" {
				m.Flags.Keywords = store.SplitKeywords(x)
			}
		case []byte:
			if i == 3 && len(x) > 0 {
				m.Flags.Keywords = store.SplitKeywords(string(x))
			}
		case nil:
		default:
			return fmt.Errorf("sqlite: column %d: unexpected %T", i, v)
		}
	}
	m.UID, m.ModSeq, m.Flags.System = store.UID(ints[0]), store.ModSeq(ints[1]), store.SysFlags(ints[2])
	m.InternalDate, m.SaveDate = fromNano(ints[4]), fromNano(ints[5])
	m.Size = ints[6]
	return nil
}

// fromCache completes messages read by infoQuery with their cached index
// rows and drops those not cached (expunged since the chunk was read) or
// not changed since changedSince. The cache is what FETCH FLAGS reports
// too, so both views agree.
func (s *Store) fromCache(b *mboxCache, msgs []store.Message, changedSince store.ModSeq) []store.Message {
	if len(msgs) == 0 {
		return msgs
	}
	out := msgs[:0]
	s.cache.mu.RLock()
	defer s.cache.mu.RUnlock()
	i := b.find(msgs[0].UID)
	for k := range msgs {
		for i < len(b.msgs) && b.msgs[i].uid < msgs[k].UID {
			i++
		}
		if i == len(b.msgs) {
			break
		}
		e := &b.msgs[i]
		if e.uid != msgs[k].UID || (changedSince > 0 && e.modseq <= changedSince) {
			continue
		}
		m := e.message()
		m.Info = msgs[k].Info
		out = append(out, m)
	}
	return out
}
