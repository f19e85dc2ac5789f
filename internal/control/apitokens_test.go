package control

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
)

// TestAPITokensOverTheSocket: "youju admin token" while serve runs goes
// through the socket; each store.APITokens call reaches the store, and
// its errors keep their identity.
func TestAPITokensOverTheSocket(t *testing.T) {
	ctx := context.Background()
	st, c := serveStore(t, sqlite.Options{})
	a, err := c.CreateAccount(ctx, store.Account{Address: "boss@example.test", Admin: true})
	if err != nil || !a.Admin {
		t.Fatalf("CreateAccount = %+v, %v", a, err)
	}
	h := sha256.Sum256([]byte("secret"))
	tok, err := c.CreateAPIToken(ctx, store.APIToken{Account: a.ID, Name: "ci", Hash: h})
	if err != nil || tok.ID == 0 {
		t.Fatalf("CreateAPIToken = %+v, %v", tok, err)
	}
	if _, err := c.CreateAPIToken(ctx, store.APIToken{Account: a.ID, Name: "ci", Hash: sha256.Sum256([]byte("x"))}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if got, err := st.APITokenByHash(ctx, h); err != nil || got.ID != tok.ID {
		t.Fatalf("store sees %+v, %v", got, err)
	}
	if got, err := c.APITokenByHash(ctx, h); err != nil || got.Hash != h {
		t.Fatalf("APITokenByHash = %+v, %v", got, err)
	}
	now := time.Now().Truncate(time.Second)
	if err := c.TouchAPIToken(ctx, tok.ID, now); err != nil {
		t.Fatal(err)
	}
	if list, err := c.APITokens(ctx, a.ID); err != nil || len(list) != 1 || !list[0].LastUsed.Equal(now) {
		t.Fatalf("APITokens = %+v, %v", list, err)
	}
	if err := c.DeleteAPIToken(ctx, a.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteAPIToken(ctx, a.ID, tok.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}
