package server

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/testutil"
)

// TestPythonImaplib runs testdata/imaplib_interop.py (python3's imaplib)
// against the server. It is skipped when python3 is not installed.
func TestPythonImaplib(t *testing.T) {
	py := testutil.NeedCommand(t, "python3", "apt-get install python3")
	ts := startServer(t, nil)
	ts.deliver(t, "INBOX", simpleMsg, 0)
	host, port, _ := net.SplitHostPort(ts.addr)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "testdata/imaplib_interop.py", host, port, testUser, testPassword, "debug").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "imaplib interop OK") {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
}
