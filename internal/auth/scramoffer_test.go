package auth

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestSCRAMOfferedOnlyWhenEveryPasswordHasKeys: SCRAM is advertised only
// while the store says every password has keys; the answer is kept for
// scramRecheck, asked again at once after a login added keys, and a
// failing store keeps the last answer.
func TestSCRAMOfferedOnlyWhenEveryPasswordHasKeys(t *testing.T) {
	var ready atomic.Bool
	var asked atomic.Int32
	var fail atomic.Bool
	now := time.Unix(1_800_000_000, 0)
	a := New(&fakeAccounts{}, Options{
		Now: func() time.Time { return now },
		SCRAMReady: func(context.Context) (bool, error) {
			asked.Add(1)
			if fail.Load() {
				return false, errors.New("store down")
			}
			return ready.Load(), nil
		},
	})
	mechs := func() string { return strings.Join(a.Mechanisms(nil), " ") }
	if m := mechs(); m != "PLAIN LOGIN" {
		t.Fatalf("a password without keys: %q", m)
	}
	ready.Store(true)
	if m := mechs(); m != "PLAIN LOGIN" || asked.Load() != 1 {
		t.Fatalf("within the recheck interval: %q, store asked %d times", m, asked.Load())
	}
	a.scramChanged() // a login just added keys
	if m := mechs(); m != "SCRAM-SHA-256 PLAIN LOGIN" || asked.Load() != 2 {
		t.Fatalf("after keys were added: %q, store asked %d times", m, asked.Load())
	}
	ready.Store(false) // e.g. an account restored from an old backup
	fail.Store(true)
	now = now.Add(scramRecheck)
	if m := mechs(); m != "SCRAM-SHA-256 PLAIN LOGIN" {
		t.Fatalf("store failing: %q, want the last answer", m)
	}
	fail.Store(false)
	if m := mechs(); m != "PLAIN LOGIN" {
		t.Fatalf("a password without keys again: %q", m)
	}
}
