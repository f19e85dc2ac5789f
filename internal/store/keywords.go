package store

import (
	"context"
	"sort"
	"strings"
	"time"
)

// KeywordLister is implemented by a backend that can list the keywords used
// in a mailbox without reading every message (the SQLite backend answers
// from its flag cache). IMAP's FLAGS response needs the set at every SELECT
// (RFC 9051 §7.3.5).
type KeywordLister interface {
	MailboxKeywords(ctx context.Context, acct AccountID, mbox MailboxID) ([]string, error)
}

// MailboxKeywords returns the keywords set on at least one message of the
// mailbox, each once (compared case-insensitively, RFC 9051 §2.3.2),
// sorted case-insensitively. It uses s's KeywordLister when it has one and
// otherwise scans the mailbox's flags.
func MailboxKeywords(ctx context.Context, s Mail, acct AccountID, mbox MailboxID) ([]string, error) {
	if kl, ok := s.(KeywordLister); ok {
		return kl.MailboxKeywords(ctx, acct, mbox)
	}
	var ks KeywordSet
	err := s.ListMessages(ctx, acct, mbox, ListOptions{}, func(m *Message) error {
		ks.Add(m.Flags.Keywords)
		return nil
	})
	return ks.Sorted(), err
}

// KeywordSet collects keywords case-insensitively, keeping the first
// spelling. The zero value is empty and ready.
type KeywordSet struct {
	seen map[string]string // lower case → as first seen
	last []string          // the last slice added, to skip runs of equal flags cheaply
}

// Add adds kws.
func (k *KeywordSet) Add(kws []string) {
	if len(kws) == 0 || sameStrings(kws, k.last) {
		return
	}
	k.last = kws
	if k.seen == nil {
		k.seen = map[string]string{}
	}
	for _, w := range kws {
		l := strings.ToLower(w)
		if _, ok := k.seen[l]; !ok {
			k.seen[l] = w
		}
	}
}

// Sorted returns the keywords sorted case-insensitively.
func (k *KeywordSet) Sorted() []string {
	out := make([]string, 0, len(k.seen))
	for _, w := range k.seen {
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i]) < strings.ToLower(out[j]) })
	return out
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// MailboxKeywords passes the call on to the wrapped store.
func (m *metered) MailboxKeywords(ctx context.Context, acct AccountID, mbox MailboxID) ([]string, error) {
	defer m.since("keywords", time.Now())
	return MailboxKeywords(ctx, m.Store, acct, mbox)
}
