package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/youju/youju/internal/store"
)

// mboxState is a mailbox being changed by one transaction, its row locked.
type mboxState struct {
	id          store.MailboxID
	acct        store.AccountID
	uidValidity uint32
	uidNext     int64
	modSeq      store.ModSeq
	bumped      bool
	dMessages   int64
	dUnseen     int64
	dSize       int64
}

// openMailbox locks a mailbox of the account for change (ErrNotFound for
// 0, a missing mailbox or another account's).
func (t *tx) openMailbox(acct store.AccountID, id store.MailboxID) (*mboxState, error) {
	if id == 0 {
		return nil, store.ErrNotFound
	}
	m := &mboxState{acct: acct}
	var uv int64
	err := t.QueryRow(t.ctx, `SELECT id, uidvalidity, uidnext, highestmodseq FROM mailboxes WHERE id=$1 AND account_id=$2 FOR UPDATE`,
		id, acct).Scan(&m.id, &uv, &m.uidNext, &m.modSeq)
	m.uidValidity = uint32(uv)
	return m, notFound(err)
}

// bump returns the MODSEQ of this transaction's changes in the mailbox:
// one new value, shared by every message it changes (RFC 7162 §3.1.1 only
// requires that it grows).
func (m *mboxState) bump() store.ModSeq {
	if !m.bumped {
		m.modSeq++
		m.bumped = true
	}
	return m.modSeq
}

// save writes the mailbox's new state and queues the change event.
func (t *tx) save(m *mboxState) error {
	if !m.bumped {
		return nil
	}
	if _, err := t.Exec(t.ctx, `UPDATE mailboxes SET uidnext=$1, highestmodseq=$2, messages=messages+$3, unseen=unseen+$4, size=size+$5
		WHERE id=$6`, m.uidNext, int64(m.modSeq), m.dMessages, m.dUnseen, m.dSize, m.id); err != nil {
		return err
	}
	t.event(store.Event{Account: m.acct, Mailbox: m.id, ModSeq: m.modSeq})
	return nil
}

