package sqlite

import (
	"context"
	"errors"
	"time"

	"github.com/youju/youju/internal/blob"
	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// appendItem is one message of an Append, prepared outside the writer.
type appendItem struct {
	size  int64
	idate time.Time
	flags store.Flags
	info  []byte
}

// AppendMessages implements store.Mail. Every message of every Append
// goes to the writer as one request: its bytes are appended with one
// fsync and its rows committed in the batch's one transaction, so an
// IMAP MULTIAPPEND, or a run of pipelined APPENDs, costs one group
// commit instead of one per message. Each Append is checked as a whole
// (mailbox, quota, UIDs left) before any of its rows is queued: all or
// none (RFC 3502 §6.3.11); one failing leaves the others alone.
func (s *Store) AppendMessages(ctx context.Context, acct store.AccountID, appends []store.Append) ([]store.AppendResult, error) {
	res := make([]store.AppendResult, len(appends))
	items := make([][]appendItem, len(appends))
	var datas [][]byte
	now := time.Now()
	for g, a := range appends {
		var gdatas [][]byte
		items[g], gdatas, res[g].Err = s.prepareAppend(a, now)
		if res[g].Err == nil {
			datas = append(datas, gdatas...)
		}
	}
	if len(datas) == 0 {
		return res, nil
	}
	err := s.submit(&op{ctx: ctx, datas: datas, atomic: true, fn: func(w *wtx) error {
		refs := w.refs
		for g, a := range appends {
			if res[g].Err != nil {
				continue
			}
			n := len(items[g])
			r, err := w.appendGroup(acct, a.Mailbox, items[g], refs[:n], now)
			if err != nil && !errors.Is(err, store.ErrQuotaExceeded) && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			r.Err = err
			res[g] = r
			refs = refs[n:]
		}
		return nil
	}})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// prepareAppend normalises and parses the messages of a, in the caller's
// goroutine (the writer only writes), and checks their sizes.
func (s *Store) prepareAppend(a store.Append, now time.Time) ([]appendItem, [][]byte, error) {
	if len(a.Messages) == 0 {
		return nil, nil, errors.New("sqlite: append without messages")
	}
	items := make([]appendItem, len(a.Messages))
	datas := make([][]byte, len(a.Messages))
	for i, m := range a.Messages {
		data := m.Data
		if !m.Exact && !message.IsCRLF(data) {
			data = message.NormalizeCRLF(data)
		}
		size := int64(len(data))
		if size == 0 {
			return nil, nil, errors.New("sqlite: empty message")
		}
		if s.opts.MaxMessageSize > 0 && size > s.opts.MaxMessageSize {
			return nil, nil, store.ErrTooLarge
		}
		idate := m.InternalDate
		if idate.IsZero() {
			idate = now
		}
		items[i] = appendItem{size: size, idate: idate, flags: m.Flags, info: message.Parse(data).Marshal()}
		datas[i] = data
	}
	return items, datas, nil
}

// appendGroup adds the messages of one Append to mbox, or none of them:
// the mailbox, the quota for their total size and the UIDs left are
// checked first, so that deliverOne cannot fail but for SQL errors
// (which abort the whole batch).
func (w *wtx) appendGroup(acct store.AccountID, mbox store.MailboxID, items []appendItem, refs []blob.Ref, now time.Time) (store.AppendResult, error) {
	t := store.Target{Account: acct, Mailbox: mbox}
	mb, err := w.deliveryMailbox(t)
	if err != nil {
		return store.AppendResult{}, err
	}
	r := store.AppendResult{UIDValidity: mb.uidValidity, UIDs: make([]store.UID, 0, len(items))}
	var total int64
	for _, it := range items {
		total += it.size
	}
	d := w.b.d
	// RFC 9208 §5.1 and RFC 3502 §6.3.11: over quota, nothing is stored.
	if q := d.quota[acct]; q > 0 && d.used[acct]+total > q {
		return r, store.ErrQuotaExceeded
	}
	// UIDs are never reused (RFC 9051 §2.3.1.1): every message needs one
	// below 2^32 (uidnext 0 means it wrapped already).
	if mb.uidNext == 0 || uint64(mb.uidNext)+uint64(len(items)) > 1<<32 {
		return r, errUIDsExhausted
	}
	for i, it := range items {
		t.Flags = it.flags
		var b *blobRow
		tr, err := w.deliverOne(t, refs[i], it.size, it.idate, now, &b, it.info)
		if err != nil {
			// Only an SQL failure gets here (checked above): the caller
			// aborts the batch, so nothing of this group is committed.
			return r, err
		}
		r.UIDs = append(r.UIDs, tr.UID)
	}
	return r, nil
}
