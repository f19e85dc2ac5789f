package sqlite

import (
	"context"
	"strings"
	"time"

	"github.com/youju/youju/internal/store"
)

const mailboxCols = `b.id, b.account_id, b.name, b.uidvalidity, b.uidnext, b.highestmodseq, b.special_use,
	EXISTS(SELECT 1 FROM subscriptions s WHERE s.account_id=b.account_id AND s.name=b.name),
	b.messages, b.unseen, b.size`

func scanMailbox(r interface{ Scan(...any) error }) (store.Mailbox, error) {
	var m store.Mailbox
	err := r.Scan(&m.ID, &m.AccountID, &m.Name, &m.UIDValidity, &m.UIDNext, &m.HighestModSeq, &m.SpecialUse,
		&m.Subscribed, &m.Messages, &m.Unseen, &m.Size)
	return m, notFound(err)
}

// Mailboxes implements store.Mail.
func (s *Store) Mailboxes(ctx context.Context, acct store.AccountID) ([]store.Mailbox, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+mailboxCols+` FROM mailboxes b WHERE b.account_id=? ORDER BY b.name`, acct)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ms []store.Mailbox
	for rows.Next() {
		m, err := scanMailbox(rows)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, rows.Err()
}

// Mailbox implements store.Mail.
func (s *Store) Mailbox(ctx context.Context, acct store.AccountID, name string) (store.Mailbox, error) {
	name, err := store.NormMailboxName(name)
	if err != nil {
		return store.Mailbox{}, store.ErrNotFound
	}
	return scanMailbox(s.rq.QueryRowContext(ctx, `SELECT `+mailboxCols+` FROM mailboxes b WHERE b.account_id=? AND b.name=?`, acct, name))
}

// MailboxByID implements store.Mail.
func (s *Store) MailboxByID(ctx context.Context, acct store.AccountID, id store.MailboxID) (store.Mailbox, error) {
	return scanMailbox(s.rq.QueryRowContext(ctx, `SELECT `+mailboxCols+` FROM mailboxes b WHERE b.account_id=? AND b.id=?`, acct, id))
}

// nextUIDValidity returns a UIDVALIDITY never given before in this store:
// the current time, or one more than the last if the clock went back or
// several mailboxes are created within a second (RFC 9051 §2.3.1.1).
func (w *wtx) nextUIDValidity() (uint32, error) {
	var last int64
	err := w.queryRow(`SELECT v FROM meta WHERE k='uidvalidity'`).Scan(&last)
	if err != nil && notFound(err) != store.ErrNotFound {
		return 0, err
	}
	v := max(time.Now().Unix(), last+1)
	if v > 0xffffffff || v <= 0 {
		v = 1 // wrapped (year 2106): still distinct from the previous
	}
	if _, err := w.exec(`INSERT INTO meta(k, v) VALUES('uidvalidity', ?) ON CONFLICT(k) DO UPDATE SET v=excluded.v`, v); err != nil {
		return 0, err
	}
	return uint32(v), nil
}

// createMailbox inserts one mailbox (the name already normalised).
func (w *wtx) createMailbox(acct store.AccountID, name, special string) (store.Mailbox, error) {
	uv, err := w.nextUIDValidity()
	if err != nil {
		return store.Mailbox{}, err
	}
	res, err := w.exec(`INSERT INTO mailboxes(account_id, name, uidvalidity, uidnext, highestmodseq, special_use)
		VALUES(?, ?, ?, 1, 1, ?)`, acct, name, uv, special)
	if isConstraint(err) {
		return store.Mailbox{}, store.ErrExists
	}
	if err != nil {
		return store.Mailbox{}, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return store.Mailbox{}, err
	}
	w.event(store.Event{Account: acct, Mailboxes: true})
	return store.Mailbox{ID: store.MailboxID(id), AccountID: acct, Name: name, UIDValidity: uv, UIDNext: 1,
		HighestModSeq: 1, SpecialUse: special}, nil
}

