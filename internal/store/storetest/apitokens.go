package storetest

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
)

// testAdmin checks the account's admin flag: off by default, kept by
// UpdateAccount, read back by every lookup.
func testAdmin(t *testing.T, open Opener) {
	s := open(t, t.TempDir())
	defer s.Close()
	a := newAccount(t, s, "boss@example.org")
	if a.Admin {
		t.Fatal("a new account is admin")
	}
	a.Admin = true
	if err := s.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := s.Account(ctx, a.Address)
	if err != nil || !got.Admin {
		t.Fatalf("Account after setting admin = %+v, %v", got, err)
	}
	as, err := s.ListAccounts(ctx)
	if err != nil || len(as) != 1 || !as[0].Admin {
		t.Fatalf("ListAccounts = %+v, %v", as, err)
	}
	got.Admin = false
	if err := s.UpdateAccount(ctx, got); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.AccountByID(ctx, a.ID); got.Admin {
		t.Fatal("admin flag not cleared")
	}
}

// testAPITokens checks store.APITokens where the backend has it: create,
// look up by hash, list, duplicate names, touch, revoke, isolation
// between accounts and rows going with the account.
func testAPITokens(t *testing.T, open Opener) {
	s := open(t, t.TempDir())
	defer s.Close()
	ts, ok := s.(store.APITokens)
	if !ok {
		t.Skip("backend does not implement store.APITokens")
	}
	a := newAccount(t, s, "tok@example.org")
	b := newAccount(t, s, "tokother@example.org")
	h := func(x string) [32]byte { return sha256.Sum256([]byte(x)) }
	t1, err := ts.CreateAPIToken(ctx, store.APIToken{Account: a.ID, Name: "ci", Hash: h("one")})
	if err != nil || t1.ID == 0 || t1.Created.IsZero() {
		t.Fatalf("CreateAPIToken = %+v, %v", t1, err)
	}
	if _, err := ts.CreateAPIToken(ctx, store.APIToken{Account: a.ID, Name: "ci", Hash: h("two")}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("same name twice: %v", err)
	}
	if _, err := ts.CreateAPIToken(ctx, store.APIToken{Account: b.ID, Name: "ci", Hash: h("three")}); err != nil {
		t.Fatalf("same name, other account: %v", err)
	}
	if _, err := ts.CreateAPIToken(ctx, store.APIToken{Account: 999999, Name: "x", Hash: h("four")}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown account: %v", err)
	}
	got, err := ts.APITokenByHash(ctx, h("one"))
	if err != nil || got.ID != t1.ID || got.Account != a.ID || got.Name != "ci" || got.Hash != h("one") || !got.LastUsed.IsZero() {
		t.Fatalf("APITokenByHash = %+v, %v", got, err)
	}
	if _, err := ts.APITokenByHash(ctx, h("nope")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown hash: %v", err)
	}
	now := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := ts.TouchAPIToken(ctx, t1.ID, now); err != nil {
		t.Fatal(err)
	}
	list, err := ts.APITokens(ctx, a.ID)
	if err != nil || len(list) != 1 || !list[0].LastUsed.Equal(now) {
		t.Fatalf("APITokens = %+v, %v", list, err)
	}
	if err := ts.DeleteAPIToken(ctx, b.ID, t1.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoking another account's token: %v", err)
	}
	if err := ts.DeleteAPIToken(ctx, a.ID, t1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.APITokenByHash(ctx, h("one")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoked token still found: %v", err)
	}
	if err := s.DeleteAccount(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.APITokenByHash(ctx, h("three")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("token of a deleted account: %v", err)
	}
}
