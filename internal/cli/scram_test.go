package cli

import (
	"context"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
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
		srv, err := auth.New(s, auth.Options{}).SASL(t.Context(), auth.SCRAMSHA256, store.ServiceIMAP, netip.Addr{}, nil, nil)
		if err != nil {
			return err
		}
		return (&testutil.SCRAMClient{User: user, Password: pw}).Exchange(srv)
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

// TestServeSCRAMUpgrade runs serve with an account whose password predates
// SCRAM keys (as after an upgrade of youju): SCRAM-SHA-256 is not offered,
// msmtp picking the best mechanism offered logs in (PLAIN), which adds the
// keys, and then SCRAM-SHA-256 is offered and works.
func TestServeSCRAMUpgrade(t *testing.T) {
	msmtp := testutil.NeedCommand(t, "msmtp", "apt-get install msmtp")
	dir := newData(t)
	mustRun(t, "alicepw\n", "user", "add", "--data", dir, "--password-stdin", "alice@example.test")
	err := withStore(context.Background(), dir, func(_ config.Config, st store.Accounts) error {
		a, err := st.Account(context.Background(), "alice@example.test")
		if err != nil {
			return err
		}
		a.SCRAM = ""
		return st.UpdateAccount(context.Background(), a)
	})
	if err != nil {
		t.Fatal(err)
	}
	addrs, _, _ := startServe(t, dir)
	host, port, _ := strings.Cut(addrs["submission"], ":")
	send := func(mech string) ([]byte, error) {
		cmd := exec.Command(msmtp, "--host="+host, "--port="+port, "--tls=on", "--tls-starttls=on", "--tls-certcheck=off",
			"--auth="+mech, "--user=alice@example.test", "--passwordeval=echo alicepw", "--from=alice@example.test",
			"alice@example.test")
		cmd.Stdin = strings.NewReader("From: alice@example.test\r\nTo: alice@example.test\r\nSubject: " + mech + "\r\n\r\nbody\r\n")
		return cmd.CombinedOutput()
	}
	// SCRAM is not offered while a password has no keys, so a client
	// that picks the best mechanism offered ("on") still gets in.
	if out, err := send("scram-sha-256"); err == nil || !strings.Contains(string(out), "does not support authentication method SCRAM-SHA-256") {
		t.Fatalf("SCRAM before the keys exist: %v\n%s", err, out)
	}
	if out, err := send("on"); err != nil {
		t.Fatalf("best mechanism offered, before the keys exist: %v\n%s", err, out)
	}
	if out, err := send("scram-sha-256"); err != nil {
		t.Fatalf("SCRAM after a PLAIN login: %v\n%s", err, out)
	}
}
