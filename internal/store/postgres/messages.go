package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/store"
)

// chunk is how many rows a listing reads at a time. The rows of a chunk
// are read to the end and the connection released before the caller's
// callback runs, so that a callback may call the store again (FETCH
// opening bodies) without holding a pooled connection.
const chunk = 2000

// mboxScope confines a query to one mailbox of one account: the EXISTS
// is false (matching nothing) for a mailbox of another account, and is
// evaluated once. Its two placeholders are the mailbox and the account.
// The mailbox is compared with the parameter itself, not with a subquery's
// result, so that the planner knows which mailbox it plans for.
const mboxScope = `m.mailbox_id = $1 AND EXISTS(SELECT 1 FROM mailboxes WHERE id=$1 AND account_id=$2)`

// msgCols are the columns of a store.Message. The blob a row points at
// (m.blob_id) is the backend's own business: only COPY, which shares it,
// reads it (selectFrom, msgRow).
const msgCols = `m.uid, m.modseq, m.sysflags, m.keywords, m.internal_date, m.save_date, m.size`

// msgRow is a message row with the blob it references.
type msgRow struct {
	store.Message
	blob int64
}

// scanMessage reads msgCols (and extra) into m.
func scanMessage(r pgx.Row, m *store.Message, extra ...any) error {
	var kw string
	var uid, flags, idate, sdate int64
	dst := append([]any{&uid, &m.ModSeq, &flags, &kw, &idate, &sdate, &m.Size}, extra...)
	if err := r.Scan(dst...); err != nil {
		return err
	}
	m.UID, m.Flags.System = store.UID(uid), store.SysFlags(flags)
	m.Flags.Keywords = store.SplitKeywords(kw)
	m.InternalDate, m.SaveDate = fromNano(idate), fromNano(sdate)
	return nil
}

