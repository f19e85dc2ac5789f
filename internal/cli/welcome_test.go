package cli

import (
	"bytes"
	"context"
	"mime"
	"net/mail"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/testutil"
)

// serveDev runs serve as --dev does (with the demo account) on
// 127.0.0.1:0 listeners until stop is called; it returns the addresses.
func serveDev(t *testing.T, dir string, demo *devAccount) (map[string]string, func()) {
	t.Helper()
	c, err := config.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	l := &c.Listeners
	for _, p := range []*string{&l.SMTP, &l.Submissions, &l.Submission, &l.IMAP, &l.IMAPS, &l.POP3, &l.POP3S, &l.HTTP, &l.HTTPS, &l.Admin, &l.ManageSieve} {
		*p = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	out, errs := new(testutil.SyncBuffer), new(testutil.SyncBuffer)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, &env{stdout: out, stderr: errs}, dir, c, &dnsresolver.Fake{}, demo) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "Stop with Ctrl-C") {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve ended: %v\n%s", err, errs)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not start:\n%s\n%s", out, errs)
		}
	}
	addrs := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^  (\w+)\s+(127\.0\.0\.1:\d+)$`).FindAllStringSubmatch(out.String(), -1) {
		addrs[m[1]] = m[2]
	}
	stop := func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	}
	return addrs, stop
}

// TestDevWelcome: the first --dev start puts one bilingual welcome
// message into the demo INBOX; a restart does not add another.
func TestDevWelcome(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	demo, err := ensureDev(context.Background(), &env{stdout: new(bytes.Buffer), stderr: new(bytes.Buffer)}, dir)
	if err != nil {
		t.Fatal(err)
	}
	addrs, stop := serveDev(t, dir, demo)
	subj := pop3Subjects(t, addrs["pop3s"], demo.address, demo.password)
	stop()
	if len(subj) != 1 || !strings.HasPrefix(subj[0], "Welcome to youju") {
		t.Fatalf("INBOX after the first --dev start: %q", subj)
	}
	addrs, stop = serveDev(t, dir, demo)
	defer stop()
	if subj = pop3Subjects(t, addrs["pop3s"], demo.address, demo.password); len(subj) != 1 {
		t.Errorf("INBOX after a restart: %q", subj)
	}
}

func TestWelcomeMessageText(t *testing.T) {
	c := config.Default(devDomain)
	c.Listen, c.PortOffset = "127.0.0.1", devPortOffset
	msg := welcomeMessage(c, "127.0.0.1", devUser, time.Now())
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if !strings.Contains(subj, "欢迎") || !strings.Contains(subj, "Welcome") {
		t.Errorf("subject %q", subj)
	}
	for _, want := range []string{"https://127.0.0.1:10443/", "10993", "10465", "设置页面", "Settings page", devUser, "mail.example.test"} {
		if !bytes.Contains(msg, []byte(want)) {
			t.Errorf("welcome lacks %q:\n%s", want, msg)
		}
	}
}
