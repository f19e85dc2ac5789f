package smtpd

import (
	"encoding/pem"
	"github.com/youju/youju/internal/testutil/fixture"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/youju/youju/internal/testutil"
)

// caFile writes the test certificate as PEM for external clients.
func caFile(t *testing.T) string {
	tlsPair(t)
	p := filepath.Join(t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fixture.Cert().Certificate[0]})
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func splitAddr(t *testing.T, addr string) (string, string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// TestPythonSmtplib drives the server with Python's smtplib.
func TestPythonSmtplib(t *testing.T) {
	py := testutil.NeedCommand(t, "python3", "apt-get install python3")
	e := newEnv(t)
	ca := caFile(t)
	run := func(mode, addr string) {
		h, p := splitAddr(t, addr)
		out, err := exec.Command(py, "testdata/smtplib_client.py", mode, h, p, ca).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "ok") {
			t.Fatalf("%s: %v\n%s", mode, err, out)
		}
	}
	run("inbound", e.start(e.server(Inbound), false))
	run("submission", e.start(e.server(Submission), false))
	run("smtps", e.start(e.server(Submission), true))
	if n := len(e.inbox(e.alice)); n != 2 {
		t.Errorf("alice has %d messages, want 2", n)
	}
	if in := e.inbox(e.bob); len(in) != 1 || !strings.Contains(in[0], "Subject: py-submission") {
		t.Errorf("bob: %q", in)
	}
	if q := e.queue.List(); len(q) != 1 {
		t.Errorf("queue has %d", len(q))
	}
}

// TestSwaks drives the server with swaks (Debian package).
func TestSwaks(t *testing.T) {
	sw := testutil.NeedCommand(t, "swaks", "apt-get install swaks")
	e := newEnv(t)
	mx := e.start(e.server(Inbound), false)
	sub := e.start(e.server(Submission), false)
	smtps := e.start(e.server(Submission), true)
	swaks := func(want string, args ...string) {
		t.Helper()
		out, err := exec.Command(sw, append([]string{"--hide-informational", "--timeout", "20"}, args...)...).CombinedOutput()
		if want == "" && err != nil {
			t.Fatalf("swaks %v: %v\n%s", args, err, out)
		}
		if want != "" && !strings.Contains(string(out), want) {
			t.Fatalf("swaks %v: want %q in\n%s", args, want, out)
		}
	}
	swaks("", "--server", mx, "--from", "sw@remote.net", "--to", "alice@example.com", "--header", "Subject: swaks-mx")
	swaks("550 5.1.1", "--server", mx, "--from", "sw@remote.net", "--to", "ghost@example.com")
	swaks("550 5.7.1", "--server", mx, "--from", "sw@remote.net", "--to", "victim@remote.net")
	swaks("", "--server", sub, "--tls", "--auth", "LOGIN", "--auth-user", "alice@example.com", "--auth-password", password,
		"--from", "alice@example.com", "--to", "bob@example.com", "--header", "Subject: swaks-587")
	swaks("", "--server", smtps, "--tlsc", "--auth", "PLAIN", "--auth-user", "bob@example.com", "--auth-password", password,
		"--from", "bob@example.com", "--to", "alice@example.com", "--header", "Subject: swaks-465")
	swaks("530 5.7.0", "--server", sub, "--from", "alice@example.com", "--to", "bob@example.com")
	swaks("553 5.7.1", "--server", sub, "--tls", "--auth", "PLAIN", "--auth-user", "alice@example.com", "--auth-password", password,
		"--from", "bob@example.com", "--to", "bob@example.com")
	a := e.inbox(e.alice)
	if len(a) != 2 || !strings.Contains(a[0], "Subject: swaks-mx") || !strings.Contains(a[1], "Subject: swaks-465") {
		t.Errorf("alice: %d messages", len(a))
	}
	if b := e.inbox(e.bob); len(b) != 1 || !strings.Contains(b[0], "with ESMTPSA") {
		t.Errorf("bob: %q", b)
	}
}
