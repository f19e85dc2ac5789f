package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/store"
)

const mailboxCols = `b.id, b.account_id, b.name, b.uidvalidity, b.uidnext, b.highestmodseq, b.special_use,
	EXISTS(SELECT 1 FROM subscriptions s WHERE s.account_id=b.account_id AND s.name=b.name),
	b.messages, b.unseen, b.size`

// scanMailbox reads a row of mailboxCols, and then into extra the
// columns after them.
func scanMailbox(r pgx.Row, extra ...any) (store.Mailbox, error) {
	var m store.Mailbox
	var uv, next, n, unseen int64
	err := r.Scan(append([]any{&m.ID, &m.AccountID, &m.Name, &uv, &next, &m.HighestModSeq, &m.SpecialUse,
		&m.Subscribed, &n, &unseen, &m.Size}, extra...)...)
	m.UIDValidity, m.UIDNext, m.Messages, m.Unseen = uint32(uv), store.UID(next), int(n), int(unseen)
	return m, notFound(err)
}

// Mailboxes implements store.Mail.
func (s *Store) Mailboxes(ctx context.Context, acct store.AccountID) ([]store.Mailbox, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+mailboxCols+` FROM mailboxes b WHERE b.account_id=$1 ORDER BY b.name COLLATE "C"`, acct)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Mailbox, error) { return scanMailbox(r) })
}

// Mailbox implements store.Mail.
func (s *Store) Mailbox(ctx context.Context, acct store.AccountID, name string) (store.Mailbox, error) {
	name, err := store.NormMailboxName(name)
	if err != nil {
		return store.Mailbox{}, store.ErrNotFound
	}
	return scanMailbox(s.pool.QueryRow(ctx, `SELECT `+mailboxCols+` FROM mailboxes b WHERE b.account_id=$1 AND b.name=$2`, acct, name))
}

// MailboxByID implements store.Mail.
func (s *Store) MailboxByID(ctx context.Context, acct store.AccountID, id store.MailboxID) (store.Mailbox, error) {
	return scanMailbox(s.pool.QueryRow(ctx, `SELECT `+mailboxCols+` FROM mailboxes b WHERE b.account_id=$1 AND b.id=$2`, acct, id))
}

// nextUIDValidity returns a UIDVALIDITY never given before in this store:
// the current time, or one more than the last if the clock went back or
// several mailboxes are created within a second (RFC 9051 §2.3.1.1). The
// meta row's lock orders the nodes.
func (t *tx) nextUIDValidity() (uint32, error) {
	var v int64
	err := t.QueryRow(t.ctx, `INSERT INTO meta(k, v) VALUES('uidvalidity', $1)
		ON CONFLICT(k) DO UPDATE SET v = CASE WHEN GREATEST(meta.v+1, $1) > 4294967295 THEN 1 ELSE GREATEST(meta.v+1, $1) END
		RETURNING v`, time.Now().Unix()).Scan(&v)
	return uint32(v), err
}

// createMailbox inserts one mailbox (the name already normalised).
func (t *tx) createMailbox(acct store.AccountID, name, special string) (store.Mailbox, error) {
	// A savepoint, so that ErrExists leaves the transaction usable.
	var id store.MailboxID
	uv, err := t.nextUIDValidity()
	if err != nil {
		return store.Mailbox{}, err
	}
	err = t.QueryRow(t.ctx, `INSERT INTO mailboxes(account_id, name, uidvalidity, uidnext, highestmodseq, special_use)
		VALUES($1, $2, $3, 1, 1, $4) ON CONFLICT(account_id, name) DO NOTHING RETURNING id`, acct, name, int64(uv), special).Scan(&id)
	if err == pgx.ErrNoRows {
		return store.Mailbox{}, store.ErrExists
	}
	if isForeignKey(err) {
		return store.Mailbox{}, store.ErrNotFound
	}
	if err != nil {
		return store.Mailbox{}, err
	}
	t.event(store.Event{Account: acct, Mailboxes: true})
	return store.Mailbox{ID: id, AccountID: acct, Name: name, UIDValidity: uv, UIDNext: 1,
		HighestModSeq: 1, SpecialUse: special}, nil
}

// createWithParents creates name and its missing ancestors (RFC 9051
// §6.3.4: the server SHOULD create the superior names).
func (t *tx) createWithParents(acct store.AccountID, name, special string) (store.Mailbox, error) {
	if err := t.lockAccount(acct); err != nil {
		return store.Mailbox{}, err
	}
	for _, p := range store.MailboxParents(name) {
		if _, err := t.createMailbox(acct, p, ""); err != nil && err != store.ErrExists {
			return store.Mailbox{}, err
		}
	}
	return t.createMailbox(acct, name, special)
}

// lockAccount takes the account row's lock (ErrNotFound if there is none):
// changes of an account's mailbox list and quota checks are ordered by it.
func (t *tx) lockAccount(acct store.AccountID) error {
	var id int64
	err := t.QueryRow(t.ctx, `SELECT id FROM accounts WHERE id=$1 FOR NO KEY UPDATE`, acct).Scan(&id)
	return notFound(err)
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
	err = s.write(ctx, func(t *tx) error {
		m, err = t.createWithParents(acct, name, specialUse)
		return err
	})
	return m, err
}

// mailboxID finds a mailbox of the account by (normalised) name.
func (t *tx) mailboxID(acct store.AccountID, name string) (store.MailboxID, error) {
	var id store.MailboxID
	err := t.QueryRow(t.ctx, `SELECT id FROM mailboxes WHERE account_id=$1 AND name=$2`, acct, name).Scan(&id)
	return id, notFound(err)
}

