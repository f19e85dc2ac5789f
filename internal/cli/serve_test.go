package cli

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/smtp"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/testutil"
	"github.com/youju/youju/internal/tlsconf"
)

// startServe runs serve on a data directory whose listeners are all on
// 127.0.0.1:0 and returns the bound address of each listener.
func startServe(t *testing.T, dir string) (map[string]string, *testutil.SyncBuffer, func() error) {
	t.Helper()
	// Tests never touch real DNS: an empty fake knows no domain.
	return startServeDNS(t, dir, &dnsresolver.Fake{}, nil)
}

// startServeDNS is startServe with the given (fake) DNS.
// tweak, if set, changes the configuration after the listeners were put
// on 127.0.0.1:0.
func startServeDNS(t *testing.T, dir string, dns dnsresolver.Resolver, tweak func(*config.Config)) (map[string]string, *testutil.SyncBuffer, func() error) {
	t.Helper()
	c, err := config.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	l := &c.Listeners
	for _, p := range []*string{&l.SMTP, &l.Submissions, &l.Submission, &l.IMAP, &l.IMAPS, &l.POP3, &l.POP3S, &l.HTTP, &l.HTTPS, &l.Admin, &l.ManageSieve} {
		*p = "127.0.0.1:0"
	}
	c.Auth.AllowPlaintextLoopback = true
	c.Log.Level = "debug"
	if tweak != nil {
		tweak(&c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out, errs := new(testutil.SyncBuffer), new(testutil.SyncBuffer)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, &env{stdout: out, stderr: errs}, dir, c, dns, nil) }()
	re := regexp.MustCompile(`(?m)^  (\w+)\s+(127\.0\.0\.1:\d+)$`)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "Stop with Ctrl-C") {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not start; stdout:\n%s\nstderr:\n%s", out, errs)
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v\n%s", err, errs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	addrs := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(out.String(), -1) {
		addrs[m[1]] = m[2]
	}
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(30 * time.Second):
				stopErr = fmt.Errorf("serve did not stop within 30s")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { stop() })
	return addrs, errs, stop
}

