package sqlite

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/youju/youju/internal/store"
)

// selectMessages reads the messages of mb in uids (nil: all) inside the
// write transaction, ascending, with an extra SQL condition on m, with
// the blobs they reference (to share them on COPY, release them on
// EXPUNGE).
func (w *wtx) selectMessages(mb store.MailboxID, uids store.UIDSet, cond string) ([]msgRow, error) {
	return w.selectFrom("messages", mb, uids, cond)
}

// selectFrom is selectMessages from table (messages or retained).
func (w *wtx) selectFrom(table string, mb store.MailboxID, uids store.UIDSet, cond string) ([]msgRow, error) {
	clause, uargs, filter := uidClause(uids)
	args := append([]any{mb}, uargs...)
	rows, err := w.query(`SELECT `+msgCols+`, m.blob_id FROM `+table+` m WHERE m.mailbox_id=?`+clause+cond+` ORDER BY m.uid`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var msgs []msgRow
	for rows.Next() {
		r := msgRow{mailbox: mb}
		if err := scanMessage(rows, &r.m, &r.blob); err != nil {
			return nil, err
		}
		if filter && !setContains(uids, r.m.UID) {
			continue
		}
		msgs = append(msgs, r)
	}
	return msgs, rows.Err()
}

// openSelected is openMailbox for a mailbox named by the caller (0 is not
// INBOX here, it is nothing).
func (w *wtx) openSelected(acct store.AccountID, id store.MailboxID) (*mboxState, error) {
	if id == 0 {
		return nil, store.ErrNotFound
	}
	return w.openMailbox(acct, id)
}

// StoreFlags implements store.Mail (RFC 9051 §6.4.6) with the
// UNCHANGEDSINCE test of RFC 7162 §3.1.3 when unchangedSince > 0: a
// message whose MODSEQ is greater is not changed and is reported in
// Modified. Messages whose flags do not change keep their MODSEQ.
func (s *Store) StoreFlags(ctx context.Context, acct store.AccountID, mbox store.MailboxID, uids store.UIDSet, op store.FlagOp, f store.Flags, unchangedSince store.ModSeq) (store.StoreResult, error) {
	kws, ok := store.NormKeywords(f.Keywords)
	if !ok {
		return store.StoreResult{}, store.ErrInvalidName
	}
	f.Keywords = kws
	var res store.StoreResult
	err := s.do(ctx, nil, func(w *wtx) error {
		res = store.StoreResult{}
		mb, err := w.openSelected(acct, mbox)
		if err != nil {
			return err
		}
		msgs, err := w.selectMessages(mb.id, uids, "")
		if err != nil {
			return err
		}
		var modified []store.UID
		for _, r := range msgs {
			m := r.m
			if unchangedSince > 0 && m.ModSeq > unchangedSince {
				modified = append(modified, m.UID)
				continue
			}
			nf := store.ApplyFlags(m.Flags, op, f)
			if store.SameFlags(nf, m.Flags) {
				continue
			}
			wasSeen, isSeen := m.Flags.System&store.FlagSeen != 0, nf.System&store.FlagSeen != 0
			m.Flags, m.ModSeq = nf, mb.bump()
			if _, err := w.exec(`UPDATE messages SET sysflags=?, keywords=?, modseq=? WHERE mailbox_id=? AND uid=?`,
				nf.System, store.JoinKeywords(nf.Keywords), m.ModSeq, mb.id, m.UID); err != nil {
				return err
			}
			switch {
			case wasSeen && !isSeen:
				mb.dUnseen++
			case !wasSeen && isSeen:
				mb.dUnseen--
			}
			res.Changed = append(res.Changed, m)
		}
		res.Modified = store.UIDSetOf(modified)
		if len(res.Changed) > 0 {
			id, changed := mb.id, res.Changed
			w.cache = append(w.cache, func(c *flagCache) { c.update(id, changed) })
		}
		return w.save(mb)
	})
	return res, err
}

// Expunge implements store.Mail: only messages with \Deleted go.
func (s *Store) Expunge(ctx context.Context, acct store.AccountID, mbox store.MailboxID, uids store.UIDSet) ([]store.UID, error) {
	return s.remove(ctx, acct, mbox, uids, fmt.Sprintf(" AND m.sysflags & %d != 0", store.FlagDeleted))
}

// Remove implements store.Mail: messages go whatever their flags.
func (s *Store) Remove(ctx context.Context, acct store.AccountID, mbox store.MailboxID, uids store.UIDSet) ([]store.UID, error) {
	return s.remove(ctx, acct, mbox, uids, "")
}

func (s *Store) remove(ctx context.Context, acct store.AccountID, mbox store.MailboxID, uids store.UIDSet, cond string) ([]store.UID, error) {
	var out []store.UID
	err := s.do(ctx, nil, func(w *wtx) error {
		mb, err := w.openSelected(acct, mbox)
		if err != nil {
			return err
		}
		msgs, err := w.selectMessages(mb.id, uids, cond)
		if err != nil {
			return err
		}
		if err := w.expunge(mb, msgs); err != nil {
			return err
		}
		out = make([]store.UID, len(msgs))
		for i := range msgs {
			out[i] = msgs[i].m.UID
		}
		return w.save(mb)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// expunge deletes msgs from mb, leaving (UID, MODSEQ) tombstones for
// QRESYNC (RFC 7162 §3.2.10). Their rows, with their blob references, are
// retained for the sessions not yet told (retain.go).
func (w *wtx) expunge(mb *mboxState, msgs []msgRow) error {
	if len(msgs) == 0 {
		return nil
	}
	modseq := mb.bump()
	if err := w.retainRows(mb.id, msgs, time.Now().UnixNano()); err != nil {
		return err
	}
	uids := make([]store.UID, len(msgs))
	for i := range msgs {
		m := &msgs[i].m
		if _, err := w.exec(`DELETE FROM messages WHERE mailbox_id=? AND uid=?`, mb.id, m.UID); err != nil {
			return err
		}
		if _, err := w.exec(`INSERT OR REPLACE INTO tombstones(mailbox_id, uid, modseq) VALUES(?,?,?)`, mb.id, m.UID, modseq); err != nil {
			return err
		}
		mb.dMessages--
		mb.dSize -= m.Size
		if m.Flags.System&store.FlagSeen == 0 {
			mb.dUnseen--
		}
		uids[i] = m.UID
	}
	w.s.noteRetained(mb.id, len(msgs))
	id := mb.id
	w.cache = append(w.cache, func(c *flagCache) { c.remove(id, uids) })
	return nil
}

// Copy implements store.Mail (UIDPLUS, RFC 4315 §3). The copies share the
// blob (reference count); no byte is copied. The copies count against the
// quota.
func (s *Store) Copy(ctx context.Context, acct store.AccountID, src store.MailboxID, uids store.UIDSet, dst store.MailboxID) (store.CopyResult, error) {
	var res store.CopyResult
	err := s.do(ctx, nil, func(w *wtx) error {
		var err error
		res, err = w.copyMessages(acct, src, uids, dst, store.CopyOptions{})
		return err
	})
	return res, err
}

// Move implements store.Mail: copy and remove in one transaction (RFC 6851).
func (s *Store) Move(ctx context.Context, acct store.AccountID, src store.MailboxID, uids store.UIDSet, dst store.MailboxID) (store.CopyResult, error) {
	var res store.CopyResult
	err := s.do(ctx, nil, func(w *wtx) error {
		var err error
		res, err = w.copyMessages(acct, src, uids, dst, store.CopyOptions{Move: true})
		return err
	})
	return res, err
}

// copyMessages copies (and with opt.Move removes) the messages of uids;
// see store.CopyOptions for the retained ones and Exact.
func (w *wtx) copyMessages(acct store.AccountID, src store.MailboxID, uids store.UIDSet, dst store.MailboxID, opt store.CopyOptions) (store.CopyResult, error) {
	move := opt.Move
	smb, err := w.openSelected(acct, src)
	if err != nil {
		return store.CopyResult{}, err
	}
	dmb := smb
	if dst != src {
		if dmb, err = w.openSelected(acct, dst); err != nil {
			return store.CopyResult{}, err
		}
	}
	res := store.CopyResult{UIDValidity: dmb.uidValidity}
	msgs, err := w.selectMessages(smb.id, uids, "")
	if err != nil {
		return res, err
	}
	live := msgs
	if opt.Retained {
		// Retained and present UIDs never overlap (UIDs are not reused).
		ret, err := w.selectFrom("retained", smb.id, uids, "")
		if err != nil {
			return res, err
		}
		if len(ret) > 0 {
			msgs = append(slices.Clone(msgs), ret...)
			slices.SortFunc(msgs, func(a, b msgRow) int { return cmp.Compare(a.m.UID, b.m.UID) })
		}
	}
	if opt.Exact && uint64(len(msgs)) != setSize(uids) {
		return res, store.ErrExpunged // RFC 2180 §4.4.1: nothing copied
	}
	if len(msgs) == 0 {
		return res, nil
	}
	// A copy adds its bytes to the account; a move only those of the
	// retained messages, which left the account's size when expunged.
	var total, liveSize int64
	for _, r := range msgs {
		total += r.m.Size
	}
	for _, r := range live {
		liveSize += r.m.Size
	}
	if move {
		total -= liveSize
	}
	if total > 0 {
		if err := w.checkQuota(acct, total); err != nil {
			return res, err
		}
	}
	now := time.Now()
	refs := map[int64]int{}
	for _, r := range msgs {
		c := r.m
		c.UID, c.ModSeq, c.SaveDate = dmb.uidNext, dmb.bump(), now
		if err := w.insertMessage(dmb, &c, r.blob); err != nil {
			return res, err
		}
		refs[r.blob]++
		res.Pairs = append(res.Pairs, store.UIDPair{Src: r.m.UID, Dst: c.UID})
	}
	for id, n := range refs {
		if _, err := w.exec(`UPDATE blobs SET refcount=refcount+? WHERE id=?`, n, id); err != nil {
			return res, err
		}
	}
	if move {
		// Retained messages are expunged already: only the present go.
		if err := w.expunge(smb, live); err != nil {
			return res, err
		}
	}
	if err := w.save(dmb); err != nil {
		return res, err
	}
	if smb != dmb {
		return res, w.save(smb)
	}
	return res, nil
}

// Search implements store.Mail. Flags, sizes, dates, MODSEQ and UID
// ranges are evaluated by SQLite (the unseen test by a partial index);
// keywords and q.Match in Go, a chunk of rows at a time.
func (s *Store) Search(ctx context.Context, acct store.AccountID, mbox store.MailboxID, q store.Query) ([]store.UID, error) {
	if err := s.checkMailbox(ctx, acct, mbox); err != nil {
		return nil, err
	}
	if !q.NeedInfo && s.cache.enabled() {
		return s.searchCached(ctx, acct, mbox, q)
	}
	return s.searchSQL(ctx, acct, mbox, q)
}

// searchQuery is the chunk query of searchSQL. Arguments: mailbox,
// account, the last UID read (exclusive), the highest UID of the set,
// then those of where.
func searchQuery(cols, from, join, where string) string {
	return `SELECT ` + cols + from + join + ` WHERE ` + mboxScope + ` AND m.uid > ? AND m.uid <= ?` + where +
		` ORDER BY m.uid LIMIT ` + fmt.Sprint(chunk)
}

// searchBounds returns where the scan of a UID set starts (exclusive) and
// ends (inclusive): one index range from its lowest to its highest UID.
func searchBounds(set store.UIDSet) (after, last store.UID) {
	last = ^store.UID(0)
	if len(set) > 0 {
		after, last = set[0].Lo, set[len(set)-1].Hi
		if after > 0 {
			after--
		}
	}
	return after, last
}

// searchSQL is Search in the index.
func (s *Store) searchSQL(ctx context.Context, acct store.AccountID, mbox store.MailboxID, q store.Query) ([]store.UID, error) {
	if sparseSet(q.UIDs) {
		return s.searchSparse(ctx, acct, mbox, q)
	}
	where, args, filter := searchWhere(q)
	plain := q.Match == nil && len(q.Keywords) == 0 && len(q.NotKeywords) == 0
	cols, join := msgCols, ""
	switch {
	case plain:
		cols = "m.uid"
	case q.NeedInfo:
		cols, join = msgCols+", b.info", " JOIN blobs b ON b.id=m.blob_id"
	}
	from := " FROM messages m"
	if q.FlagsUnset&store.FlagSeen != 0 {
		// Without statistics the planner prefers the primary key for
		// ORDER BY uid; the partial index reads only unseen messages.
		from += " INDEXED BY messages_unseen"
	}
	sqlq := searchQuery(cols, from, join, where)
	var out []store.UID
	after, last := searchBounds(q.UIDs)
	for {
		a := append([]any{mbox, acct, after, last}, args...)
		var msgs []store.Message
		var err error
		if plain {
			var uids []store.UID
			uids, err = queryUIDs(ctx, s.rdb, sqlq, a...)
			msgs = make([]store.Message, len(uids))
			for i, u := range uids {
				msgs[i].UID = u
			}
		} else {
			msgs, err = s.readMessages(ctx, sqlq, a, q.NeedInfo)
		}
		if err != nil {
			return nil, err
		}
		for i := range msgs {
			ok, err := matchRest(&q, filter, &msgs[i])
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, msgs[i].UID)
			}
		}
		if len(msgs) < chunk {
			return out, nil
		}
		after = msgs[len(msgs)-1].UID
	}
}

// searchWhere translates the indexable fields of q to SQL.
func searchWhere(q store.Query) (string, []any, bool) {
	where, args, filter := uidClause(q.UIDs)
	// The chunked scan seeks with its own "uid > last AND uid <= hi"
	// bounds; "+" keeps SQLite from seeking on the set's BETWEEN instead,
	// which would re-read every earlier row for each chunk (quadratic on a
	// big mailbox).
	where = strings.ReplaceAll(where, "m.uid BETWEEN", "+m.uid BETWEEN")
	var b strings.Builder
	b.WriteString(where)
	add := func(cond string, a ...any) {
		b.WriteString(" AND " + cond)
		args = append(args, a...)
	}
	if f := q.FlagsSet & store.AllSystemFlags; f != 0 {
		add("m.sysflags & ? = ?", int(f), int(f))
	}
	if q.FlagsUnset&store.FlagSeen != 0 {
		// Literal form, so that the planner uses the partial index
		// messages_unseen.
		b.WriteString(" AND m.sysflags & 1 = 0")
	}
	if f := q.FlagsUnset & store.AllSystemFlags &^ store.FlagSeen; f != 0 {
		add("m.sysflags & ? = 0", int(f))
	}
	if q.MinSize > 0 {
		add("m.size > ?", q.MinSize)
	}
	if q.MaxSize > 0 {
		add("m.size < ?", q.MaxSize)
	}
	if !q.Since.IsZero() {
		add("m.internal_date >= ?", q.Since.UnixNano())
	}
	if !q.Before.IsZero() {
		add("m.internal_date < ?", q.Before.UnixNano())
	}
	if !q.SavedSince.IsZero() {
		add("m.save_date >= ?", q.SavedSince.UnixNano())
	}
	if !q.SavedBefore.IsZero() {
		add("m.save_date < ?", q.SavedBefore.UnixNano())
	}
	if q.MinModSeq > 0 {
		add("m.modseq >= ?", int64(q.MinModSeq))
	}
	return b.String(), args, filter
}

// matchRest applies what SQL did not: the UID set beyond maxSQLRanges,
// keywords and q.Match.
func matchRest(q *store.Query, filter bool, m *store.Message) (bool, error) {
	if filter && !setContains(q.UIDs, m.UID) {
		return false, nil
	}
	return q.MatchRest(m)
}