// hasChildren reports whether names below name exist.
func (t *tx) hasChildren(acct store.AccountID, name string) (bool, error) {
	var ok bool
	prefix := name + string(store.Delimiter)
	err := t.QueryRow(t.ctx, `SELECT EXISTS(SELECT 1 FROM mailboxes WHERE account_id=$1 AND left(name, $2)=$3)`,
		acct, len([]rune(prefix)), prefix).Scan(&ok)
	return ok, err
}

// DeleteMailbox implements store.Mail. INBOX cannot be deleted; a mailbox
// with children fails with store.ErrHasChildren (RFC 9051 §6.3.5).
func (s *Store) DeleteMailbox(ctx context.Context, acct store.AccountID, name string) error {
	name, err := store.NormMailboxName(name)
	if err != nil {
		return store.ErrNotFound
	}
	if name == store.InboxName {
		return store.ErrSpecialMailbox
	}
	return s.write(ctx, func(t *tx) error {
		if err := t.lockAccount(acct); err != nil {
			return err
		}
		id, err := t.mailboxID(acct, name)
		if err != nil {
			return err
		}
		if has, err := t.hasChildren(acct, name); err != nil {
			return err
		} else if has {
			return store.ErrHasChildren
		}
		if _, err := t.Exec(t.ctx, `SELECT 1 FROM mailboxes WHERE id=$1 FOR UPDATE`, id); err != nil {
			return err
		}
		if err := t.dropMailbox(id); err != nil {
			return err
		}
		t.event(store.Event{Account: acct, Mailboxes: true})
		return nil
	})
}

// dropMailbox deletes a mailbox with its messages, tombstones, retained
// messages and blob references.
func (t *tx) dropMailbox(id store.MailboxID) error {
	for _, table := range []string{"messages", "retained"} {
		if _, err := t.Exec(t.ctx, `UPDATE blobs SET refcount = refcount - m.n
			FROM (SELECT blob_id, COUNT(*) AS n FROM `+table+` WHERE mailbox_id=$1 GROUP BY blob_id) AS m
			WHERE blobs.id = m.blob_id`, id); err != nil {
			return err
		}
	}
	for _, q := range []string{
		`DELETE FROM messages WHERE mailbox_id=$1`,
		`DELETE FROM retained WHERE mailbox_id=$1`,
		`DELETE FROM tombstones WHERE mailbox_id=$1`,
		`DELETE FROM mailboxes WHERE id=$1`,
	} {
		if _, err := t.Exec(t.ctx, q, id); err != nil {
			return err
		}
	}
	return t.sweepBlobs()
}

// sweepBlobs deletes the blobs nobody references (their chunk rows go
// with them: a trigger, schema.go).
func (t *tx) sweepBlobs() error {
	_, err := t.Exec(t.ctx, `DELETE FROM blobs WHERE refcount <= 0`)
	return err
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
	return s.write(ctx, func(t *tx) error {
		if err := t.lockAccount(acct); err != nil {
			return err
		}
		if from == store.InboxName {
			return t.renameInbox(acct, to)
		}
		if _, err := t.mailboxID(acct, from); err != nil {
			return err
		}
		if _, err := t.mailboxID(acct, to); err == nil {
			return store.ErrExists
		}
		for _, p := range store.MailboxParents(to) {
			if _, err := t.createMailbox(acct, p, ""); err != nil && err != store.ErrExists {
				return err
			}
		}
		prefix := from + string(store.Delimiter)
		n := len([]rune(from))
		for _, table := range []string{"mailboxes", "subscriptions"} {
			_, err := t.Exec(t.ctx, `UPDATE `+table+` SET name = $1 || substr(name, $2)
				WHERE account_id=$3 AND (name=$4 OR left(name, $5)=$6)`,
				to, n+1, acct, from, len([]rune(prefix)), prefix)
			if isUnique(err) {
				return store.ErrExists
			}
			if err != nil {
				return err
			}
		}
		t.event(store.Event{Account: acct, Mailboxes: true})
		return nil
	})
}

// renameInbox creates to and moves every INBOX message there.
func (t *tx) renameInbox(acct store.AccountID, to string) error {
	inbox, err := t.mailboxID(acct, store.InboxName)
	if err != nil {
		return err
	}
	dst, err := t.createWithParents(acct, to, "")
	if err != nil {
		return err
	}
	_, err = t.copyMessages(acct, inbox, nil, dst.ID, store.CopyOptions{Move: true})
	return err
}

// SetSubscribed implements store.Mail. A name that does not exist may be
// subscribed (RFC 9051 §6.3.7).
func (s *Store) SetSubscribed(ctx context.Context, acct store.AccountID, name string, on bool) error {
	name, err := store.NormMailboxName(name)
	if err != nil {
		return err
	}
	return s.write(ctx, func(t *tx) error {
		q := `DELETE FROM subscriptions WHERE account_id=$1 AND name=$2`
		if on {
			q = `INSERT INTO subscriptions(account_id, name) VALUES($1, $2) ON CONFLICT DO NOTHING`
		}
		_, err := t.Exec(ctx, q, acct, name)
		if isForeignKey(err) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if !on {
			var ok bool
			if err := t.QueryRow(ctx, `SELECT EXISTS(SELECT 1 FROM accounts WHERE id=$1)`, acct).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return store.ErrNotFound
			}
		}
		t.event(store.Event{Account: acct, Mailboxes: true})
		return nil
	})
}

// Subscriptions implements store.Mail.
func (s *Store) Subscriptions(ctx context.Context, acct store.AccountID) ([]string, error) {
	rows, _ := s.pool.Query(ctx, `SELECT name FROM subscriptions WHERE account_id=$1 ORDER BY name COLLATE "C"`, acct)
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
