package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// This file is the store-level import of `youju migrate`
// (internal/migrate): it writes accounts, mailboxes and messages with the
// identities they had in the source store — UIDVALIDITY, UIDNEXT,
// HIGHESTMODSEQ, each message's UID, MODSEQ, flags and dates — so that
// IMAP clients find the same UIDs after the move and download nothing
// again. Every call is idempotent, which makes the migration resumable:
// what exists already is left as it is.

// ImportAccount creates account a with its password hash, SCRAM keys,
// switches and creation time, without default mailboxes (the source's
// are imported), or returns the existing account of that address.
func (s *Store) ImportAccount(ctx context.Context, a store.Account) (store.Account, error) {
	a.Address = strings.ToLower(strings.TrimSpace(a.Address))
	if got, err := s.Account(ctx, a.Address); err == nil {
		return got, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.Account{}, err
	}
	dom := domainOf(a.Address)
	if dom == "" {
		return store.Account{}, store.ErrInvalidName
	}
	defaultPOP3(&a.POP3)
	err := s.write(ctx, func(t *tx) error {
		if _, err := t.Exec(ctx, `INSERT INTO domains(name, created) VALUES($1, $2) ON CONFLICT DO NOTHING`, dom, time.Now().UnixNano()); err != nil {
			return err
		}
		return t.QueryRow(ctx, `INSERT INTO accounts(address, domain, password_hash, scram, disabled, allow_imap, allow_pop3,
			allow_smtp, quota_bytes, pop3_scope, pop3_days, pop3_delete, admin, created)
			VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14) RETURNING id`,
			a.Address, dom, a.PasswordHash, a.SCRAM, a.Disabled, a.AllowIMAP, a.AllowPOP3, a.AllowSMTP,
			a.QuotaBytes, string(a.POP3.Scope), a.POP3.Days, string(a.POP3.Delete), a.Admin, unixNano(a.Created)).Scan(&a.ID)
	})
	if err != nil {
		return store.Account{}, fmt.Errorf("postgres: import account %s: %w", a.Address, err)
	}
	a.UsedBytes = 0
	return a, nil
}

