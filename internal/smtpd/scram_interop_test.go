package smtpd

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/youju/youju/internal/testutil"
)

// TestMsmtpSCRAMInterop submits a message with msmtp, whose SASL is GNU
// SASL (libgsasl): a SCRAM-SHA-256 client we did not write, over STARTTLS.
// A wrong password must fail.
func TestMsmtpSCRAMInterop(t *testing.T) {
	msmtp := testutil.NeedCommand(t, "msmtp", "apt-get install msmtp")
	if out, _ := exec.Command(msmtp, "--version").CombinedOutput(); !strings.Contains(string(out), "scram-sha-256") {
		testutil.Missing(t, "this msmtp has no scram-sha-256 (it needs GNU SASL)")
	}
	e := newEnv(t)
	e.setSCRAM(t)
	host, port, _ := strings.Cut(e.start(e.server(Submission), false), ":")
	submit := func(pass string) ([]byte, error) {
		cmd := exec.Command(msmtp, "--host="+host, "--port="+port, "--tls=on", "--tls-starttls=on", "--tls-certcheck=off",
			"--auth=scram-sha-256", "--user=alice@example.com", "--passwordeval=echo '"+pass+"'",
			"--from=alice@example.com", "bob@example.com")
		cmd.Stdin = strings.NewReader("From: alice@example.com\r\nTo: bob@example.com\r\nSubject: sent with SCRAM\r\n\r\nbody\r\n")
		return cmd.CombinedOutput()
	}
	if out, err := submit("wrong"); err == nil || !strings.Contains(string(out), "invalid-proof") {
		t.Fatalf("msmtp with a wrong password: %v\n%s", err, out)
	}
	if out, err := submit(password); err != nil {
		t.Fatalf("msmtp with SCRAM-SHA-256: %v\n%s", err, out)
	}
	msgs := e.inbox(e.bob)
	if len(msgs) != 1 || !strings.Contains(msgs[0], "Subject: sent with SCRAM") {
		t.Fatalf("bob's INBOX: %q", msgs)
	}
}
