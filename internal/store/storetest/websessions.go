package storetest

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
)

// testWebSessions checks store.WebSessions where the backend has it:
// create, read, touch, delete one, delete an account's others, expiry,
// survival across a reopen, rows going with the account, and the TOTP
// secret with its replay guard.
func testWebSessions(t *testing.T, open Opener) {
	dir := t.TempDir()
	s := open(t, dir)
	if _, ok := s.(store.WebSessions); !ok {
		s.Close()
		t.Skip("backend does not implement store.WebSessions")
	}
	a := newAccount(t, s, "web@example.org")
	b := newAccount(t, s, "webother@example.org")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	key := func(s string) [32]byte { return sha256.Sum256([]byte(s)) }
	ws := s.(store.WebSessions)
	for i, acct := range []store.AccountID{a.ID, a.ID, b.ID} {
		err := ws.CreateWebSession(ctx, store.WebSession{ID: key(string(rune('1' + i))), Account: acct, CSRF: "tok", Pending: i == 1, Created: t0, LastSeen: t0})
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := ws.WebSession(ctx, key("2"))
	if err != nil || got.Account != a.ID || got.CSRF != "tok" || !got.Pending || !got.Created.Equal(t0) {
		t.Fatalf("WebSession = %+v, %v", got, err)
	}
	if _, err := ws.WebSession(ctx, key("nope")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown session: %v", err)
	}
	if err := ws.TouchWebSession(ctx, key("1"), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Reopen: sessions outlive a restart.
	s.Close()
	s = open(t, dir)
	defer s.Close()
	ws = s.(store.WebSessions)
	if got, err := ws.WebSession(ctx, key("1")); err != nil || !got.LastSeen.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	// Idle before t0+30m: sessions 2 and 3 (never touched) go.
	if n, err := ws.ExpireWebSessions(ctx, t0.Add(30*time.Minute), t0.Add(-time.Hour)); err != nil || n != 2 {
		t.Fatalf("ExpireWebSessions = %d, %v; want 2", n, err)
	}
	if _, err := ws.WebSession(ctx, key("1")); err != nil {
		t.Fatalf("a live session expired: %v", err)
	}
	ws.CreateWebSession(ctx, store.WebSession{ID: key("4"), Account: a.ID, CSRF: "t", Created: t0, LastSeen: t0})
	ws.CreateWebSession(ctx, store.WebSession{ID: key("5"), Account: b.ID, CSRF: "t", Created: t0, LastSeen: t0})
	if err := ws.DeleteAccountWebSessions(ctx, a.ID, key("4")); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]bool{"1": false, "4": true, "5": true} {
		if _, err := ws.WebSession(ctx, key(k)); (err == nil) != want {
			t.Errorf("session %s after DeleteAccountWebSessions: %v", k, err)
		}
	}
	if err := ws.DeleteWebSession(ctx, key("4")); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.WebSession(ctx, key("4")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted session: %v", err)
	}

	// TOTP.
	if _, _, err := ws.WebTOTP(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TOTP before setup: %v", err)
	}
	if err := ws.SetWebTOTP(ctx, a.ID, "SECRET"); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		step int64
		ok   bool
	}{{100, true}, {100, false}, {99, false}, {101, true}} {
		if ok, err := ws.UseWebTOTPStep(ctx, a.ID, c.step); err != nil || ok != c.ok {
			t.Errorf("use %d: step %d = %v, %v; want %v", i, c.step, ok, err, c.ok)
		}
	}
	if sec, step, err := ws.WebTOTP(ctx, a.ID); err != nil || sec != "SECRET" || step != 101 {
		t.Errorf("WebTOTP = %q %d %v", sec, step, err)
	}
	if err := ws.SetWebTOTP(ctx, a.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.WebTOTP(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TOTP after removal: %v", err)
	}
	// Rows go with the account.
	ws.SetWebTOTP(ctx, b.ID, "B")
	if err := s.DeleteAccount(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.WebSession(ctx, key("5")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session of a deleted account: %v", err)
	}
	if _, _, err := ws.WebTOTP(ctx, b.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TOTP of a deleted account: %v", err)
	}
}