// ImportAppPassword adds p (hash, SCRAM and dates as they are) unless the
// account has one of that name.
func (s *Store) ImportAppPassword(ctx context.Context, p store.AppPassword) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO app_passwords(account_id, name, hash, scram, created, last_used)
		VALUES($1,$2,$3,$4,$5,$6) ON CONFLICT(account_id, name) DO NOTHING`,
		p.AccountID, p.Name, p.Hash, p.SCRAM, unixNano(p.Created), unixNano(p.LastUsed))
	return err
}

// ImportMailbox creates mailbox mb of acct with mb's UIDVALIDITY, UIDNEXT,
// HIGHESTMODSEQ, special use and subscription. A mailbox of that name
// that exists already is returned if it has the same UIDVALIDITY (an
// earlier, interrupted run), or if it is empty (it is then given mb's
// identity); otherwise it is an error, since its UIDs would clash.
func (s *Store) ImportMailbox(ctx context.Context, acct store.AccountID, mb store.Mailbox) (store.Mailbox, error) {
	name, err := store.NormMailboxName(mb.Name)
	if err != nil {
		return store.Mailbox{}, err
	}
	var id store.MailboxID
	err = s.write(ctx, func(t *tx) error {
		if err := t.lockAccount(acct); err != nil {
			return err
		}
		var uv, n int64
		err := t.QueryRow(ctx, `SELECT id, uidvalidity, messages FROM mailboxes WHERE account_id=$1 AND name=$2`, acct, name).Scan(&id, &uv, &n)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			err = t.QueryRow(ctx, `INSERT INTO mailboxes(account_id, name, uidvalidity, uidnext, highestmodseq, special_use)
				VALUES($1,$2,$3,$4,$5,$6) RETURNING id`, acct, name, int64(mb.UIDValidity), int64(mb.UIDNext),
				int64(mb.HighestModSeq), mb.SpecialUse).Scan(&id)
		case err != nil:
		case uv == int64(mb.UIDValidity):
			return nil
		case n > 0:
			return fmt.Errorf("postgres: import: mailbox %q exists with other messages (UIDVALIDITY %d, not %d)", name, uv, mb.UIDValidity)
		default:
			_, err = t.Exec(ctx, `UPDATE mailboxes SET uidvalidity=$2, uidnext=$3, highestmodseq=$4, special_use=$5 WHERE id=$1`,
				id, int64(mb.UIDValidity), int64(mb.UIDNext), int64(mb.HighestModSeq), mb.SpecialUse)
		}
		if err != nil {
			return err
		}
		// The UIDVALIDITY counter stays above every imported value, so
		// that a mailbox created later never reuses one (RFC 9051 §2.3.1.1).
		if _, err := t.Exec(ctx, `INSERT INTO meta(k, v) VALUES('uidvalidity', $1)
			ON CONFLICT(k) DO UPDATE SET v = GREATEST(meta.v, $1)`, int64(mb.UIDValidity)); err != nil {
			return err
		}
		if mb.Subscribed {
			_, err = t.Exec(ctx, `INSERT INTO subscriptions(account_id, name) VALUES($1,$2) ON CONFLICT DO NOTHING`, acct, name)
		}
		t.event(store.Event{Account: acct, Mailboxes: true})
		return err
	})
	if err != nil {
		return store.Mailbox{}, err
	}
	return s.MailboxByID(ctx, acct, id)
}

// ImportedMessage is one message for ImportMessages: the source's index
// row and either its bytes (Data) or, for a further copy of bytes already
// imported in this run, the target blob to share (Blob).
type ImportedMessage struct {
	store.Message
	Data []byte
	Blob int64
}

// ImportMessages stores msgs in mailbox mbox of acct under their own UID,
// MODSEQ, flags and dates; a UID the mailbox has already is skipped. It
// returns, per message, the blob it now refers to (for later copies of
// the same bytes), 0 for a skipped one. The mailbox's UIDNEXT and
// HIGHESTMODSEQ are raised if a message is above them.
//
// With an external blob store (Options.Blobs: files, S3) the bytes are
// stored there first, as a delivery's are (extblobs.go: pending, then
// the index); objects of messages skipped or of a failed transaction are
// queued for deletion.
func (s *Store) ImportMessages(ctx context.Context, acct store.AccountID, mbox store.MailboxID, msgs []ImportedMessage) ([]int64, error) {
	out := make([]int64, len(msgs))
	ext, err := s.importExt(ctx, mbox, msgs)
	if err != nil {
		return nil, err
	}
	used := make([]bool, len(ext))
	err = s.write(ctx, func(t *tx) error {
		clear(out)
		clear(used)
		var owner store.AccountID
		if err := t.QueryRow(ctx, `SELECT account_id FROM mailboxes WHERE id=$1 FOR NO KEY UPDATE`, mbox).Scan(&owner); err != nil {
			return notFound(err)
		}
		if owner != acct {
			return store.ErrNotFound
		}
		var n, unseen, size, maxUID, maxMod int64
		for i, m := range msgs {
			var exists bool
			if err := t.QueryRow(ctx, `SELECT EXISTS(SELECT 1 FROM messages WHERE mailbox_id=$1 AND uid=$2)`, mbox, int64(m.UID)).Scan(&exists); err != nil {
				return err
			}
			if exists {
				continue
			}
			blob := m.Blob
			if blob > 0 {
				if _, err := t.Exec(ctx, `UPDATE blobs SET refcount=refcount+1 WHERE id=$1`, blob); err != nil {
					return err
				}
			} else {
				var e *string
				if ext[i] != nil {
					e, used[i] = &ext[i].ext, true
				}
				var err error
				if blob, err = t.insertImportedBlob(s.chunks, &m, e); err != nil {
					return err
				}
			}
			kws, _ := store.NormKeywords(m.Flags.Keywords)
			if _, err := t.Exec(ctx, `INSERT INTO messages(mailbox_id, uid, modseq, sysflags, keywords, internal_date, save_date, size, blob_id)
				VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9)`, mbox, int64(m.UID), int64(m.ModSeq), int16(m.Flags.System),
				store.JoinKeywords(kws), unixNano(m.InternalDate), unixNano(m.SaveDate), m.Size, blob); err != nil {
				return err
			}
			out[i] = blob
			n++
			size += m.Size
			if m.Flags.System&store.FlagSeen == 0 {
				unseen++
			}
			maxUID, maxMod = max(maxUID, int64(m.UID)), max(maxMod, int64(m.ModSeq))
		}
		if n == 0 {
			return nil
		}
		_, err := t.Exec(ctx, `UPDATE mailboxes SET messages=messages+$2, unseen=unseen+$3, size=size+$4,
			uidnext=GREATEST(uidnext, $5+1), highestmodseq=GREATEST(highestmodseq, $6) WHERE id=$1`,
			mbox, n, unseen, size, maxUID, maxMod)
		t.event(store.Event{Account: acct, Mailbox: mbox})
		return err
	})
	// Objects no committed row names: the transaction failed, or another
	// run imported their UIDs meanwhile.
	var unused []*pblob
	for i, b := range ext {
		if b != nil && (err != nil || !used[i]) {
			unused = append(unused, b)
		}
	}
	s.dropExt(unused)
	if err != nil {
		return nil, fmt.Errorf("postgres: import messages: %w", err)
	}
	return out, nil
}

// insertImportedBlob adds the blobs row of m's bytes: naming the object
// ext in the external store, or with the bytes as chunk rows (ext nil)
// in the transaction.
func (t *tx) insertImportedBlob(chunks txBlobs, m *ImportedMessage, ext *string) (int64, error) {
	info := m.Info
	if len(info) == 0 {
		info = message.Parse(m.Data).Marshal()
	}
	var blob int64
	if err := t.QueryRow(t.ctx, `INSERT INTO blobs(size, refcount, info, ext) VALUES($1, 1, $2, $3) RETURNING id`,
		int64(len(m.Data)), info, ext).Scan(&blob); err != nil {
		return 0, err
	}
	if ext != nil {
		return blob, nil
	}
	var b pgx.Batch
	chunks.QueuePut(&b, []int64{blob}, [][]byte{m.Data})
	return blob, t.SendBatch(t.ctx, &b).Close()
}

// importExt stores in the external blob store (if any) the bytes of the
// msgs that carry bytes and whose UID the mailbox has not yet (a resumed
// run uploads nothing twice); the result is parallel to msgs, nil where
// nothing was stored.
func (s *Store) importExt(ctx context.Context, mbox store.MailboxID, msgs []ImportedMessage) ([]*pblob, error) {
	ext := make([]*pblob, len(msgs))
	if s.opts.Blobs == nil {
		return ext, nil
	}
	uids := make([]int64, len(msgs))
	for i := range msgs {
		uids[i] = int64(msgs[i].UID)
	}
	rows, err := s.pool.Query(ctx, `SELECT uid FROM messages WHERE mailbox_id=$1 AND uid = ANY($2)`, mbox, uids)
	if err != nil {
		return nil, err
	}
	have, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	var put []*pblob
	for i, m := range msgs {
		if m.Blob > 0 || len(m.Data) == 0 || slices.Contains(have, int64(m.UID)) {
			continue
		}
		ext[i] = &pblob{data: m.Data}
		put = append(put, ext[i])
	}
	if err := s.putExt(ctx, put); err != nil {
		return nil, err
	}
	return ext, nil
}

// ImportTombstones records the expunged UIDs of mailbox mbox (QRESYNC's
// VANISHED, RFC 7162 §3.2.10) at MODSEQ modseq. The source's store
// interface gives the set, not each expunge's MODSEQ; the migration
// passes the mailbox's HIGHESTMODSEQ, so that a client that synchronised
// before the move is told of every one (VANISHED (EARLIER) of a UID the
// client does not have is ignored by it) and a client up to date of none.
func (s *Store) ImportTombstones(ctx context.Context, acct store.AccountID, mbox store.MailboxID, uids store.UIDSet, modseq store.ModSeq) error {
	if len(uids) == 0 {
		return nil
	}
	lo, hi := make([]int64, len(uids)), make([]int64, len(uids))
	for i, r := range uids {
		lo[i], hi[i] = int64(r.Lo), int64(r.Hi)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO tombstones(mailbox_id, uid, modseq)
		SELECT $1, u, $4 FROM unnest($2::bigint[], $3::bigint[]) AS r(lo, hi), generate_series(r.lo, r.hi) AS u
		WHERE EXISTS(SELECT 1 FROM mailboxes WHERE id=$1 AND account_id=$5)
		  AND NOT EXISTS(SELECT 1 FROM messages m WHERE m.mailbox_id=$1 AND m.uid=u)
		ON CONFLICT DO NOTHING`, mbox, lo, hi, int64(modseq), acct)
	if err != nil {
		return fmt.Errorf("postgres: import tombstones: %w", err)
	}
	return nil
}
