package spam

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/youju/youju/internal/testutil"
)

// The real scanners from Debian (rspamd, clamav-daemon), started by the
// tests with their own configuration under a temporary directory. clamd
// gets no signatures from the network (freshclam needs it): the test
// gives it its own, the MD5 of the EICAR test file, in a .hdb database,
// which is what a real signature of the daily database is like.

const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// gtube is the standard test pattern that spam filters reject.
const gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

// startDaemon runs cmd until the test ends and waits for ready.
func startDaemon(t *testing.T, cmd *exec.Cmd, log string, wait time.Duration, ready func() bool) {
	t.Helper()
	out, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group: rspamd forks workers, which outlive a
	// killed master.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		pg := -cmd.Process.Pid
		syscall.Kill(pg, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
		syscall.Kill(pg, syscall.SIGKILL) // whatever is left of the group
		<-done
		out.Close()
	})
	deadline := time.Now().Add(wait)
	for !ready() {
		select {
		case <-done:
			b, _ := os.ReadFile(log)
			t.Fatalf("%s ended before it was ready:\n%s", cmd.Path, b)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log)
			t.Fatalf("%s not ready after %s:\n%s", cmd.Path, wait, b)
		}
	}
}

func TestRealClamd(t *testing.T) {
	clamd := testutil.NeedCommand(t, "clamd", "clamav-daemon")
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	os.Mkdir(db, 0o755)
	sum := md5.Sum([]byte(eicar))
	if err := os.WriteFile(filepath.Join(db, "youju.hdb"), fmt.Appendf(nil, "%s:%d:Youju.Test.EICAR\n", hex.EncodeToString(sum[:]), len(eicar)), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "clamd.sock")
	conf := fmt.Sprintf("Foreground yes\nLocalSocket %s\nDatabaseDirectory %s\nLogFile %s\nPidFile %s\n",
		sock, db, filepath.Join(dir, "clamd.log"), filepath.Join(dir, "clamd.pid"))
	if os.Geteuid() == 0 {
		conf += "User root\n"
	}
	os.WriteFile(filepath.Join(dir, "clamd.conf"), []byte(conf), 0o644)
	c := &Clamd{Addr: "unix:" + sock, Timeout: 20 * time.Second}
	clean := []byte("From: a@b.example\r\nSubject: hello\r\n\r\nJust a note.\r\n")
	startDaemon(t, exec.Command(clamd, "-c", filepath.Join(dir, "clamd.conf")), filepath.Join(dir, "out"), 3*time.Minute, func() bool {
		v, err := c.Scan(context.Background(), clean)
		return err == nil && v == ""
	})
	infected := "From: a@b.example\r\nSubject: invoice\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
		"--b\r\nContent-Type: application/octet-stream; name=invoice.com\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte(eicar)) + "\r\n--b--\r\n"
	v, err := c.Scan(context.Background(), []byte(infected))
	if err != nil || !strings.Contains(v, "Youju.Test.EICAR") {
		t.Fatalf("infected message: %q, %v", v, err)
	}
	// Through the checker: refused as a virus.
	ck := &Checker{Clamd: c}
	if r := ck.Scan(context.Background(), Envelope{}, []byte(infected)); !strings.Contains(r.Virus, "Youju.Test.EICAR") {
		t.Fatalf("checker: %+v", r)
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestRealRspamd(t *testing.T) {
	rspamd := testutil.NeedCommand(t, "rspamd", "rspamd")
	dir := t.TempDir()
	local := filepath.Join(dir, "local.d")
	os.MkdirAll(local, 0o755)
	normal := freePort(t)
	files := map[string]string{
		"worker-normal.inc":     fmt.Sprintf("bind_socket = \"127.0.0.1:%d\";\ncount = 1;\n", normal),
		"worker-controller.inc": fmt.Sprintf("bind_socket = \"127.0.0.1:%d\";\ncount = 1;\n", freePort(t)),
		"worker-proxy.inc":      fmt.Sprintf("bind_socket = \"127.0.0.1:%d\";\ncount = 1;\n", freePort(t)),
		"logging.inc":           "type = \"console\";\nlevel = \"warning\";\n",
		// No DNS from tests: an address nothing answers on.
		"options.inc": "dns { nameserver = [\"127.0.0.1:1\"]; timeout = 0.5s; retransmits = 1; }\n",
	}
	for n, s := range files {
		if err := os.WriteFile(filepath.Join(local, n), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The compiled regexp cache is kept between runs: compiling it
	// takes a minute or more on a loaded machine.
	db := filepath.Join(os.TempDir(), "youju-test-rspamd-db")
	os.MkdirAll(db, 0o755)
	run := filepath.Join(dir, "run")
	os.Mkdir(run, 0o755)
	args := []string{"-f", "-c", "/etc/rspamd/rspamd.conf", "--var=LOCAL_CONFDIR=" + dir, "--var=DBDIR=" + db, "--var=RUNDIR=" + run}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root", "-g", "root")
	}
	r := &Rspamd{URL: fmt.Sprintf("http://127.0.0.1:%d", normal), Timeout: 30 * time.Second}
	clean := []byte("From: a@b.example\r\nTo: c@d.example\r\nSubject: lunch\r\nMessage-ID: <1@b.example>\r\n\r\nSee you at noon.\r\n")
	env := Envelope{IP: "192.0.2.1", Helo: "mail.b.example", From: "a@b.example", Rcpts: []string{"c@d.example"}, ID: "t1"}
	startDaemon(t, exec.Command(rspamd, args...), filepath.Join(dir, "out"), 5*time.Minute, func() bool {
		_, err := r.Check(context.Background(), env, clean)
		return err == nil
	})
	res, err := r.Check(context.Background(), env, []byte("From: a@b.example\r\nSubject: offer\r\n\r\n"+gtube+"\r\n"))
	if err != nil || res.Action != "reject" {
		t.Fatalf("GTUBE: %+v, %v", res, err)
	}
	res, err = r.Check(context.Background(), env, clean)
	if err != nil || res.Action == "reject" {
		t.Fatalf("clean message: %+v, %v", res, err)
	}
	// Through the checker: rspamd's reject becomes a score past the
	// reject threshold.
	ck := &Checker{Rspamd: r}
	sr := ck.Scan(context.Background(), env, []byte("Subject: offer\r\n\r\n"+gtube+"\r\n"))
	if junk, reject := ck.Thresholds(); sr.Score.Total < reject || sr.RspamdAct != "reject" {
		t.Fatalf("checker: %+v (thresholds %v, %v)", sr, junk, reject)
	}
}