// createWithParents creates name and its missing ancestors (RFC 9051
// §6.3.4: the server SHOULD create the superior names).
func (w *wtx) createWithParents(acct store.AccountID, name, special string) (store.Mailbox, error) {
	if err := w.accountExists(acct); err != nil {
		return store.Mailbox{}, err
	}
	for _, p := range store.MailboxParents(name) {
		if _, err := w.createMailbox(acct, p, ""); err != nil && err != store.ErrExists {
			return store.Mailbox{}, err
		}
	}
	return w.createMailbox(acct, name, special)
}

func (w *wtx) accountExists(acct store.AccountID) error {
	var n int
	if err := w.queryRow(`SELECT COUNT(*) FROM accounts WHERE id=?`, acct).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// CreateMailbox implements store.Mail.
func (s *Store) CreateMailbox(ctx context.Context, acct store.AccountID, name, specialUse string) (store.Mailbox, error) {
	name, err := store.NormMailboxName(name)
	if err != nil {
		return store.Mailbox{}, err
	}
	if !store.ValidSpecialUse(specialUse) {
		return store.Mailbox{}, store.ErrInvalidName
	}
	var m store.Mailbox
	err = s.do(ctx, nil, func(w *wtx) error {
		m, err = w.createWithParents(acct, name, specialUse)
		return err
	})
	return m, err
}

// mailboxID finds a mailbox of the account by (normalised) name.
func (w *wtx) mailboxID(acct store.AccountID, name string) (store.MailboxID, error) {
	var id store.MailboxID
	err := w.queryRow(`SELECT id FROM mailboxes WHERE account_id=? AND name=?`, acct, name).Scan(&id)
	return id, notFound(err)
}

// hasChildren reports whether names below name exist.
func (w *wtx) hasChildren(acct store.AccountID, name string) (bool, error) {
	var n int
	prefix := name + string(store.Delimiter)
	err := w.queryRow(`SELECT EXISTS(SELECT 1 FROM mailboxes WHERE account_id=? AND substr(name, 1, ?)=?)`,
		acct, len(prefix), prefix).Scan(&n)
	return n == 1, err
}

// DeleteMailbox implements store.Mail. INBOX cannot be deleted; a mailbox
// with children fails with store.ErrHasChildren (this store has no
// \Noselect mailboxes, RFC 9051 §6.3.5). Its messages are deleted.
func (s *Store) DeleteMailbox(ctx context.Context, acct store.AccountID, name string) error {
	name, err := store.NormMailboxName(name)
	if err != nil {
		return store.ErrNotFound
	}
	if name == store.InboxName {
		return store.ErrSpecialMailbox
	}
	return s.do(ctx, nil, func(w *wtx) error {
		id, err := w.mailboxID(acct, name)
		if err != nil {
			return err
		}
		if has, err := w.hasChildren(acct, name); err != nil {
			return err
		} else if has {
			return store.ErrHasChildren
		}
		if err := w.dropMailbox(id); err != nil {
			return err
		}
		w.event(store.Event{Account: acct, Mailboxes: true})
		return nil
	})
}

// dropMailbox deletes a mailbox with its messages, tombstones, retained
// messages and blob references (its bytes leave the account's used bytes
// with it).
func (w *wtx) dropMailbox(id store.MailboxID) error {
	if err := w.dropRetained(id); err != nil {
		return err
	}
	if _, err := w.exec(`UPDATE blobs SET refcount = refcount - m.n
		FROM (SELECT blob_id, COUNT(*) AS n FROM messages WHERE mailbox_id=? GROUP BY blob_id) AS m
		WHERE blobs.id = m.blob_id`, id); err != nil {
		return err
	}
	if err := w.sweepBlobs(); err != nil {
		return err
	}
	for _, q := range []string{
		`DELETE FROM messages WHERE mailbox_id=?`,
		`DELETE FROM tombstones WHERE mailbox_id=?`,
		`DELETE FROM mailboxes WHERE id=?`,
	} {
		if _, err := w.exec(q, id); err != nil {
			return err
		}
	}
	w.cache = append(w.cache, func(c *flagCache) { c.drop(id) })
	return nil
}

// sweepBlobs deletes blob rows nobody references and remembers their
// segments, which are removed after commit if they became empty.
func (w *wtx) sweepBlobs() error {
	rows, err := w.query(`DELETE FROM blobs WHERE refcount <= 0 RETURNING segment`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var seg uint32
		if err := rows.Scan(&seg); err != nil {
			return err
		}
		w.dead = append(w.dead, seg)
	}
	return rows.Err()
}

// RenameMailbox implements store.Mail. Children are renamed with their
// parent, subscriptions follow. Renaming INBOX moves its messages to a new
// mailbox and leaves INBOX empty (RFC 9051 §6.3.6).
func (s *Store) RenameMailbox(ctx context.Context, acct store.AccountID, from, to string) error {
	from, err := store.NormMailboxName(from)
	if err != nil {
		return store.ErrNotFound
	}
	if to, err = store.NormMailboxName(to); err != nil {
		return err
	}
	if to == store.InboxName {
		return store.ErrExists
	}
	if to == from || strings.HasPrefix(to, from+string(store.Delimiter)) {
		return store.ErrInvalidName
	}
	return s.do(ctx, nil, func(w *wtx) error {
		if from == store.InboxName {
			return w.renameInbox(acct, to)
		}
		if _, err := w.mailboxID(acct, from); err != nil {
			return err
		}
		if _, err := w.mailboxID(acct, to); err == nil {
			return store.ErrExists
		}
		for _, p := range store.MailboxParents(to) {
			if _, err := w.createMailbox(acct, p, ""); err != nil && err != store.ErrExists {
				return err
			}
		}
		prefix := from + string(store.Delimiter)
		for _, table := range []string{"mailboxes", "subscriptions"} {
			_, err := w.exec(`UPDATE `+table+` SET name = ? || substr(name, ?)
				WHERE account_id=? AND (name=? OR substr(name, 1, ?)=?)`,
				to, len(from)+1, acct, from, len(prefix), prefix)
			if isConstraint(err) {
				return store.ErrExists
			}
			if err != nil {
				return err
			}
		}
		w.event(store.Event{Account: acct, Mailboxes: true})
		return nil
	})
}

// renameInbox creates to and moves every INBOX message there.
func (w *wtx) renameInbox(acct store.AccountID, to string) error {
	inbox, err := w.mailboxID(acct, store.InboxName)
	if err != nil {
		return err
	}
	dst, err := w.createWithParents(acct, to, "")
	if err != nil {
		return err
	}
	_, err = w.copyMessages(acct, inbox, nil, dst.ID, store.CopyOptions{Move: true})
	return err
}

// SetSubscribed implements store.Mail. A name that does not exist may be
// subscribed (RFC 9051 §6.3.7).
func (s *Store) SetSubscribed(ctx context.Context, acct store.AccountID, name string, on bool) error {
	name, err := store.NormMailboxName(name)
	if err != nil {
		return err
	}
	return s.do(ctx, nil, func(w *wtx) error {
		if err := w.accountExists(acct); err != nil {
			return err
		}
		q := `DELETE FROM subscriptions WHERE account_id=? AND name=?`
		if on {
			q = `INSERT OR IGNORE INTO subscriptions(account_id, name) VALUES(?, ?)`
		}
		if _, err := w.exec(q, acct, name); err != nil {
			return err
		}
		w.event(store.Event{Account: acct, Mailboxes: true})
		return nil
	})
}

// Subscriptions implements store.Mail.
func (s *Store) Subscriptions(ctx context.Context, acct store.AccountID) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT name FROM subscriptions WHERE account_id=? ORDER BY name`, acct)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ns []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		ns = append(ns, n)
	}
	return ns, rows.Err()
}
