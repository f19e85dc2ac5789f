package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/youju/youju/internal/blob"
	"github.com/youju/youju/internal/store"
)

// chunk is how many rows a read takes at a time. Rows are read in chunks
// and the connection is released before the caller's callback runs, so a
// callback may call the store again (FETCH opening bodies) without holding
// a pooled connection.
const chunk = 2000

// mboxScope is the SQL that confines a query to one mailbox of one
// account: the scalar subquery is NULL (matching nothing) for a mailbox
// of another account. Arguments: mailbox id, account id.
const mboxScope = `m.mailbox_id = (SELECT id FROM mailboxes WHERE id=? AND account_id=?)`

// msgCols are the columns of a store.Message. The blob a row points at
// (m.blob_id) is the backend's own business: only the write paths that
// share or release blobs read it (selectFrom).
const msgCols = `m.uid, m.modseq, m.sysflags, m.keywords, m.internal_date, m.save_date, m.size`

func scanMessage(r interface{ Scan(...any) error }, m *store.Message, extra ...any) error {
	var kw string
	var idate, sdate int64
	dst := append([]any{&m.UID, &m.ModSeq, &m.Flags.System, &kw, &idate, &sdate, &m.Size}, extra...)
	if err := r.Scan(dst...); err != nil {
		return err
	}
	m.Flags.Keywords = store.SplitKeywords(kw)
	m.InternalDate, m.SaveDate = fromNano(idate), fromNano(sdate)
	return nil
}

