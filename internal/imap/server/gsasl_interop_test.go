package server

import (
	"context"
	"encoding/pem"
	"github.com/youju/youju/internal/testutil/fixture"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/testutil"
)

// TestGsaslSCRAMPlusInterop authenticates with the gsasl tool of GNU SASL
// (Debian package gsasl), a third-party client that binds SCRAM to the
// TLS channel with tls-exporter (RFC 9266) after STARTTLS. It checks
// SCRAM-SHA-256-PLUS (gsasl verifies our server signature: "server
// trusted"), a wrong password, and SCRAM-SHA-256 without channel binding.
// (gsasl will not send the gs2 flag "y" itself; TestAuthenticateSCRAMPlus
// covers that downgrade with our test client.)
func TestGsaslSCRAMPlusInterop(t *testing.T) {
	gsasl := testutil.NeedCommand(t, "gsasl", "apt-get install gsasl")
	ts := startServer(t, func(s *Server) { s.AllowPlaintextLoopback = false })
	withSCRAMKeys(t, ts)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fixture.Cert().Leaf.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(mech, pass string, extra ...string) (string, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		args := append([]string{"--client", "--connect=" + ts.addr, "--imap", "--starttls", "--x509-ca-file=" + ca,
			"-m", mech, "-a", testUser, "-p", pass}, extra...)
		cmd := exec.CommandContext(ctx, gsasl, args...)
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	const trusted = "Client authentication finished (server trusted)"
	out, err := run("SCRAM-SHA-256-PLUS", testPassword)
	if err != nil || !strings.Contains(out, trusted) || !strings.Contains(out, "OK [CAPABILITY") {
		t.Fatalf("SCRAM-SHA-256-PLUS: %v\n%s", err, out)
	}
	if out, err := run("SCRAM-SHA-256-PLUS", "wrong"); err == nil || strings.Contains(out, trusted) {
		t.Fatalf("wrong password accepted: %v\n%s", err, out)
	} else if !strings.Contains(out, "invalid-proof") {
		t.Fatalf("wrong password: no e=invalid-proof in\n%s", out)
	}
	if out, err := run("SCRAM-SHA-256", testPassword, "--no-cb"); err != nil || !strings.Contains(out, trusted) {
		t.Fatalf("SCRAM-SHA-256 without channel binding: %v\n%s", err, out)
	}
}
