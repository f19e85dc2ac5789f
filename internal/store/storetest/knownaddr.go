package storetest

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
)

// testKnownAddresses checks store.KnownAddresses where the backend has it:
// a recorded prefix is known from its time on, per account, survives a
// reopen, only the store.MaxKnownAddresses most recent stay, and the rows
// go with the account.
func testKnownAddresses(t *testing.T, open Opener) {
	key := NewKey(t)
	s := open(t, key)
	ka, ok := s.(store.KnownAddresses)
	if !ok {
		s.Close()
		t.Skip("backend does not implement store.KnownAddresses")
	}
	a := newAccount(t, s, "known@example.org")
	b := newAccount(t, s, "other@example.org")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	office := netip.MustParsePrefix("192.0.2.0/24")
	known := func(ka store.KnownAddresses, acct store.AccountID, p netip.Prefix, since time.Time) bool {
		t.Helper()
		ok, err := ka.KnownSince(ctx, acct, p, since)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if known(ka, a.ID, office, time.Time{}) {
		t.Fatal("known before any sign-in")
	}
	if err := ka.RecordSignIn(ctx, a.ID, office, t0); err != nil {
		t.Fatal(err)
	}
	if !known(ka, a.ID, office, t0.Add(-time.Hour)) || !known(ka, a.ID, office, t0) {
		t.Error("recorded prefix not known")
	}
	if known(ka, a.ID, office, t0.Add(time.Second)) {
		t.Error("known since a time after the last sign-in")
	}
	if known(ka, b.ID, office, time.Time{}) {
		t.Error("one account's prefix is known for another")
	}
	// A new sign-in refreshes the time; an older one does not move it back.
	if err := ka.RecordSignIn(ctx, a.ID, office, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := ka.RecordSignIn(ctx, a.ID, office, t0); err != nil {
		t.Fatal(err)
	}
	if !known(ka, a.ID, office, t0.Add(time.Hour)) {
		t.Error("refreshed time lost")
	}
	s.Close()

	s = open(t, key)
	t.Cleanup(func() { s.Close() })
	ka = s.(store.KnownAddresses)
	if !known(ka, a.ID, office, t0.Add(time.Hour)) {
		t.Fatal("known prefix lost across reopen")
	}
	// Bounded: after MaxKnownAddresses newer prefixes, the office is gone.
	for i := range store.MaxKnownAddresses {
		p := netip.MustParsePrefix(fmt.Sprintf("2001:db8:%x::/64", i))
		if err := ka.RecordSignIn(ctx, a.ID, p, t0.Add(2*time.Hour+time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if known(ka, a.ID, office, time.Time{}) {
		t.Errorf("more than %d prefixes kept", store.MaxKnownAddresses)
	}
	if !known(ka, a.ID, netip.MustParsePrefix("2001:db8::/64"), time.Time{}) {
		t.Error("the most recent prefixes were not all kept")
	}
	if err := s.DeleteAccount(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if known(ka, a.ID, netip.MustParsePrefix("2001:db8::/64"), time.Time{}) {
		t.Error("known prefixes outlive their account")
	}
}
