package store

import (
	"context"
	"time"
)

// Metered wraps s so that the hot operations report their duration to
// observe (op names: "deliver", "append", "list", "search", "open", "flags",
// "expunge", "changes", "keywords", "select"). It keeps metrics out of the backends.
// The result has the optional interfaces of s that it times
// (MailboxSelecter) only when s has them: store.As must not find on the
// wrapper what the backend lacks.
func Metered(s Store, observe func(op string, d time.Duration)) Store {
	m := &metered{Store: s, observe: observe}
	if sel, ok := As[MailboxSelecter](s); ok {
		return &meteredSelecter{metered: m, sel: sel}
	}
	return m
}

type metered struct {
	Store
	observe func(string, time.Duration)
}

func (m *metered) since(op string, t time.Time) { m.observe(op, time.Since(t)) }

func (m *metered) Deliver(ctx context.Context, d Delivery) ([]TargetResult, error) {
	defer m.since("deliver", time.Now())
	return m.Store.Deliver(ctx, d)
}

func (m *metered) AppendMessages(ctx context.Context, acct AccountID, appends []Append) ([]AppendResult, error) {
	defer m.since("append", time.Now())
	return m.Store.AppendMessages(ctx, acct, appends)
}

func (m *metered) ListMessages(ctx context.Context, acct AccountID, mbox MailboxID, opt ListOptions, fn func(*Message) error) error {
	defer m.since("list", time.Now())
	return m.Store.ListMessages(ctx, acct, mbox, opt, fn)
}

func (m *metered) Search(ctx context.Context, acct AccountID, mbox MailboxID, q Query) ([]UID, error) {
	defer m.since("search", time.Now())
	return m.Store.Search(ctx, acct, mbox, q)
}

func (m *metered) OpenMessage(ctx context.Context, acct AccountID, mbox MailboxID, uid UID) (MessageReader, error) {
	defer m.since("open", time.Now())
	return m.Store.OpenMessage(ctx, acct, mbox, uid)
}

func (m *metered) OpenMessageWith(ctx context.Context, acct AccountID, mbox MailboxID, uid UID, opt OpenOptions) (MessageReader, error) {
	defer m.since("open", time.Now())
	return m.Store.OpenMessageWith(ctx, acct, mbox, uid, opt)
}

func (m *metered) StoreFlags(ctx context.Context, acct AccountID, mbox MailboxID, uids UIDSet, op FlagOp, f Flags, unchangedSince ModSeq) (StoreResult, error) {
	defer m.since("flags", time.Now())
	return m.Store.StoreFlags(ctx, acct, mbox, uids, op, f, unchangedSince)
}

func (m *metered) Expunge(ctx context.Context, acct AccountID, mbox MailboxID, uids UIDSet) ([]UID, error) {
	defer m.since("expunge", time.Now())
	return m.Store.Expunge(ctx, acct, mbox, uids)
}

func (m *metered) Changes(ctx context.Context, acct AccountID, mbox MailboxID, since ModSeq) (Changes, error) {
	defer m.since("changes", time.Now())
	return m.Store.Changes(ctx, acct, mbox, since)
}

// SelectState passes the call on to the wrapped store.
func (m *metered) SelectState(ctx context.Context, acct AccountID, mbox MailboxID) (MailboxState, error) {
	defer m.since("select", time.Now())
	return SelectState(ctx, m.Store, acct, mbox)
}

// Unwrap returns the wrapped store, so that store.As finds the backend's
// optional interfaces (leases, \Recent, throttle counters, web sessions).
func (m *metered) Unwrap() Store { return m.Store }

// meteredSelecter is a metered store whose backend is a MailboxSelecter.
type meteredSelecter struct {
	*metered
	sel MailboxSelecter
}

// SelectMailbox passes the call on to the backend, timed as SelectState
// is: both are SELECT's look at the mailbox.
func (m *meteredSelecter) SelectMailbox(ctx context.Context, acct AccountID, name string, recent RecentMode) (Selection, error) {
	defer m.since("select", time.Now())
	return m.sel.SelectMailbox(ctx, acct, name, recent)
}
