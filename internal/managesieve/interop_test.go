package managesieve

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/testutil"
)

// sieveConnect runs sieve-connect against the server with alice's
// password on fd 3 and returns its output.
func sieveConnect(t *testing.T, e *env, args ...string) string {
	t.Helper()
	bin := testutil.NeedCommand(t, "sieve-connect", "apt-get install sieve-connect")
	host, port, _ := net.SplitHostPort(e.addr)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { io.WriteString(pw, password+"\n"); pw.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--server", host, "--port", port, "--user", "alice@example.com",
		"--passwordfd", "3", "--notlsverify", "--authmech", "PLAIN"}, args...)...)
	cmd.ExtraFiles = []*os.File{pr}
	out, err := cmd.CombinedOutput()
	pr.Close()
	if err != nil {
		t.Fatalf("sieve-connect %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestSieveConnect uploads and activates a script with sieve-connect
// (over STARTTLS, AUTHENTICATE PLAIN), then delivers a message that the
// script files into a folder.
func TestSieveConnect(t *testing.T) {
	e := newEnv(t, false)
	src := filepath.Join(t.TempDir(), "rules.sieve")
	script := "require [\"fileinto\", \"mailbox\"];\nif header :contains \"subject\" \"发票\" {\n  fileinto :create \"发票\";\n}\n"
	if err := os.WriteFile(src, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	sieveConnect(t, e, "--localsieve", src, "--remotesieve", "rules", "--upload")
	sieveConnect(t, e, "--remotesieve", "rules", "--activate")
	if out := sieveConnect(t, e, "--list"); !strings.Contains(out, "rules") || !strings.Contains(out, `"rules" ACTIVE`) {
		t.Fatalf("--list: %s", out)
	}
	bad := filepath.Join(t.TempDir(), "bad.sieve")
	os.WriteFile(bad, []byte("fileinto \"x\";\n"), 0o600)
	cmd := exec.Command("sieve-connect", "--server", "127.0.0.1", "--port", strings.Split(e.addr, ":")[1], "--user", "alice@example.com",
		"--passwordfd", "3", "--notlsverify", "--authmech", "PLAIN", "--localsieve", bad, "--checkscript")
	pr, pw, _ := os.Pipe()
	go func() { io.WriteString(pw, password+"\n"); pw.Close() }()
	cmd.ExtraFiles = []*os.File{pr}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "line 1, column 1") {
		t.Errorf("--checkscript of a bad script: %v\n%s", err, out)
	}

	d := delivery.New(e.st, nil, "mx.example.com", slog.New(slog.DiscardHandler))
	d.Sieve = &delivery.Sieve{Scripts: e.scripts, Tracker: e.scripts}
	ctx := context.Background()
	res, err := d.Resolver.Resolve(ctx, "alice@example.com", false)
	if err != nil {
		t.Fatal(err)
	}
	env := &delivery.Envelope{ID: "t1", From: "carol@remote.net", Rcpts: []delivery.Recipient{{Address: "alice@example.com", Resolution: res}}}
	if err := d.Deliver(ctx, env, []byte("From: carol@remote.net\r\nSubject: =?UTF-8?B?5Y+R56Wo?=\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	mb, err := e.st.Mailbox(ctx, e.alice.ID, "发票")
	if err != nil || mb.Messages != 1 {
		t.Fatalf("发票: %+v, %v", mb, err)
	}
	inbox, _ := e.st.Mailbox(ctx, e.alice.ID, "INBOX")
	if inbox.Messages != 0 {
		t.Errorf("INBOX has %d messages", inbox.Messages)
	}
}
