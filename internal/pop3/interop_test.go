package pop3

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"github.com/youju/youju/internal/testutil/fixture"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/youju/youju/internal/testutil"

	"github.com/youju/youju/internal/store"
)

// writeCA writes the test certificate as PEM for third-party clients.
func writeCA(t *testing.T) string {
	serverTLS(t)
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fixture.Cert().Leaf.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const poplibScript = `
import json, poplib, ssl, sys
host, port, tlsport, user, pw, cafile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
ctx = ssl.create_default_context(cafile=cafile)
out = {}
p = poplib.POP3(host, port, timeout=10)
out["capa_plain"] = sorted(p.capa().keys())
p.stls(ctx)
out["capa_tls"] = sorted(p.capa().keys())
p.user(user)
p.pass_(pw)
out["stat"] = list(p.stat())
out["list"] = [l.decode() for l in p.list()[1]]
out["uidl"] = [l.decode() for l in p.uidl()[1]]
out["retr"] = [(b"\r\n".join(p.retr(i + 1)[1]) + b"\r\n").decode() for i in range(out["stat"][0])]
out["top"] = [l.decode() for l in p.top(2, 1)[1]]
try:
    p.retr(99)
except poplib.error_proto as e:
    out["err"] = e.args[0].decode()
p.dele(1)
p.quit()
s = poplib.POP3_SSL(host, tlsport, context=ctx, timeout=10)
s.user(user)
s.pass_(pw)
out["stat_after"] = list(s.stat())
s.quit()
print(json.dumps(out))
`

// TestPoplibInterop drives the server with python3's poplib: STLS, USER/
// PASS, STAT, LIST, UIDL, RETR, TOP, an error, DELE, QUIT, then POP3_SSL on
// the implicit-TLS port.
func TestPoplibInterop(t *testing.T) {
	py := testutil.NeedCommand(t, "python3", "apt-get install python3")
	st, _ := sqliteFixture(t, store.POP3Options{}, testMsgs)
	ts := startServer(t, st, func(s *Server) { s.AllowPlaintextLoopback = false })
	host, port, _ := net.SplitHostPort(ts.addr)
	_, tlsPort, _ := net.SplitHostPort(ts.tlsAddr)
	out, err := exec.Command(py, "-c", poplibScript, host, port, tlsPort, "alice@example.org", testPassword, writeCA(t)).CombinedOutput()
	if err != nil {
		t.Fatalf("poplib: %v\n%s", err, out)
	}
	var res struct {
		Capa1            []string `json:"capa_plain"`
		Capa2            []string `json:"capa_tls"`
		Stat             []int
		StatAfter        []int `json:"stat_after"`
		List, UIDL, Retr []string
		Top              []string
		Err              string
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if strings.Contains(strings.Join(res.Capa1, " "), "USER") || !strings.Contains(strings.Join(res.Capa1, " "), "STLS") {
		t.Errorf("CAPA before STLS: %v", res.Capa1)
	}
	if !strings.Contains(strings.Join(res.Capa2, " "), "USER") {
		t.Errorf("CAPA after STLS: %v", res.Capa2)
	}
	if fmt.Sprint(res.Stat) != fmt.Sprint([]int{3, totalSize()}) || len(res.List) != 3 || len(res.UIDL) != 3 {
		t.Errorf("stat %v list %v uidl %v", res.Stat, res.List, res.UIDL)
	}
	for i, m := range testMsgs {
		if res.Retr[i] != m {
			t.Errorf("retr %d = %q, want %q", i+1, res.Retr[i], m)
		}
	}
	if strings.Join(res.Top, "|") != "Subject: two|.X: y||.dot line" {
		t.Errorf("top = %q", res.Top)
	}
	if res.Err != "-ERR No such message" {
		t.Errorf("error = %q", res.Err)
	}
	if fmt.Sprint(res.StatAfter) != fmt.Sprint([]int{2, totalSize() - len(testMsgs[0])}) {
		t.Errorf("stat after DELE+QUIT = %v", res.StatAfter)
	}
}

// TestFetchmailKeepTwice: fetchmail with "keep" (leave on server) run twice
// downloads each message once: UIDL is stable. Fetchmail checks the
// certificate over STLS with the test CA.
func TestFetchmailKeepTwice(t *testing.T) {
	fm := testutil.NeedCommand(t, "fetchmail", "apt-get install fetchmail")
	st, a := sqliteFixture(t, store.POP3Options{}, testMsgs)
	ts := startServer(t, st, func(s *Server) { s.AllowPlaintextLoopback = false })
	dir := t.TempDir()
	_, port, _ := net.SplitHostPort(ts.addr)
	mbox := filepath.Join(dir, "delivered")
	rc := filepath.Join(dir, "fetchmailrc")
	conf := fmt.Sprintf(`set no syslog
poll localhost with proto POP3 port %s uidl
  user "alice@example.org" there with password "%s" is "nobody" here
  options keep sslproto tls1.2+ sslcertck sslcertfile "%s"
  mda "/bin/sh -c 'cat >> %s; echo ==END== >> %s'"
`, port, testPassword, writeCA(t), mbox, mbox)
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func() {
		t.Helper()
		cmd := exec.Command(fm, "-f", rc, "--idfile", filepath.Join(dir, "ids"), "--pidfile", filepath.Join(dir, "pid"), "--nodetach", "-v")
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		// Exit status 1 means "no new mail", which the second run expects.
		if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1) {
			t.Fatalf("fetchmail: %v\n%s", err, out)
		}
		t.Logf("fetchmail:\n%s", out)
	}
	run()
	deliver(t, st, a.ID, "Subject: four\r\n\r\n4\r\n")
	run()
	run()
	data, err := os.ReadFile(mbox)
	if err != nil {
		t.Fatal(err)
	}
	got := string(data)
	if n := strings.Count(got, "==END=="); n != 4 {
		t.Fatalf("fetchmail delivered %d messages, want 4 (3 then 1):\n%s", n, got)
	}
	for _, subj := range []string{"one", "two", "three", "four"} {
		if strings.Count(got, "Subject: "+subj) != 1 {
			t.Errorf("message %q delivered %d times", subj, strings.Count(got, "Subject: "+subj))
		}
	}
	inbox, _ := st.Mailbox(t.Context(), a.ID, "INBOX")
	if inbox.Messages != 4 {
		t.Errorf("keep deleted mail: INBOX has %d", inbox.Messages)
	}
}