// selectFrom reads the messages of mb in uids (nil: all) from table
// (messages or retained), ascending, with an extra SQL condition, with
// the blobs they reference (COPY shares them).
func (t *tx) selectFrom(table string, mb store.MailboxID, uids store.UIDSet, cond string) ([]msgRow, error) {
	a := args{mb}
	clause, filter := uidClause(uids, &a)
	rows, err := t.Query(t.ctx, `SELECT `+msgCols+`, m.blob_id FROM `+table+` m WHERE m.mailbox_id=$1`+clause+cond+` ORDER BY m.uid`, a...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var msgs []msgRow
	for rows.Next() {
		var m msgRow
		if err := scanMessage(rows, &m.Message, &m.blob); err != nil {
			return nil, err
		}
		if filter && !setContains(uids, m.UID) {
			continue
		}
		msgs = append(msgs, m)
	}
	return msgs, rows.Err()
}

// StoreFlags implements store.Mail (RFC 9051 §6.4.6) with the
// UNCHANGEDSINCE test of RFC 7162 §3.1.3 when unchangedSince > 0.
// Messages whose flags do not change keep their MODSEQ.
func (s *Store) StoreFlags(ctx context.Context, acct store.AccountID, mbox store.MailboxID, uids store.UIDSet, op store.FlagOp, f store.Flags, unchangedSince store.ModSeq) (store.StoreResult, error) {
	kws, ok := store.NormKeywords(f.Keywords)
	if !ok {
		return store.StoreResult{}, store.ErrInvalidName
	}
	f.Keywords = kws
	var res store.StoreResult
	err := s.write(ctx, func(t *tx) error {
		res = store.StoreResult{}
		mb, err := t.openMailbox(acct, mbox)
		if err != nil {
			return err
		}
		msgs, err := t.selectFrom("messages", mb.id, uids, "")
		if err != nil {
			return err
		}
		var modified []store.UID
		var cu []int64
		var cf []int16
		var ck []string
		for _, m := range msgs {
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
			cu, cf, ck = append(cu, int64(m.UID)), append(cf, int16(nf.System)), append(ck, store.JoinKeywords(nf.Keywords))
			switch {
			case wasSeen && !isSeen:
				mb.dUnseen++
			case !wasSeen && isSeen:
				mb.dUnseen--
			}
			res.Changed = append(res.Changed, m.Message)
		}
		res.Modified = store.UIDSetOf(modified)
		if len(cu) > 0 {
			if _, err := t.Exec(ctx, `UPDATE messages m SET sysflags=v.f, keywords=v.k, modseq=$2
				FROM unnest($3::bigint[], $4::smallint[], $5::text[]) AS v(uid, f, k)
				WHERE m.mailbox_id=$1 AND m.uid=v.uid`, mb.id, int64(mb.modSeq), cu, cf, ck); err != nil {
				return err
			}
		}
		return t.save(mb)
	})
	return res, err
}

// Expunge implements store.Mail: only messages with \Deleted go.
func (s *Store) Expunge(ctx context.Context, acct store.AccountID, mbox store.MailboxID, uids store.UIDSet) ([]store.UID, error) {
	return s.remove(ctx, acct, mbox, uids, fmt.Sprintf(" AND m.sysflags & %d <> 0", store.FlagDeleted))
}

// Remove implements store.Mail: messages go whatever their flags.
func (s *Store) Remove(ctx context.Context, acct store.AccountID, mbox store.MailboxID, uids store.UIDSet) ([]store.UID, error) {
	return s.remove(ctx, acct, mbox, uids, "")
}

func (s *Store) remove(ctx context.Context, acct store.AccountID, mbox store.MailboxID, uids store.UIDSet, cond string) ([]store.UID, error) {
	var out []store.UID
	err := s.write(ctx, func(t *tx) error {
		mb, err := t.openMailbox(acct, mbox)
		if err != nil {
			return err
		}
		msgs, err := t.selectFrom("messages", mb.id, uids, cond)
		if err != nil {
			return err
		}
		if err := t.expunge(mb, msgs); err != nil {
			return err
		}
		out = make([]store.UID, len(msgs))
		for i, m := range msgs {
			out[i] = m.UID
		}
		return t.save(mb)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// expunge moves msgs from mb to the retained rows (which keep their blob
// references) and leaves (UID, MODSEQ) tombstones for QRESYNC (RFC 7162
// §3.2.10).
func (t *tx) expunge(mb *mboxState, msgs []msgRow) error {
	if len(msgs) == 0 {
		return nil
	}
	modseq := mb.bump()
	uids := make([]int64, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		uids[i] = int64(m.UID)
		mb.dMessages--
		mb.dSize -= m.Size
		if m.Flags.System&store.FlagSeen == 0 {
			mb.dUnseen--
		}
	}
	_, err := t.Exec(t.ctx, `WITH gone AS (DELETE FROM messages WHERE mailbox_id=$1 AND uid = ANY($2) RETURNING *),
		ret AS (INSERT INTO retained(mailbox_id, uid, modseq, sysflags, keywords, internal_date, save_date, size, blob_id, expunged)
			SELECT mailbox_id, uid, modseq, sysflags, keywords, internal_date, save_date, size, blob_id, $4 FROM gone
			ON CONFLICT (mailbox_id, uid) DO NOTHING)
		INSERT INTO tombstones(mailbox_id, uid, modseq) SELECT mailbox_id, uid, $3 FROM gone
		ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq=excluded.modseq`,
		mb.id, uids, int64(modseq), time.Now().UnixNano())
	return err
}

// Copy implements store.Mail (UIDPLUS, RFC 4315 §3). The copies share the
// blob (reference count); no byte is copied. They count against the quota.
func (s *Store) Copy(ctx context.Context, acct store.AccountID, src store.MailboxID, uids store.UIDSet, dst store.MailboxID) (store.CopyResult, error) {
	return s.CopyMessages(ctx, acct, src, uids, dst, store.CopyOptions{})
}

// Move implements store.Mail: copy and remove in one transaction (RFC 6851).
func (s *Store) Move(ctx context.Context, acct store.AccountID, src store.MailboxID, uids store.UIDSet, dst store.MailboxID) (store.CopyResult, error) {
	return s.CopyMessages(ctx, acct, src, uids, dst, store.CopyOptions{Move: true})
}

// CopyMessages implements store.Mail.
func (s *Store) CopyMessages(ctx context.Context, acct store.AccountID, src store.MailboxID, uids store.UIDSet, dst store.MailboxID, opt store.CopyOptions) (store.CopyResult, error) {
	var res store.CopyResult
	err := s.write(ctx, func(t *tx) error {
		var err error
		res, err = t.copyMessages(acct, src, uids, dst, opt)
		return err
	})
	return res, err
}

// openPair locks the account (quota) and the two mailboxes in id order.
func (t *tx) openPair(acct store.AccountID, src, dst store.MailboxID) (smb, dmb *mboxState, err error) {
	if err := t.lockAccount(acct); err != nil {
		return nil, nil, err
	}
	first, second := src, dst
	if dst < src {
		first, second = dst, src
	}
	a, err := t.openMailbox(acct, first)
	if err != nil {
		return nil, nil, err
	}
	b := a
	if second != first {
		if b, err = t.openMailbox(acct, second); err != nil {
			return nil, nil, err
		}
	}
	if first == src {
		return a, b, nil
	}
	return b, a, nil
}

// copyMessages copies (and with opt.Move removes) the messages of uids;
// see store.CopyOptions for the retained ones and Exact.
func (t *tx) copyMessages(acct store.AccountID, src store.MailboxID, uids store.UIDSet, dst store.MailboxID, opt store.CopyOptions) (store.CopyResult, error) {
	smb, dmb, err := t.openPair(acct, src, dst)
	if err != nil {
		return store.CopyResult{}, err
	}
	res := store.CopyResult{UIDValidity: dmb.uidValidity}
	msgs, err := t.selectFrom("messages", smb.id, uids, "")
	if err != nil {
		return res, err
	}
	live := msgs
	if opt.Retained {
		ret, err := t.selectFrom("retained", smb.id, uids, "")
		if err != nil {
			return res, err
		}
		if len(ret) > 0 {
			msgs = append(slices.Clone(msgs), ret...)
			slices.SortFunc(msgs, func(a, b msgRow) int { return cmp.Compare(a.UID, b.UID) })
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
	for _, m := range msgs {
		total += m.Size
	}
	for _, m := range live {
		liveSize += m.Size
	}
	if opt.Move {
		total -= liveSize
	}
	if total > 0 {
		if err := t.checkQuota(acct, total); err != nil {
			return res, err
		}
	}
	if dmb.uidNext+int64(len(msgs)) > 1<<32 {
		return res, errUIDsExhausted
	}
	if err := t.insertCopies(dmb, msgs, &res); err != nil {
		return res, err
	}
	if opt.Move {
		// Retained messages are expunged already: only the present go.
		if err := t.expunge(smb, live); err != nil {
			return res, err
		}
	}
	if err := t.save(dmb); err != nil {
		return res, err
	}
	if smb != dmb {
		return res, t.save(smb)
	}
	return res, nil
}

// insertCopies adds msgs to dmb with new UIDs and one MODSEQ, and counts
// the new references of their blobs.
func (t *tx) insertCopies(dmb *mboxState, msgs []msgRow, res *store.CopyResult) error {
	now := time.Now().UnixNano()
	modseq := dmb.bump()
	var uid, idate, size, blob []int64
	var flags []int16
	var kws []string
	for _, m := range msgs {
		uid = append(uid, dmb.uidNext)
		flags = append(flags, int16(m.Flags.System))
		kws = append(kws, store.JoinKeywords(m.Flags.Keywords))
		idate = append(idate, unixNano(m.InternalDate))
		size = append(size, m.Size)
		blob = append(blob, m.blob)
		res.Pairs = append(res.Pairs, store.UIDPair{Src: m.UID, Dst: store.UID(dmb.uidNext)})
		dmb.uidNext++
		dmb.dMessages++
		dmb.dSize += m.Size
		if m.Flags.System&store.FlagSeen == 0 {
			dmb.dUnseen++
		}
	}
	if _, err := t.Exec(t.ctx, `INSERT INTO messages(mailbox_id, uid, modseq, sysflags, keywords, internal_date, save_date, size, blob_id)
		SELECT $1, v.uid, $2, v.f, v.k, v.idate, $3, v.size, v.blob
		FROM unnest($4::bigint[], $5::smallint[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[]) AS v(uid, f, k, idate, size, blob)`,
		dmb.id, int64(modseq), now, uid, flags, kws, idate, size, blob); err != nil {
		return err
	}
	_, err := t.Exec(t.ctx, `UPDATE blobs SET refcount = refcount + v.n
		FROM (SELECT b AS id, COUNT(*) AS n FROM unnest($1::bigint[]) AS b GROUP BY b) AS v WHERE blobs.id=v.id`, blob)
	return err
}

// checkQuota fails with ErrQuotaExceeded if adding size bytes would take
// the account over its quota (RFC 9208 §5.1). The account row is locked.
func (t *tx) checkQuota(acct store.AccountID, size int64) error {
	var quota, used int64
	if err := t.QueryRow(t.ctx, `SELECT quota_bytes, (SELECT COALESCE(SUM(x.size), 0)::bigint FROM mailboxes x WHERE x.account_id=accounts.id)
		FROM accounts WHERE id=$1`, acct).Scan(&quota, &used); err != nil {
		return notFound(err)
	}
	if quota > 0 && used+size > quota {
		return store.ErrQuotaExceeded
	}
	return nil
}
