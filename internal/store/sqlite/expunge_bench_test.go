package sqlite

import (
	"context"
	"testing"

	"github.com/youju/youju/internal/store"
)

// BenchmarkExpunge1k expunges 1,000 messages in one request (a client
// emptying a folder): the write path that retaining expunged messages
// changes.
func BenchmarkExpunge1k(b *testing.B) {
	ctx := context.Background()
	s := newTestStore(b)
	a := newAccount(b, s, "bench@example.com")
	mb, err := s.Mailbox(ctx, a.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	targets := make([]store.Target, 1000)
	for i := range targets {
		targets[i] = store.Target{Account: a.ID, Mailbox: mb.ID}
	}
	for b.Loop() {
		b.StopTimer()
		if _, err := s.Deliver(ctx, store.Delivery{Data: testMessage(1), Targets: targets}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		uids, err := s.Remove(ctx, a.ID, mb.ID, nil)
		if err != nil || len(uids) != 1000 {
			b.Fatal(len(uids), err)
		}
	}
}

// BenchmarkListFlags100kRetained is BenchmarkListFlags100k as IMAP lists
// (ListOptions.Retained): a mailbox without retained messages must cost
// what it did.
func BenchmarkListFlags100kRetained(b *testing.B) {
	s, a, mb := bigMailbox(b)
	with := func(list lister) lister {
		return func(ctx context.Context, acct store.AccountID, mbox store.MailboxID, opt store.ListOptions, fn func(*store.Message) error) error {
			opt.Retained = true
			return list(ctx, acct, mbox, opt, fn)
		}
	}
	b.Run("cache", func(b *testing.B) { benchList(b, with(s.ListMessages), a, mb) })
	b.Run("sqlite", func(b *testing.B) { benchList(b, with(s.listSQL), a, mb) })
}
