package cli

import (
	"fmt"
	"strings"
	"testing"
)

// TestServeSieveForwardNotice: a forward set up through ManageSieve is
// announced in the user's INBOX and logged; a script past max_forwards
// is refused with NO (QUOTA) and changes nothing.
func TestServeSieveForwardNotice(t *testing.T) {
	dir := newData(t)
	mustRun(t, "alicepw\n", "user", "add", "--data", dir, "--password-stdin", "alice@example.test")
	addrs, out, _ := startServe(t, dir)
	cmd := manageSieveLogin(t, addrs["managesieve"], "alice@example.test", "alicepw")
	put := func(name, script string) string {
		return cmd(fmt.Sprintf("PUTSCRIPT %q {%d+}\r\n%s", name, len(script), script))
	}
	if rep := put("fwd", `redirect "dave@remote.test";`); !strings.HasPrefix(rep, "OK") {
		t.Fatalf("PUTSCRIPT: %q", rep)
	}
	if st := imapStatus(t, addrs["imaps"], "alice@example.test", "alicepw"); !strings.Contains(st, "MESSAGES 0") {
		t.Fatalf("a notice before the script is active: %q", st)
	}
	if rep := cmd(`SETACTIVE "fwd"`); !strings.HasPrefix(rep, "OK") {
		t.Fatalf("SETACTIVE: %q", rep)
	}
	if st := imapStatus(t, addrs["imaps"], "alice@example.test", "alicepw"); !strings.Contains(st, "MESSAGES 1") {
		t.Fatalf("INBOX after a forward was added: %q (want the notice)", st)
	}
	var many strings.Builder
	for i := 0; i < 6; i++ {
		fmt.Fprintf(&many, "redirect \"x%d@remote.test\";\n", i)
	}
	if rep := put("fwd", many.String()); !strings.HasPrefix(rep, "NO (QUOTA)") {
		t.Fatalf("6 destinations (max_forwards 5): %q", rep)
	}
	cmd("LOGOUT")
	if st := imapStatus(t, addrs["imaps"], "alice@example.test", "alicepw"); !strings.Contains(st, "MESSAGES 1") {
		t.Fatalf("INBOX after the refused script: %q", st)
	}
	if log := out.String(); !strings.Contains(log, "forwarding destination added") || !strings.Contains(log, "dave@remote.test") {
		t.Errorf("no log line for the new forward")
	}
}
