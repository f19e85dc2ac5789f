// Package nodekill kills a real `youju serve` node (this test binary,
// re-executed as the youju command) with SIGKILL while it delivers queued
// outbound mail from the shared PostgreSQL queue, then starts a second
// node on the same database and checks that it delivers every message
// exactly once, and none before the dead node's lease ran out (issue 13:
// "its queued outbound mail is delivered by node B exactly once").
package nodekill

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/cli"
	"github.com/youju/youju/internal/store/postgres/pgtest"
)

const childEnv = "YOUJU_NODEKILL_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(cli.Main([]string{"serve", "--data", dir}, os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// sink plays remote.test's mail server: while hang is set every DATA
// waits for the gate and then fails (a slow server while node A dies);
// afterwards it records each message by Subject, with the time.
type sink struct {
	addr    string
	hang    atomic.Bool
	gate    chan struct{}
	started atomic.Int32
	mu      sync.Mutex
	got     map[string]int
	at      map[string]time.Time
}

type sess struct{ s *sink }

func (x *sess) Reset()                                 {}
func (x *sess) Logout() error                          { return nil }
func (x *sess) Mail(string, *gosmtp.MailOptions) error { return nil }
func (x *sess) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (x *sess) Data(r io.Reader) error {
	x.s.started.Add(1)
	if x.s.hang.Load() {
		<-x.s.gate
		return &gosmtp.SMTPError{Code: 451, Message: "try later"}
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	subj := regexp.MustCompile(`(?m)^Subject: (\S+)`).FindSubmatch(b)
	if subj == nil {
		return &gosmtp.SMTPError{Code: 554, Message: "no subject"}
	}
	x.s.mu.Lock()
	x.s.got[string(subj[1])]++
	x.s.at[string(subj[1])] = time.Now()
	x.s.mu.Unlock()
	return nil
}

func newSink(t *testing.T) *sink {
	s := &sink{gate: make(chan struct{}), got: map[string]int{}, at: map[string]time.Time{}}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &sess{s}, nil }))
	srv.Domain = "sink"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

// schemaDSN returns the test database's DSN with a fresh schema.
func schemaDSN(t *testing.T) (string, string) {
	dsn := pgtest.DSN(t)
	schema := pgtest.NewSchema(t)
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(), `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(dsn)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), schema
}

func youju(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	var out, errs bytes.Buffer
	if code := cli.Main(args, strings.NewReader(stdin), &out, &errs); code != 0 {
		t.Fatalf("youju %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out.String(), errs.String())
	}
	return out.String()
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// node initialises a data directory on the shared database: only the
// submissions listener (on a free port), mail for remote.test to the
// sink, a short lease. It returns the directory and the listener address.
func node(t *testing.T, dsn, sinkAddr string) (string, string) {
	dir := filepath.Join(t.TempDir(), "data")
	youju(t, "", "init", "--data", dir, "--domain", "example.test", "--store", dsn)
	addr := freePort(t)
	cfg := filepath.Join(dir, "youju.toml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := regexp.MustCompile(`(?m)^# (smtp|submission|imap|imaps|pop3|pop3s|http|https|admin|managesieve) = .*$`).ReplaceAllString(string(b), `$1 = "off"`)
	s = regexp.MustCompile(`(?m)^# submissions = .*$`).ReplaceAllString(s, fmt.Sprintf("submissions = %q", addr))
	s = regexp.MustCompile(`(?m)^# queue_lease = .*$`).ReplaceAllString(s, `queue_lease = "2s"`)
	s += fmt.Sprintf("\n[[outbound.transport]]\ndomain = \"remote.test\"\nnext = %q\ntls = \"none\"\n", sinkAddr)
	if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, addr
}

// start runs `youju serve` on dir in a child process and waits until it
// says it runs.
func start(t *testing.T, dir string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	cmd.Stderr = io.Discard
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "Stop with Ctrl-C") {
			go io.Copy(io.Discard, out)
			return cmd
		}
	}
	t.Fatalf("serve did not start: %v", sc.Err())
	return nil
}

func submit(t *testing.T, addr, subject string) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClient(conn, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(smtp.PlainAuth("", "alice@example.test", "alicepw", "localhost")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("alice@example.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("friend@remote.test"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "From: alice@example.test\r\nTo: friend@remote.test\r\nSubject: %s\r\n\r\nhello\r\n", subject)
	if err := w.Close(); err != nil {
		t.Fatalf("DATA %s: %v", subject, err)
	}
	c.Quit()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestKilledNodesQueueDeliveredOnceByAnother(t *testing.T) {
	dsn, _ := schemaDSN(t)
	sk := newSink(t)
	dirA, addrA := node(t, dsn, sk.addr)
	dirB, _ := node(t, dsn, sk.addr)
	youju(t, "alicepw\n", "user", "add", "--data", dirA, "--password-stdin", "--allow-weak", "alice@example.test")

	db, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	rows := func(q string) int {
		var n int
		if err := db.QueryRow(context.Background(), q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	sk.hang.Store(true)
	a := start(t, dirA)
	const n = 6
	for i := range n {
		submit(t, addrA, fmt.Sprintf("m%d", i)) // 250: in the database
	}
	waitFor(t, "node A in DATA", func() bool { return sk.started.Load() > 0 })
	waitFor(t, "node A's claims", func() bool { return rows(`SELECT count(*) FROM outbound WHERE claimed_by <> ''`) > 0 })
	a.Process.Signal(os.Kill)
	a.Wait()
	// Each message's lease as A left it, by subject.
	lease := map[string]int64{}
	r, err := db.Query(context.Background(), `SELECT data, lease_until FROM outbound`)
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var data []byte
		var until int64
		if err := r.Scan(&data, &until); err != nil {
			t.Fatal(err)
		}
		if m := regexp.MustCompile(`(?m)^Subject: (\S+)`).FindSubmatch(data); m != nil {
			lease[string(m[1])] = until
		}
	}
	r.Close()
	if got := rows(`SELECT count(*) FROM outbound`); got != n {
		t.Fatalf("%d messages queued after the kill, want %d", got, n)
	}
	sk.hang.Store(false)
	close(sk.gate)

	start(t, dirB)
	waitFor(t, "node B to empty the queue", func() bool { return rows(`SELECT count(*) FROM outbound`) == 0 })
	sk.mu.Lock()
	defer sk.mu.Unlock()
	for i := range n {
		subj := fmt.Sprintf("m%d", i)
		if c := sk.got[subj]; c != 1 {
			t.Errorf("%s delivered %d times, want once", subj, c)
		}
	}
	if len(sk.got) != n {
		t.Errorf("sink got %v", sk.got)
	}
	// PostgreSQL runs on this machine: one clock. B may take a message
	// only once A's lease on it ran out.
	for subj, at := range sk.at {
		if until := lease[subj]; at.UnixNano() < until {
			t.Errorf("%s delivered by B %v before A's lease ran out", subj, time.Unix(0, until).Sub(at))
		}
	}
}