// checkMailbox returns ErrNotFound unless mbox belongs to acct.
func (s *Store) checkMailbox(ctx context.Context, acct store.AccountID, mbox store.MailboxID) error {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS(SELECT 1 FROM mailboxes WHERE id=$1 AND account_id=$2)`, mbox, acct).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return store.ErrNotFound
	}
	return nil
}

// readMessages runs a message query to the end.
func (s *Store) readMessages(ctx context.Context, q string, a []any, withInfo bool) ([]store.Message, error) {
	rows, err := s.pool.Query(ctx, q, a...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var msgs []store.Message
	for rows.Next() {
		msgs = append(msgs, store.Message{})
		m := &msgs[len(msgs)-1]
		var extra []any
		if withInfo {
			extra = []any{&m.Info}
		}
		if err := scanMessage(rows, m, extra...); err != nil {
			return nil, err
		}
	}
	return msgs, rows.Err()
}

// span is a UID range read by one run of chunked range scans; filter says
// the UIDs must also be checked against the set (gaps were merged in).
type span struct {
	lo, hi store.UID
	filter bool
}

// listSpans turns a UID set into ranges to scan. Ranges closer than a
// chunk are merged (the rows in the gap are read and skipped).
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

// listQuery is the chunk query of ListMessages. Present and retained rows
// never share a UID in one statement's snapshot (an expunge moves the row
// in one transaction), so with retained rows the union is a plain merge.
// Arguments: mailbox, account, first UID, last UID, then changedSince.
func listQuery(opt *store.ListOptions) string {
	cols, join := msgCols, ""
	if opt.WithInfo {
		cols, join = msgCols+", b.info", " JOIN blobs b ON b.id=m.blob_id"
	}
	from := "messages"
	if opt.Retained {
		from = `(SELECT mailbox_id, uid, modseq, sysflags, keywords, internal_date, save_date, size, blob_id FROM messages
			UNION ALL SELECT mailbox_id, uid, modseq, sysflags, keywords, internal_date, save_date, size, blob_id FROM retained)`
	}
	q := `SELECT ` + cols + ` FROM ` + from + ` m` + join + ` WHERE ` + mboxScope + ` AND m.uid >= $3 AND m.uid <= $4`
	if opt.ChangedSince > 0 {
		q += ` AND m.modseq > $5`
	}
	return q + ` ORDER BY m.uid LIMIT ` + fmt.Sprint(chunk)
}

// ListMessages implements store.Mail, in chunks of rows.
func (s *Store) ListMessages(ctx context.Context, acct store.AccountID, mbox store.MailboxID, opt store.ListOptions, fn func(*store.Message) error) error {
	if done, err := s.listCached(ctx, acct, mbox, &opt, fn); done {
		return err
	}
	// The query's scope matches nothing of a mailbox not acct's: only a
	// listing that found nothing asks whether the mailbox is there, so
	// that a short listing (the last 50 ENVELOPEs) is one round trip.
	found := false
	q := listQuery(&opt)
	for _, sp := range listSpans(opt.UIDs) {
		lo := sp.lo
		for {
			a := []any{mbox, acct, int64(lo), int64(sp.hi)}
			if opt.ChangedSince > 0 {
				a = append(a, int64(opt.ChangedSince))
			}
			msgs, err := s.readMessages(ctx, q, a, opt.WithInfo)
			if err != nil {
				return err
			}
			found = found || len(msgs) > 0
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
	if !found {
		return s.checkMailbox(ctx, acct, mbox)
	}
	return nil
}

// Search implements store.Mail. Flags, sizes, dates, MODSEQ and UID ranges
// are evaluated by PostgreSQL (the unseen test by a partial index);
// keywords and q.Match in Go, a chunk of rows at a time.
func (s *Store) Search(ctx context.Context, acct store.AccountID, mbox store.MailboxID, q store.Query) ([]store.UID, error) {
	if uids, done, err := s.searchCached(ctx, acct, mbox, q); done {
		return uids, err
	}
	if err := s.checkMailbox(ctx, acct, mbox); err != nil {
		return nil, err
	}
	a := args{mbox, acct, int64(0), int64(0)}
	where, filter := searchWhere(q, &a)
	plain := q.Match == nil && len(q.Keywords) == 0 && len(q.NotKeywords) == 0
	cols, join, n := msgCols, "", chunk
	switch {
	case plain:
		cols, n = "m.uid", 50*chunk
	case q.NeedInfo:
		cols, join = msgCols+", b.info", " JOIN blobs b ON b.id=m.blob_id"
	}
	sqlq := `SELECT ` + cols + ` FROM messages m` + join + ` WHERE ` + mboxScope + ` AND m.uid > $3 AND m.uid <= $4` + where +
		` ORDER BY m.uid LIMIT ` + fmt.Sprint(n)
	after, last := store.UID(0), ^store.UID(0)
	if len(q.UIDs) > 0 {
		after, last = q.UIDs[0].Lo, q.UIDs[len(q.UIDs)-1].Hi
		if after > 0 {
			after--
		}
	}
	var out []store.UID
	for {
		a[2], a[3] = int64(after), int64(last)
		var msgs []store.Message
		if plain {
			rows, _ := s.pool.Query(ctx, sqlq, a...)
			uids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return nil, err
			}
			msgs = make([]store.Message, len(uids))
			for i, u := range uids {
				msgs[i].UID = store.UID(u)
			}
		} else {
			var err error
			if msgs, err = s.readMessages(ctx, sqlq, a, q.NeedInfo); err != nil {
				return nil, err
			}
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
		if len(msgs) < n {
			return out, nil
		}
		after = msgs[len(msgs)-1].UID
	}
}

// searchWhere translates the indexable fields of q to SQL.
func searchWhere(q store.Query, a *args) (string, bool) {
	where, filter := uidClause(q.UIDs, a)
	add := func(cond string, v ...any) {
		for _, x := range v {
			cond = fmt.Sprintf(cond, a.add(x))
		}
		where += " AND " + cond
	}
	if f := q.FlagsSet & store.AllSystemFlags; f != 0 {
		add("m.sysflags & %s = "+fmt.Sprint(int(f)), int(f))
	}
	if q.FlagsUnset&store.FlagSeen != 0 {
		// Literal form, so that the planner can use messages_unseen.
		where += " AND m.sysflags & 1 = 0"
	}
	if f := q.FlagsUnset & store.AllSystemFlags &^ store.FlagSeen; f != 0 {
		add("m.sysflags & %s = 0", int(f))
	}
	if q.MinSize > 0 {
		add("m.size > %s", q.MinSize)
	}
	if q.MaxSize > 0 {
		add("m.size < %s", q.MaxSize)
	}
	if !q.Since.IsZero() {
		add("m.internal_date >= %s", q.Since.UnixNano())
	}
	if !q.Before.IsZero() {
		add("m.internal_date < %s", q.Before.UnixNano())
	}
	if !q.SavedSince.IsZero() {
		add("m.save_date >= %s", q.SavedSince.UnixNano())
	}
	if !q.SavedBefore.IsZero() {
		add("m.save_date < %s", q.SavedBefore.UnixNano())
	}
	if q.MinModSeq > 0 {
		add("m.modseq >= %s", int64(q.MinModSeq))
	}
	return where, filter
}

// matchRest applies what SQL did not: the UID set beyond maxSQLRanges,
// keywords and q.Match.
func matchRest(q *store.Query, filter bool, m *store.Message) (bool, error) {
	if filter && !setContains(q.UIDs, m.UID) {
		return false, nil
	}
	return q.MatchRest(m)
}

// OpenMessage implements store.Mail.
func (s *Store) OpenMessage(ctx context.Context, acct store.AccountID, mbox store.MailboxID, uid store.UID) (store.MessageReader, error) {
	return s.OpenMessageWith(ctx, acct, mbox, uid, store.OpenOptions{})
}

// OpenMessageWith implements store.Mail. The reader fetches chunks of the
// blob as they are read (blob.go); nothing is loaded whole.
func (s *Store) OpenMessageWith(ctx context.Context, acct store.AccountID, mbox store.MailboxID, uid store.UID, opt store.OpenOptions) (store.MessageReader, error) {
	q := `SELECT b.id, b.size, b.ext FROM messages m JOIN blobs b ON b.id=m.blob_id WHERE ` + mboxScope + ` AND m.uid=$3`
	if opt.Retained {
		q = `SELECT b.id, b.size, b.ext FROM (SELECT mailbox_id, uid, blob_id FROM messages UNION ALL SELECT mailbox_id, uid, blob_id FROM retained) m
			JOIN blobs b ON b.id=m.blob_id WHERE ` + mboxScope + ` AND m.uid=$3`
	}
	var id, size int64
	var ext *string
	if err := s.pool.QueryRow(ctx, q, mbox, acct, int64(uid)).Scan(&id, &size, &ext); err != nil {
		return nil, notFound(err)
	}
	if ext != nil {
		return s.openExt(ctx, *ext, size)
	}
	return s.openBlob(id, size), nil
}

// Quota implements store.Mail.
func (s *Store) Quota(ctx context.Context, acct store.AccountID) (used, limit int64, err error) {
	err = s.pool.QueryRow(ctx, `SELECT (SELECT COALESCE(SUM(x.size), 0)::bigint FROM mailboxes x WHERE x.account_id=accounts.id), quota_bytes
		FROM accounts WHERE id=$1`, acct).Scan(&used, &limit)
	return used, limit, notFound(err)
}

// readTx runs fn in a read-only REPEATABLE READ transaction: one snapshot.
func (s *Store) readTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// Changes implements store.Mail, from one snapshot.
func (s *Store) Changes(ctx context.Context, acct store.AccountID, mbox store.MailboxID, since store.ModSeq) (store.Changes, error) {
	var c store.Changes
	err := s.readTx(ctx, func(t pgx.Tx) error {
		var next int64
		if err := t.QueryRow(ctx, `SELECT highestmodseq, uidnext FROM mailboxes WHERE id=$1 AND account_id=$2`, mbox, acct).
			Scan(&c.HighestModSeq, &next); err != nil {
			return notFound(err)
		}
		c.UIDNext = store.UID(next)
		rows, err := t.Query(ctx, `SELECT `+msgCols+` FROM messages m WHERE `+mboxScope+` AND m.modseq > $3 ORDER BY m.uid`, mbox, acct, int64(since))
		if err != nil {
			return err
		}
		for rows.Next() {
			var m store.Message
			if err := scanMessage(rows, &m); err != nil {
				rows.Close()
				return err
			}
			c.Changed = append(c.Changed, m)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows, _ = t.Query(ctx, `SELECT m.uid FROM tombstones m WHERE `+mboxScope+` AND m.modseq > $3 ORDER BY m.uid`, mbox, acct, int64(since))
		uids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		for _, u := range uids {
			c.Vanished = c.Vanished.AppendRange(store.UID(u), store.UID(u))
		}
		return nil
	})
	return c, err
}

// MailboxKeywords implements store.KeywordLister: one index entry per
// distinct keyword list (messages_keywords), not every message.
func (s *Store) MailboxKeywords(ctx context.Context, acct store.AccountID, mbox store.MailboxID) ([]string, error) {
	if err := s.checkMailbox(ctx, acct, mbox); err != nil {
		return nil, err
	}
	return keywordsSQL(ctx, s.pool, mbox)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func keywordsSQL(ctx context.Context, q querier, mbox store.MailboxID) ([]string, error) {
	rows, _ := q.Query(ctx, `SELECT DISTINCT keywords FROM messages WHERE mailbox_id=$1 AND keywords <> ''`, mbox)
	lists, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	var ks store.KeywordSet
	for _, l := range lists {
		ks.Add(store.SplitKeywords(l))
	}
	return ks.Sorted(), nil
}

// SelectState implements store.SelectStater from one snapshot: the UID
// runs, the first unseen (messages_unseen) and the keywords. The runs are
// the UIDs below UIDNEXT without a tombstone (every UID given was a
// message, and every message that went left a tombstone), checked against
// the mailbox's message count; should they disagree, PostgreSQL computes
// them from the messages (consecutive UIDs share uid - row_number).
func (s *Store) SelectState(ctx context.Context, acct store.AccountID, mbox store.MailboxID) (store.MailboxState, error) {
	if st, done, err := s.selectCached(ctx, acct, mbox); done {
		return st, err
	}
	return s.selectStateSQL(ctx, acct, mbox)
}

// selectStateSQL is SelectState read from the tables.
func (s *Store) selectStateSQL(ctx context.Context, acct store.AccountID, mbox store.MailboxID) (store.MailboxState, error) {
	var st store.MailboxState
	err := s.readTx(ctx, func(t pgx.Tx) error {
		var next, count int64
		if err := t.QueryRow(ctx, `SELECT uidnext, messages FROM mailboxes WHERE id=$1 AND account_id=$2`, mbox, acct).Scan(&next, &count); err != nil {
			return notFound(err)
		}
		runs, err := runsFromTombstones(ctx, t, mbox, next, count)
		if err != nil {
			return err
		}
		if runs == nil && count > 0 {
			if runs, err = runsFromMessages(ctx, t, mbox); err != nil {
				return err
			}
		}
		st.UIDs = runs
		var first *int64
		if err := t.QueryRow(ctx, `SELECT MIN(uid) FROM messages WHERE mailbox_id=$1 AND sysflags & 1 = 0`, mbox).Scan(&first); err != nil {
			return err
		}
		if first != nil {
			st.FirstUnseen = store.UID(*first)
		}
		st.Keywords, err = keywordsSQL(ctx, t, mbox)
		return err
	})
	return st, err
}

// runsFromTombstones returns [1, next) without the tombstones' UIDs, or
// nil if that does not count count messages.
func runsFromTombstones(ctx context.Context, t pgx.Tx, mbox store.MailboxID, next, count int64) (store.UIDSet, error) {
	rows, _ := t.Query(ctx, `SELECT uid FROM tombstones WHERE mailbox_id=$1 AND uid < $2 ORDER BY uid`, mbox, next)
	gone, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	var runs store.UIDSet
	lo, n := int64(1), int64(0)
	for _, g := range append(gone, next) {
		if g > lo {
			runs = append(runs, store.UIDRange{Lo: store.UID(lo), Hi: store.UID(g - 1)})
			n += g - lo
		}
		lo = g + 1
	}
	if n != count {
		return nil, nil
	}
	if runs == nil {
		runs = store.UIDSet{}
	}
	return runs, nil
}

// runsFromMessages computes the UID runs from the messages themselves.
func runsFromMessages(ctx context.Context, t pgx.Tx, mbox store.MailboxID) (store.UIDSet, error) {
	rows, err := t.Query(ctx, `SELECT MIN(uid), MAX(uid) FROM
		(SELECT uid, uid - row_number() OVER (ORDER BY uid) AS g FROM messages WHERE mailbox_id=$1) r
		GROUP BY g ORDER BY 1`, mbox)
	if err != nil {
		return nil, err
	}
	var runs store.UIDSet
	var lo, hi int64
	_, err = pgx.ForEachRow(rows, []any{&lo, &hi}, func() error {
		runs = append(runs, store.UIDRange{Lo: store.UID(lo), Hi: store.UID(hi)})
		return nil
	})
	return runs, err
}
