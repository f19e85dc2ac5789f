package store

import (
	"context"
	"testing"
	"time"
)

// selecter is a backend with a MailboxSelecter (the rest of Store unused).
type selecter struct {
	Store
	calls int
}

func (s *selecter) SelectMailbox(_ context.Context, _ AccountID, name string, _ RecentMode) (Selection, error) {
	s.calls++
	return Selection{Mailbox: Mailbox{Name: name}}, nil
}

// The metered store passes MailboxSelecter through, timed as "select",
// and only when the backend has it (PostgreSQL in serve): a wrapper that
// always had it would hide that SQLite has not.
func TestMeteredMailboxSelecter(t *testing.T) {
	var ops []string
	observe := func(op string, _ time.Duration) { ops = append(ops, op) }
	if _, ok := As[MailboxSelecter](Metered(struct{ Store }{}, observe)); ok {
		t.Fatal("a metered store without MailboxSelecter has one")
	}
	back := &selecter{}
	ms, ok := As[MailboxSelecter](Metered(back, observe))
	if !ok {
		t.Fatal("the backend's MailboxSelecter is not found through Metered")
	}
	sel, err := ms.SelectMailbox(context.Background(), 1, "INBOX", RecentClaim)
	if err != nil || sel.Mailbox.Name != "INBOX" || back.calls != 1 {
		t.Fatalf("SelectMailbox: %+v %v, %d calls", sel, err, back.calls)
	}
	if len(ops) != 1 || ops[0] != "select" {
		t.Fatalf("observed %q, want [select]", ops)
	}
}