// TestServeEndToEnd runs the real serve wiring: a message received on the
// MX port and one sent on submission reach the mailbox and are downloaded
// over POP3; an account added with the CLI while serving can log in at
// once; the web and metrics listeners answer; shutdown is clean.
func TestServeEndToEnd(t *testing.T) {
	dir := newData(t)
	mustRun(t, "alicepw\n", "user", "add", "--data", dir, "--password-stdin", "alice@example.test")
	addrs, errs, stop := startServe(t, dir)
	for _, name := range []string{"smtp", "submissions", "submission", "imap", "imaps", "pop3", "pop3s", "http", "https", "admin"} {
		if addrs[name] == "" {
			t.Fatalf("listener %s not started: %v", name, addrs)
		}
	}

	// MX: anyone may send to a local address (plus-addressing included).
	mx, err := smtp.Dial(addrs["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	if err := mx.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Fatalf("STARTTLS on the MX port: %v", err)
	}
	if err := mx.Mail("sender@remote.test"); err != nil {
		t.Fatal(err)
	}
	if err := mx.Rcpt("alice+news@example.test"); err != nil {
		t.Fatalf("RCPT with plus-addressing: %v", err)
	}
	mw, _ := mx.Data()
	fmt.Fprint(mw, "From: sender@remote.test\r\nSubject: via mx\r\n\r\nhello\r\n")
	if err := mw.Close(); err != nil {
		t.Fatalf("MX DATA: %v", err)
	}
	mx.Quit()
	// An account created while the server runs logs in at once.
	mustRun(t, "bobpw\n", "user", "add", "--data", dir, "--password-stdin", "bob@example.test")
	tlsc := &tls.Config{InsecureSkipVerify: true}
	conn, err := tls.Dial("tcp", addrs["submissions"], tlsc)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := smtp.NewClient(conn, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Auth(smtp.PlainAuth("", "bob@example.test", "bobpw", "localhost")); err != nil {
		t.Fatalf("AUTH as an account added while serving: %v", err)
	}
	if err := sc.Mail("bob@example.test"); err != nil {
		t.Fatal(err)
	}
	if err := sc.Rcpt("alice@example.test"); err != nil {
		t.Fatal(err)
	}
	w, _ := sc.Data()
	fmt.Fprint(w, "From: bob@example.test\r\nTo: alice@example.test\r\nSubject: via submission\r\n\r\nhi alice\r\n")
	if err := w.Close(); err != nil {
		t.Fatalf("DATA: %v", err)
	}
	sc.Quit()

	if got := imapStatus(t, addrs["imaps"], "alice@example.test", "alicepw"); !strings.Contains(got, "MESSAGES 2") {
		t.Fatalf("IMAP STATUS INBOX: %q", got)
	}
	subjects := pop3Subjects(t, addrs["pop3s"], "alice@example.test", "alicepw")
	if len(subjects) != 2 || subjects[0] != "via mx" || subjects[1] != "via submission" {
		t.Fatalf("POP3 shows %q", subjects)
	}

	for name, url := range map[string]string{"http": "http://" + addrs["http"] + "/", "admin": "http://" + addrs["admin"] + "/metrics"} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s", name, resp.Status)
		}
		for _, want := range []string{"youju_store_latency_seconds_bucket{op=\"deliver\"", `youju_connections_total{proto="smtp",listener="smtp"}`,
			`youju_logins_total{proto="pop3",result="ok"}`, `youju_active_connections{proto="pop3"}`, `youju_messages_delivered_total{path="inbound"}`, `youju_messages_delivered_total{path="submission"}`,
			`youju_store_write_requests_total{result="ok"}`} {
			if name == "admin" && !strings.Contains(string(body), want) {
				t.Errorf("metrics lack %s:\n%s", want, body)
			}
		}
		if name == "http" && !strings.Contains(string(body), "mail.example.test") {
			t.Errorf("web page lacks the host name")
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v", err)
	}
	if !strings.Contains(errs.String(), "shutting down") {
		t.Errorf("no shutdown in the log:\n%s", errs)
	}
	// The store reopens after shutdown with the mail intact.
	addrs, _, _ = startServe(t, dir)
	if got := pop3Subjects(t, addrs["pop3s"], "alice@example.test", "alicepw"); len(got) != 2 {
		t.Fatalf("after restart POP3 shows %q", got)
	}

}

// pop3Subjects logs in over implicit TLS and returns the Subject of every
// message, in order.
func pop3Subjects(t *testing.T, addr, user, pass string) []string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	cmd := func(line string) string {
		if line != "" {
			fmt.Fprintf(conn, "%s\r\n", line)
		}
		s, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(s, "+OK") {
			t.Fatalf("POP3 %q: %q %v", line, s, err)
		}
		return s
	}
	cmd("")
	cmd("USER " + user)
	cmd("PASS " + pass)
	var n int
	fmt.Sscanf(cmd("STAT"), "+OK %d", &n)
	var subjects []string
	for i := 1; i <= n; i++ {
		cmd(fmt.Sprintf("RETR %d", i))
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if line == ".\r\n" {
				break
			}
			if s, ok := strings.CutPrefix(line, "Subject: "); ok {
				subjects = append(subjects, strings.TrimSpace(s))
			}
		}
	}
	cmd("QUIT")
	return subjects
}

// imapStatus logs in over implicit TLS and returns the STATUS line of INBOX.
func imapStatus(t *testing.T, addr, user, pass string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	var status string
	cmd := func(tag, line string) {
		if line != "" {
			fmt.Fprintf(conn, "%s %s\r\n", tag, line)
		}
		for {
			s, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("IMAP %q: %v", line, err)
			}
			if strings.HasPrefix(s, "* STATUS") {
				status = s
			}
			if line == "" || strings.HasPrefix(s, tag+" ") {
				if line != "" && !strings.HasPrefix(s, tag+" OK") {
					t.Fatalf("IMAP %q: %q", line, s)
				}
				return
			}
		}
	}
	cmd("*", "")
	cmd("a", fmt.Sprintf("LOGIN %q %q", user, pass))
	cmd("b", "STATUS INBOX (MESSAGES UNSEEN)")
	cmd("c", "LOGOUT")
	return status
}

// TestServeReloadsCertificateOnSIGHUP replaces the certificate files while
// the server runs and checks that, after SIGHUP, new TLS connections get
// the new certificate.
func TestServeReloadsCertificateOnSIGHUP(t *testing.T) {
	dir := newData(t)
	addrs, errs, _ := startServe(t, dir)
	serial := func() string {
		conn, err := tls.Dial("tcp", addrs["imaps"], &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	if err := tlsconf.WriteSelfSigned(filepath.Join(dir, "tls/cert.pem"), filepath.Join(dir, "tls/key.pem"), []string{"renewed.example.test"}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for serial() == before {
		if time.Now().After(deadline) {
			t.Fatalf("certificate not reloaded after SIGHUP; log:\n%s", errs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(errs.String(), "TLS certificate reloaded") {
		t.Errorf("reload not logged:\n%s", errs)
	}
}
