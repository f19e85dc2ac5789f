package cli

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/youju/youju/internal/testutil"
)

// TestServeWithThirdPartyClients sends with msmtp over submission
// (STARTTLS + AUTH) and reads the message back with curl over IMAPS and
// POP3S, all against the real serve wiring.
func TestServeWithThirdPartyClients(t *testing.T) {
	msmtp := testutil.NeedCommand(t, "msmtp", "apt-get install msmtp")
	curl := testutil.NeedCommand(t, "curl", "apt-get install curl")
	dir := newData(t)
	mustRun(t, "alicepw\n", "user", "add", "--data", dir, "--password-stdin", "alice@example.test")
	addrs, _, _ := startServe(t, dir)
	host, port, _ := strings.Cut(addrs["submission"], ":")

	send := exec.Command(msmtp, "--host="+host, "--port="+port, "--tls=on", "--tls-starttls=on", "--tls-certcheck=off",
		"--auth=plain", "--user=alice@example.test", "--passwordeval=echo alicepw", "--from=alice@example.test",
		"alice@example.test")
	send.Stdin = strings.NewReader("From: alice@example.test\r\nTo: alice@example.test\r\nSubject: sent by msmtp\r\n\r\nbody from msmtp\r\n")
	if out, err := send.CombinedOutput(); err != nil {
		t.Fatalf("msmtp: %v\n%s", err, out)
	}

	for _, url := range []string{"imaps://" + addrs["imaps"] + "/INBOX;UID=1", "pop3s://" + addrs["pop3s"] + "/1"} {
		out, err := exec.Command(curl, "-sS", "-k", "--max-time", "20", "--user", "alice@example.test:alicepw", url).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %s: %v\n%s", url, err, out)
		}
		if !strings.Contains(string(out), "Subject: sent by msmtp") || !strings.Contains(string(out), "body from msmtp") {
			t.Fatalf("curl %s got:\n%s", url, out)
		}
	}
	// A wrong password is refused, and curl says so.
	if out, err := exec.Command(curl, "-sS", "-k", "--max-time", "20", "--user", "alice@example.test:wrong", "imaps://"+addrs["imaps"]+"/INBOX;UID=1").CombinedOutput(); err == nil {
		t.Fatalf("curl logged in with a wrong password:\n%s", out)
	}
}
