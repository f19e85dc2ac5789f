package sqlite

import (
	"context"
	"errors"
	"time"

	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// Deliver implements store.Mail. The bytes are normalised to CRLF, parsed
// once, appended to the blob store and shared by every target.
func (s *Store) Deliver(ctx context.Context, d store.Delivery) ([]store.TargetResult, error) {
	if len(d.Targets) == 0 {
		return nil, errors.New("sqlite: delivery without targets")
	}
	data := message.NormalizeCRLF(d.Data)
	size := int64(len(data))
	if size == 0 {
		return nil, errors.New("sqlite: empty message")
	}
	if s.opts.MaxMessageSize > 0 && size > s.opts.MaxMessageSize {
		return nil, store.ErrTooLarge
	}
	info := message.Parse(data).Marshal()
	now := time.Now()
	idate := d.InternalDate
	if idate.IsZero() {
		idate = now
	}
	res := make([]store.TargetResult, len(d.Targets))
	err := s.submit(&op{ctx: ctx, data: data, atomic: true, fn: func(w *wtx) error {
		var blobID int64
		for i, t := range d.Targets {
			r, err := w.deliverOne(t, size, idate, now, &blobID, info)
			if err != nil && !errors.Is(err, store.ErrQuotaExceeded) && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			r.Err = err
			res[i] = r
		}
		return nil
	}})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// deliverOne adds the message to one target; the blob row is inserted by
// the first target that succeeds. The mailbox's row is written by flush.
func (w *wtx) deliverOne(t store.Target, size int64, idate, now time.Time, blobID *int64, info []byte) (store.TargetResult, error) {
	mb, err := w.deliveryMailbox(t)
	if err != nil {
		return store.TargetResult{}, err
	}
	r := store.TargetResult{Mailbox: mb.id, UIDValidity: mb.uidValidity}
	// RFC 9208 §5.1: the target over quota fails, the others go on.
	if q := w.b.quota[t.Account]; q > 0 && w.b.used[t.Account]+size > q {
		return r, store.ErrQuotaExceeded
	}
	if mb.uidNext == 0 {
		return r, errUIDsExhausted
	}
	if *blobID == 0 {
		res, err := w.exec(`INSERT INTO blobs(segment, off, length, refcount, info) VALUES(?,?,?,1,?)`,
			w.ref.Segment, w.ref.Offset, w.ref.Length, info)
		if err != nil {
			return r, err
		}
		if *blobID, err = res.LastInsertId(); err != nil {
			return r, err
		}
	} else if _, err := w.exec(`UPDATE blobs SET refcount=refcount+1 WHERE id=?`, *blobID); err != nil {
		return r, err
	}
	kws, _ := normKeywords(t.Flags.Keywords)
	mb.bumped = false // every delivery gets its own MODSEQ
	m := store.Message{UID: mb.uidNext, ModSeq: mb.bump(), Flags: store.Flags{System: t.Flags.System & allSysFlags, Keywords: kws},
		InternalDate: idate, SaveDate: now, Size: size, BlobID: *blobID}
	if err := w.insertMessage(mb, &m); err != nil {
		return r, err
	}
	mb.dirty = true
	w.b.used[t.Account] += size
	r.UID = m.UID
	return r, nil
}

// deliveryMailbox returns the state of a delivery's target mailbox (0 =
// INBOX), from the batch if a delivery touched it already, with the
// account's quota and used bytes in the batch.
func (w *wtx) deliveryMailbox(t store.Target) (*mboxState, error) {
	b := w.b
	id := t.Mailbox
	if id == 0 {
		id = b.inbox[t.Account]
	}
	if mb := b.boxes[id]; id != 0 && mb != nil {
		if mb.acct != t.Account {
			return nil, store.ErrNotFound
		}
		return mb, nil
	}
	mb := &mboxState{acct: t.Account}
	var quota, used int64
	q := `SELECT b.id, b.uidvalidity, b.uidnext, b.highestmodseq, a.quota_bytes,
		(SELECT COALESCE(SUM(x.size), 0) FROM mailboxes x WHERE x.account_id=a.id)
		FROM mailboxes b JOIN accounts a ON a.id=b.account_id WHERE b.account_id=? AND `
	arg := any(t.Mailbox)
	if t.Mailbox == 0 {
		q, arg = q+`b.name=?`, store.InboxName
	} else {
		q += `b.id=?`
	}
	if err := w.queryRow(q, t.Account, arg).Scan(&mb.id, &mb.uidValidity, &mb.uidNext, &mb.modSeq, &quota, &used); err != nil {
		return nil, notFound(err)
	}
	if t.Mailbox == 0 {
		b.inbox[t.Account] = mb.id
	}
	b.boxes[mb.id] = mb
	if _, ok := b.used[t.Account]; !ok {
		// Nothing of this account is unflushed yet: the sum is current.
		b.used[t.Account], b.quota[t.Account] = used, quota
	}
	return mb, nil
}