// checkMailbox returns ErrNotFound unless mbox belongs to acct.
func (s *Store) checkMailbox(ctx context.Context, acct store.AccountID, mbox store.MailboxID) error {
	var n int
	if err := s.rq.QueryRowContext(ctx, `SELECT COUNT(*) FROM mailboxes WHERE id=? AND account_id=?`, mbox, acct).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// mboxState is a mailbox being changed by one write request.
type mboxState struct {
	id          store.MailboxID
	acct        store.AccountID
	uidValidity uint32
	uidNext     store.UID
	modSeq      store.ModSeq
	bumped      bool
	dirty       bool // changed by deliveries, written by flush
	dMessages   int
	dUnseen     int
	dSize       int64
}

// openMailbox reads a mailbox of the account for change.
func (w *wtx) openMailbox(acct store.AccountID, id store.MailboxID) (*mboxState, error) {
	m := &mboxState{acct: acct}
	err := w.queryRow(`SELECT id, uidvalidity, uidnext, highestmodseq FROM mailboxes WHERE id=? AND account_id=?`,
		id, acct).Scan(&m.id, &m.uidValidity, &m.uidNext, &m.modSeq)
	return m, notFound(err)
}

// bump returns the MODSEQ of this request's changes in the mailbox: one
// new value per request, shared by every message it changes (RFC 7162
// §3.1.1 only requires that it grows).
func (m *mboxState) bump() store.ModSeq {
	if !m.bumped {
		m.modSeq++
		m.bumped = true
	}
	return m.modSeq
}

// save writes the mailbox's new state and queues the change event. An
// account's used bytes are the sum of its mailboxes' sizes, so they
// cannot drift from the messages.
func (w *wtx) save(m *mboxState) error {
	if !m.bumped {
		return nil
	}
	if _, err := w.exec(`UPDATE mailboxes SET uidnext=?, highestmodseq=?, messages=messages+?, unseen=unseen+?, size=size+?
		WHERE id=?`, m.uidNext, m.modSeq, m.dMessages, m.dUnseen, m.dSize, m.id); err != nil {
		return err
	}
	w.event(store.Event{Account: m.acct, Mailbox: m.id, ModSeq: m.modSeq})
	return nil
}

// checkQuota fails with ErrQuotaExceeded if adding size bytes would take
// the account over its quota (RFC 9208 §5.1).
func (w *wtx) checkQuota(acct store.AccountID, size int64) error {
	var quota, used int64
	if err := w.queryRow(`SELECT quota_bytes, (SELECT COALESCE(SUM(x.size), 0) FROM mailboxes x WHERE x.account_id=accounts.id) FROM accounts WHERE id=?`, acct).Scan(&quota, &used); err != nil {
		return notFound(err)
	}
	if quota > 0 && used+size > quota {
		return store.ErrQuotaExceeded
	}
	return nil
}

// errUIDsExhausted is returned when a mailbox has used UID 4294967295: UIDs
// are never reused (RFC 9051 §2.3.1.1); the mailbox is full.
var errUIDsExhausted = fmt.Errorf("%w: mailbox UIDs exhausted", store.ErrQuotaExceeded)

// insertMessage adds m, a reference to blob, with the next UID of mb
// (m.UID must be mb.uidNext).
func (w *wtx) insertMessage(mb *mboxState, m *store.Message, blob int64) error {
	if m.UID == 0 { // uidnext wrapped past 4294967295
		return errUIDsExhausted
	}
	if _, err := w.exec(`INSERT INTO messages(mailbox_id, uid, modseq, sysflags, keywords, internal_date, save_date, size, blob_id)
		VALUES(?,?,?,?,?,?,?,?,?)`, mb.id, m.UID, m.ModSeq, m.Flags.System, store.JoinKeywords(m.Flags.Keywords),
		unixNano(m.InternalDate), unixNano(m.SaveDate), m.Size, blob); err != nil {
		return err
	}
	mb.uidNext = m.UID + 1
	mb.dMessages++
	mb.dSize += m.Size
	if m.Flags.System&store.FlagSeen == 0 {
		mb.dUnseen++
	}
	id, entry := mb.id, *m
	w.cache = append(w.cache, func(c *flagCache) { c.add(id, &entry) })
	return nil
}

// ListMessages implements store.Mail, in chunks of rows.
func (s *Store) ListMessages(ctx context.Context, acct store.AccountID, mbox store.MailboxID, opt store.ListOptions, fn func(*store.Message) error) error {
	if err := s.checkMailbox(ctx, acct, mbox); err != nil {
		return err
	}
	if !opt.WithInfo && s.cache.enabled() {
		return s.listCached(ctx, acct, mbox, opt, fn)
	}
	return s.listSQL(ctx, acct, mbox, opt, fn)
}

// readMessages runs a message query to the end and closes its rows.
func (s *Store) readMessages(ctx context.Context, q string, args []any, withInfo bool) ([]store.Message, error) {
	rows, err := s.rdb.QueryContext(ctx, q, args...)
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

// OpenMessage implements store.Mail. The reader reads the blob segment in
// place (io.SectionReader); nothing is loaded whole.
func (s *Store) OpenMessage(ctx context.Context, acct store.AccountID, mbox store.MailboxID, uid store.UID) (store.MessageReader, error) {
	var ref blob.Ref
	err := s.rq.QueryRowContext(ctx, `SELECT b.segment, b.off, b.length FROM messages m JOIN blobs b ON b.id=m.blob_id
		WHERE `+mboxScope+` AND m.uid=?`, mbox, acct, uid).Scan(&ref.Segment, &ref.Offset, &ref.Length)
	if err != nil {
		return nil, notFound(err)
	}
	r, err := s.blobs.Open(ref)
	if errors.Is(err, blob.ErrNotFound) {
		// Expunged (and its segment removed) since the index was read.
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Quota implements store.Mail.
func (s *Store) Quota(ctx context.Context, acct store.AccountID) (used, limit int64, err error) {
	err = s.rq.QueryRowContext(ctx, `SELECT (SELECT COALESCE(SUM(x.size), 0) FROM mailboxes x WHERE x.account_id=accounts.id), quota_bytes FROM accounts WHERE id=?`, acct).Scan(&used, &limit)
	return used, limit, notFound(err)
}

// Changes implements store.Mail, from one read snapshot.
func (s *Store) Changes(ctx context.Context, acct store.AccountID, mbox store.MailboxID, since store.ModSeq) (store.Changes, error) {
	var c store.Changes
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return c, err
	}
	defer tx.Rollback()
	err = tx.QueryRowContext(ctx, `SELECT highestmodseq, uidnext FROM mailboxes WHERE id=? AND account_id=?`, mbox, acct).
		Scan(&c.HighestModSeq, &c.UIDNext)
	if err != nil {
		return c, notFound(err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+msgCols+` FROM messages m WHERE `+mboxScope+` AND m.modseq > ? ORDER BY m.uid`, mbox, acct, since)
	if err != nil {
		return c, err
	}
	for rows.Next() {
		var m store.Message
		if err := scanMessage(rows, &m); err != nil {
			rows.Close()
			return c, err
		}
		c.Changed = append(c.Changed, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return c, err
	}
	uids, err := queryUIDs(ctx, tx, `SELECT m.uid FROM tombstones m WHERE `+mboxScope+` AND m.modseq > ? ORDER BY m.uid`, mbox, acct, since)
	if err != nil {
		return c, err
	}
	c.Vanished = store.UIDSetOf(uids)
	// Wait for a commit this read saw to reach the flag cache.
	s.applyMu.RLock()
	s.applyMu.RUnlock()
	return c, nil
}

var _ store.BlobKeys = (*Store)(nil)

// BlobKeys implements store.BlobKeys: the key is the blobs row id.
func (s *Store) BlobKeys(ctx context.Context, acct store.AccountID, mbox store.MailboxID, lo, hi store.UID) (map[store.UID]int64, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT m.uid, m.blob_id FROM messages m WHERE `+mboxScope+` AND m.uid >= ? AND m.uid <= ?`,
		mbox, acct, lo, hi)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	keys := map[store.UID]int64{}
	for rows.Next() {
		var u store.UID
		var b int64
		if err := rows.Scan(&u, &b); err != nil {
			return nil, err
		}
		keys[u] = b
	}
	return keys, rows.Err()
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func queryUIDs(ctx context.Context, db querier, q string, args ...any) ([]store.UID, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var uids []store.UID
	for rows.Next() {
		var u store.UID
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		uids = append(uids, u)
	}
	return uids, rows.Err()
}
