package postgres

import (
	"testing"

	"github.com/youju/youju/internal/store"
)

// FuzzParsePayload: any NOTIFY payload (any role that may NOTIFY on the
// channel can send one) is parsed without a panic, and what a node sends
// reads back the same on another node.
func FuzzParsePayload(f *testing.F) {
	for _, p := range []string{"n 1 2 3", "n 1 M", "", "n", "n 1 2", "n 99999999999999999999 1 1", "n 1 2 18446744073709551615"} {
		f.Add(p)
	}
	a := &Store{node: "aaaa"}
	b := &Store{node: "bbbb"}
	f.Fuzz(func(t *testing.T, p string) {
		e, ok := b.parsePayload(p)
		if !ok {
			return
		}
		if e.Account <= 0 || (!e.Mailboxes && e.Mailbox <= 0) {
			t.Fatalf("%q parsed to %+v", p, e)
		}
		back, ok := b.parsePayload(a.payloads([]store.Event{e})[0])
		if !ok || back != e {
			t.Fatalf("%+v round-trips to %+v %v", e, back, ok)
		}
	})
}
