package sqlite

import (
	"context"
	"strconv"
	"strings"

	"github.com/youju/youju/internal/store"
)

// maxSparseUIDs bounds the UIDs searchSparse reads one by one; a bigger
// set is cheaper to scan.
const maxSparseUIDs = 50000

// sparseSet reports whether set is a few UIDs spread far apart (the
// candidates of a text index), which searchSQL's one range from the lowest
// to the highest UID would read mostly in vain.
func sparseSet(set store.UIDSet) bool {
	if len(set) < 2 {
		return false
	}
	n := 0
	for _, r := range set {
		n += int(r.Hi-r.Lo) + 1
		if n > maxSparseUIDs {
			return false
		}
	}
	// Reading by key costs a seek per UID, the range scan a row per UID
	// between the lowest and the highest.
	return int64(n)*4 < int64(set[len(set)-1].Hi-set[0].Lo)+1
}

// searchSparse is searchSQL for a sparse UID set: it reads exactly the
// set's messages, chunk by chunk, by primary key.
func (s *Store) searchSparse(ctx context.Context, acct store.AccountID, mbox store.MailboxID, q store.Query) ([]store.UID, error) {
	set := q.UIDs
	q.UIDs = nil
	where, args, _ := searchWhere(q)
	cols, join := msgCols, ""
	if q.NeedInfo {
		cols, join = msgCols+", b.info", " JOIN blobs b ON b.id=m.blob_id"
	}
	sqlq := `SELECT ` + cols + ` FROM messages m` + join + ` WHERE ` + mboxScope +
		` AND m.uid IN (SELECT value FROM json_each(?))` + where + ` ORDER BY m.uid`
	var out []store.UID
	var ids []store.UID
	flush := func() error {
		if len(ids) == 0 {
			return nil
		}
		var b strings.Builder
		b.WriteByte('[')
		for i, u := range ids {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatUint(uint64(u), 10))
		}
		b.WriteByte(']')
		ids = ids[:0]
		msgs, err := s.readMessages(ctx, sqlq, append([]any{mbox, acct, b.String()}, args...), q.NeedInfo)
		if err != nil {
			return err
		}
		for i := range msgs {
			ok, err := matchRest(&q, false, &msgs[i])
			if err != nil {
				return err
			}
			if ok {
				out = append(out, msgs[i].UID)
			}
		}
		return nil
	}
	for _, r := range set {
		for u := max(r.Lo, 1); u <= r.Hi; u++ {
			ids = append(ids, u)
			if len(ids) == chunk {
				if err := flush(); err != nil {
					return nil, err
				}
			}
			if u == r.Hi {
				break // r.Hi may be the largest UID
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}
