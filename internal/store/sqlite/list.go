package sqlite

import (
	"context"
	"database/sql"

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

// listSQL is ListMessages from the index, in chunks of rows.
func (s *Store) listSQL(ctx context.Context, acct store.AccountID, mbox store.MailboxID, opt store.ListOptions, fn func(*store.Message) error) error {
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
			args := []any{mbox, acct, lo, sp.hi}
			if cs == 1 {
				args = append(args, opt.ChangedSince)
			}
			msgs, err := s.readChunk(ctx, q, args, opt.WithInfo)
			if err != nil {
				return err
			}
			for i := range msgs {
				if sp.filter && !setContains(opt.UIDs, msgs[i].UID) {
					continue
				}
				if err := fn(&msgs[i]); err != nil {
					return err
				}
			}
			if len(msgs) < chunk {
				break
			}
			last := msgs[len(msgs)-1].UID
			if last >= sp.hi {
				break
			}
			lo = last + 1
		}
	}
	return nil
}

// readChunk runs one chunk query through a prepared statement and closes
// its rows before returning (the caller's callback may use the store).
// The chunk's Infos are copied into one shared buffer rather than one
// allocation per row.
func (s *Store) readChunk(ctx context.Context, q string, args []any, withInfo bool) ([]store.Message, error) {
	var rows *sql.Rows
	var err error
	if st := s.rq.get(ctx, q); st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = s.rdb.QueryContext(ctx, q, args...)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	msgs := make([]store.Message, 0, 64)
	var arena []byte
	var offs []int
	var kw, infoRaw sql.RawBytes
	var idate, sdate int64
	dst := make([]any, 0, 9)
	for rows.Next() {
		msgs = append(msgs, store.Message{})
		m := &msgs[len(msgs)-1]
		dst = append(dst[:0], &m.UID, &m.ModSeq, &m.Flags.System, &kw, &idate, &sdate, &m.Size, &m.BlobID)
		if withInfo {
			dst = append(dst, &infoRaw)
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, err
		}
		if len(kw) > 0 {
			m.Flags.Keywords = splitKeywords(string(kw))
		}
		m.InternalDate, m.SaveDate = fromNano(idate), fromNano(sdate)
		if withInfo {
			offs = append(offs, len(arena))
			arena = append(arena, infoRaw...)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
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
