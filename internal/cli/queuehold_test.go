package cli

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// holdSink is a remote server that refuses DATA with 451 until accept is
// set, and records what it took.
type holdSink struct {
	accept atomic.Bool
	tries  atomic.Int32
	mu     sync.Mutex
	msgs   []string
}

type holdSess struct{ s *holdSink }

func (x *holdSess) Reset()                                 {}
func (x *holdSess) Logout() error                          { return nil }
func (x *holdSess) Mail(string, *gosmtp.MailOptions) error { return nil }
func (x *holdSess) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (x *holdSess) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	x.s.tries.Add(1)
	if !x.s.accept.Load() {
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "not now"}
	}
	x.s.mu.Lock()
	x.s.msgs = append(x.s.msgs, string(b))
	x.s.mu.Unlock()
	return nil
}

func (s *holdSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// pgDataDir points the config of data directory dir at a fresh schema
// of the test database.
func pgDataDir(t *testing.T, dir string) {
	t.Helper()
	pgConfig(t, filepath.Join(dir, "youju.toml"), schemaDSN(t))
	mustRun(t, "", "domain", "add", "--data", dir, "example.test")
}

// pgConfig sets [store] backend = "postgres" and dsn in the config file
// youju init wrote.
func pgConfig(t *testing.T, cfgPath, dsn string) {
	t.Helper()
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	s := regexp.MustCompile(`(?m)^# backend = "sqlite".*$`).ReplaceAllString(string(b), `backend = "postgres"`)
	s = regexp.MustCompile(`(?m)^# dsn = "".*$`).ReplaceAllString(s, fmt.Sprintf("dsn = %q", dsn))
	if !strings.Contains(s, `backend = "postgres"`) {
		t.Fatalf("config without a [store] section:\n%s", s)
	}
	if err := os.WriteFile(cfgPath, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestQueueHoldRelease, on both queue storages: mail submitted while the
// remote refuses stays queued; `queue hold` stops its attempts (listed
// as held), `queue hold --all-from` holds by sender, and `queue release`
// sends it at once.
func TestQueueHoldRelease(t *testing.T) {
	for _, backend := range []string{"files", "postgres"} {
		t.Run(backend, func(t *testing.T) { testQueueHoldRelease(t, backend) })
	}
}

func testQueueHoldRelease(t *testing.T, backend string) {
	sink := &holdSink{}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &holdSess{sink}, nil }))
	srv.Domain = "sink"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()

	dir := newData(t)
	if backend == "postgres" {
		pgDataDir(t, dir)
	}
	f, _ := os.OpenFile(filepath.Join(dir, "youju.toml"), os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintf(f, "\n[[outbound.transport]]\ndomain = \"remote.test\"\nnext = %q\ntls = \"none\"\n", l.Addr().String())
	f.Close()
	mustRun(t, "bobpw\n", "user", "add", "--data", dir, "--password-stdin", "bob@example.test")
	addrs, errs, _ := startServe(t, dir)
	submit := func(subject string) {
		t.Helper()
		conn, err := tls.Dial("tcp", addrs["submissions"], &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		sc, _ := smtp.NewClient(conn, "localhost")
		defer sc.Close()
		if err := sc.Auth(smtp.PlainAuth("", "bob@example.test", "bobpw", "localhost")); err != nil {
			t.Fatal(err)
		}
		if err := sc.Mail("bob@example.test"); err != nil {
			t.Fatal(err)
		}
		if err := sc.Rcpt("friend@remote.test"); err != nil {
			t.Fatal(err)
		}
		w, _ := sc.Data()
		fmt.Fprintf(w, "From: bob@example.test\r\nTo: friend@remote.test\r\nSubject: %s\r\n\r\nhello\r\n", subject)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		sc.Quit()
	}
	submit("first")
	waitUntil(t, "a refused attempt", errs, func() bool { return sink.tries.Load() > 0 })
	id := queueIDs(t, dir)[0]
	mustRun(t, "", "queue", "hold", "--data", dir, id)
	out := mustRun(t, "", "queue", "list", "--data", dir)
	if !strings.Contains(out, "held") {
		t.Fatalf("held message not listed as held:\n%s", out)
	}
	sink.accept.Store(true)
	// Retry all: a held message stays held.
	mustRun(t, "", "queue", "flush", "--data", dir)
	submit("second")
	waitUntil(t, "the second message", errs, func() bool { return sink.count() == 1 })
	if len(queueIDs(t, dir)) != 1 {
		t.Fatalf("queue after the second message:\n%s", mustRun(t, "", "queue", "list", "--data", dir))
	}
	if out := mustRun(t, "", "queue", "show", "--data", dir, id); !strings.Contains(out, "held") || !strings.Contains(out, "Account:  bob@example.test") {
		t.Errorf("show of a held message:\n%s", out)
	}
	mustRun(t, "", "queue", "release", "--data", dir, id)
	waitUntil(t, "the released message", errs, func() bool { return sink.count() == 2 })
	sink.mu.Lock()
	if !strings.Contains(sink.msgs[1], "Subject: first") {
		t.Errorf("released message: %q", sink.msgs[1])
	}
	sink.mu.Unlock()

	// --all-from: everything bob has queued.
	sink.accept.Store(false)
	before := sink.tries.Load()
	submit("third")
	waitUntil(t, "a refused attempt", errs, func() bool { return sink.tries.Load() > before })
	if out := mustRun(t, "", "queue", "hold", "--data", dir, "--all-from", "BOB@example.test"); !strings.Contains(out, "Held 1 message") {
		t.Errorf("hold --all-from: %s", out)
	}
	if out := mustRun(t, "", "queue", "list", "--data", dir); !strings.Contains(out, "held") {
		t.Errorf("list after hold --all-from:\n%s", out)
	}
	if code, _, stderr := run(t, "", "queue", "hold", "--data", dir, "0000-nope"); code == 0 || !strings.Contains(stderr, "no queued message") {
		t.Errorf("hold of an unknown id: exit %d, %s", code, stderr)
	}
}

// queueIDs returns the ids `queue list` prints.
func queueIDs(t *testing.T, dir string) []string {
	t.Helper()
	var ids []string
	for _, line := range strings.Split(mustRun(t, "", "queue", "list", "--data", dir), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && regexp.MustCompile(`^[0-9a-f]{13}-`).MatchString(f[0]) {
			ids = append(ids, f[0])
		}
	}
	if len(ids) == 0 {
		t.Fatal("queue is empty")
	}
	return ids
}

func waitUntil(t *testing.T, what string, errs fmt.Stringer, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\n%s", what, errs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBurstHoldsQueued: an account that reaches its limit of new
// recipients gets 451 for the message over it, what it had queued is
// held (listed as held, not sent when the remote takes mail again) and
// the postmaster is told.
func TestBurstHoldsQueued(t *testing.T) {
	sink := &holdSink{}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &holdSess{sink}, nil }))
	srv.Domain = "sink"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	dir := newData(t)
	cfgPath := filepath.Join(dir, "youju.toml")
	b, _ := os.ReadFile(cfgPath)
	s := regexp.MustCompile(`(?m)^# send_new_rcpts_hour = 100.*$`).ReplaceAllString(string(b), "send_new_rcpts_hour = 2")
	s += fmt.Sprintf("\n[[outbound.transport]]\ndomain = \"remote.test\"\nnext = %q\ntls = \"none\"\n", l.Addr().String())
	if err := os.WriteFile(cfgPath, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "bobpw\n", "user", "add", "--data", dir, "--password-stdin", "bob@example.test")
	mustRun(t, "", "alias", "add", "--data", dir, "postmaster@example.test", "bob@example.test")
	addrs, errs, _ := startServe(t, dir)
	conn, err := tls.Dial("tcp", addrs["submissions"], &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := smtp.NewClient(conn, "localhost")
	defer sc.Close()
	if err := sc.Auth(smtp.PlainAuth("", "bob@example.test", "bobpw", "localhost")); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := sc.Mail("bob@example.test"); err != nil {
			t.Fatal(err)
		}
		if err := sc.Rcpt(fmt.Sprintf("r%d@remote.test", i)); err != nil {
			t.Fatal(err)
		}
		w, _ := sc.Data()
		fmt.Fprintf(w, "From: bob@example.test\r\nSubject: burst %d\r\n\r\nbuy now\r\n", i)
		err := w.Close()
		if i < 2 && err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if i == 2 && (err == nil || !strings.Contains(err.Error(), "451")) {
			t.Fatalf("message over the limit: %v, want 451", err)
		}
		if i == 1 {
			// Both tried once (and refused) before the burst is noticed.
			waitUntil(t, "two attempts", errs, func() bool { return sink.tries.Load() >= 2 })
		}
	}
	sc.Quit()
	out := mustRun(t, "", "queue", "list", "--data", dir)
	if strings.Count(out, "held") != 2 {
		t.Fatalf("want 2 held messages:\n%s", out)
	}
	sink.accept.Store(true)
	mustRun(t, "", "queue", "flush", "--data", dir)
	waitUntil(t, "the postmaster alert", errs, func() bool {
		for _, s := range pop3Subjects(t, addrs["pop3s"], "bob@example.test", "bobpw") {
			if strings.Contains(s, "Sending limit reached by bob@example.test") {
				return true
			}
		}
		return false
	})
	if n := sink.count(); n != 0 {
		t.Errorf("%d held message(s) sent after a flush", n)
	}
}
