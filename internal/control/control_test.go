package control

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
)

// TestEveryMethodOverTheSocket drives each store.Accounts method through
// a real socket into a real store and checks the effect, and that store
// errors keep their identity.
func TestEveryMethodOverTheSocket(t *testing.T) {
	ctx := context.Background()
	st, c := serveStore(t, sqlite.Options{})

	if err := c.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.AddDomain(ctx, "example.test"); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate domain: %v, want ErrExists", err)
	}
	if ok, err := c.IsLocalDomain(ctx, "example.test"); !ok || err != nil {
		t.Fatalf("IsLocalDomain = %v, %v", ok, err)
	}
	if ds, err := c.Domains(ctx); err != nil || len(ds) != 1 || ds[0].Name != "example.test" {
		t.Fatalf("Domains = %+v, %v", ds, err)
	}
	a, err := c.CreateAccount(ctx, store.Account{Address: "alice@example.test", PasswordHash: "h", SCRAM: "k", AllowIMAP: true, Created: time.Now()})
	if err != nil || a.ID == 0 {
		t.Fatalf("CreateAccount = %+v, %v", a, err)
	}
	a.QuotaBytes = 12345
	if err := c.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Account(ctx, "alice@example.test"); err != nil || got.QuotaBytes != 12345 || got.SCRAM != "k" {
		t.Fatalf("store sees %+v, %v", got, err)
	}
	if got, err := c.AccountByID(ctx, a.ID); err != nil || got.Address != a.Address {
		t.Fatalf("AccountByID = %+v, %v", got, err)
	}
	if _, err := c.Account(ctx, "nobody@example.test"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown account: %v, want ErrNotFound", err)
	}
	if as, err := c.ListAccounts(ctx); err != nil || len(as) != 1 {
		t.Fatalf("ListAccounts = %+v, %v", as, err)
	}
	if as, err := c.AccountsPage(ctx, store.AccountPage{Query: "ALI", Limit: 5}); err != nil || len(as) != 1 || as[0].ID != a.ID {
		t.Fatalf("AccountsPage = %+v, %v", as, err)
	}
	if as, err := c.AccountsPage(ctx, store.AccountPage{After: a.Address}); err != nil || len(as) != 0 {
		t.Fatalf("AccountsPage after the last = %+v, %v", as, err)
	}
	if err := c.SetAlias(ctx, store.Alias{Address: "@example.test", Targets: []string{"alice@example.test"}}); err != nil {
		t.Fatal(err)
	}
	if al, err := c.Alias(ctx, "@example.test"); err != nil || len(al.Targets) != 1 {
		t.Fatalf("Alias = %+v, %v", al, err)
	}
	if als, err := c.ListAliases(ctx); err != nil || len(als) != 1 {
		t.Fatalf("ListAliases = %+v, %v", als, err)
	}
	if err := c.DeleteAlias(ctx, "@example.test"); err != nil {
		t.Fatal(err)
	}
	p, err := c.AddAppPassword(ctx, store.AppPassword{AccountID: a.ID, Name: "phone", Hash: "x", SCRAM: "y", Created: time.Now()})
	if err != nil || p.ID == 0 {
		t.Fatalf("AddAppPassword = %+v, %v", p, err)
	}
	when := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	if err := c.TouchAppPassword(ctx, p.ID, when); err != nil {
		t.Fatal(err)
	}
	if ps, err := c.AppPasswords(ctx, a.ID); err != nil || len(ps) != 1 || !ps[0].LastUsed.Equal(when) || ps[0].SCRAM != "y" {
		t.Fatalf("AppPasswords = %+v, %v", ps, err)
	}
	if err := c.DeleteAppPassword(ctx, a.ID, "phone"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteAccount(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	if ds, _ := st.Domains(ctx); len(ds) != 0 {
		t.Fatalf("domains left: %+v", ds)
	}
}

// serveStore opens a SQLite store in a test directory, serves it on the
// control socket there and dials it: the server side and the client of
// each test.
func serveStore(t *testing.T, opt sqlite.Options) (*sqlite.Store, *Client) {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "mail"), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sock := filepath.Join(dir, SocketName)
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := Serve(l, st, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { srv.Close() })
	c, err := Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	return st, c
}

func TestDialFailsWithoutServer(t *testing.T) {
	if _, err := Dial(filepath.Join(t.TempDir(), SocketName)); err == nil {
		t.Fatal("Dial succeeded with nothing listening")
	}
}
