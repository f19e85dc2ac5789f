package cli

import (
	"context"
	"net/netip"
	"regexp"
	"testing"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/testutil"
)

// scramLogin runs a SCRAM-SHA-256 exchange for user/pw against the
// accounts of dir.
func scramLogin(t *testing.T, dir, user, pw string) error {
	t.Helper()
	return withStore(context.Background(), dir, func(_ config.Config, s store.Accounts) error {
		srv, err := auth.New(s, auth.Options{}).SASL(auth.SCRAMSHA256, store.ServiceIMAP, netip.Addr{}, nil, nil)
		if err != nil {
			return err
		}
		c := &testutil.SCRAMClient{User: user, Password: pw}
		sf, _, err := srv.Next([]byte(c.First()))
		if err != nil {
			return err
		}
		cf, err := c.Final(string(sf))
		if err != nil {
			return err
		}
		fin, _, err := srv.Next([]byte(cf))
		if err != nil {
			return err
		}
		if err := c.Verify(string(fin)); err != nil {
			return err
		}
		_, _, err = srv.Next([]byte{})
		return err
	})
}

// TestSCRAMKeysSetByCLI: every command that sets a password also sets its
// SCRAM keys, and a password change keeps the app passwords usable.
func TestSCRAMKeysSetByCLI(t *testing.T) {
	dir := newData(t)
	mustRun(t, "first pw\n", "user", "add", "--data", dir, "--password-stdin", "alice@example.test")
	if err := scramLogin(t, dir, "alice@example.test", "first pw"); err != nil {
		t.Fatalf("SCRAM after user add: %v", err)
	}
	out := mustRun(t, "", "apppass", "add", "--data", dir, "alice@example.test", "iPhone")
	m := regexp.MustCompile(`: (\S{16})\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no app password printed: %q", out)
	}
	mustRun(t, "second pw\n", "user", "passwd", "--data", dir, "--password-stdin", "alice@example.test")
	for pw, ok := range map[string]bool{"second pw": true, m[1]: true, "first pw": false} {
		if err := scramLogin(t, dir, "alice@example.test", pw); (err == nil) != ok {
			t.Errorf("SCRAM with %q after passwd: %v", pw, err)
		}
	}
}
