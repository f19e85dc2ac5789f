package importer

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
)

// stallingRemote accepts IMAP connections and says nothing until
// release, then hangs up and stops listening: a job against it runs
// until the test lets it fail.
func stallingRemote(t *testing.T) (port int, release func()) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-ch; c.Close() }()
		}
	}()
	var once sync.Once
	release = func() { once.Do(func() { close(ch); l.Close() }) }
	t.Cleanup(release)
	return l.Addr().(*net.TCPAddr).Port, release
}

// TestJobsOnePerAccount: while an account's job runs a second is
// refused (another account's is not); when it ends, the status says why,
// the notice is sent, and a new job may start. The remote never answers
// here: the job fails, which is reported too.
func TestJobsOnePerAccount(t *testing.T) {
	st, a := openTestStore(t)
	port, release := stallingRemote(t)
	notified := make(chan string, 4)
	dir := t.TempDir()
	j := &Jobs{DataDir: dir, Target: Local{Mail: st}, Security: IMAPPlain, Retries: 1, Backoff: time.Millisecond,
		Notify: func(_ context.Context, acct store.AccountID, subject, body string) {
			if acct == a.ID {
				notified <- subject + "\n" + body
			}
		}}
	if err := j.Start(a.ID, a.Address, "127.0.0.1", port, "old@qq.com", "secret-授权码"); err != nil {
		t.Fatal(err)
	}
	if err := j.Start(a.ID, a.Address, "127.0.0.1", port, "old@qq.com", "secret-授权码"); !errors.Is(err, ErrJobRunning) {
		t.Fatalf("second job: %v", err)
	}
	if st, ok := j.Status(a.ID); !ok || st.State != "running" {
		t.Fatalf("status: %+v %v", st, ok)
	}
	if err := j.Start(a.ID+1, "b@example.com", "127.0.0.1", port, "old2@qq.com", "y"); err != nil {
		t.Fatalf("another account's job: %v", err)
	}
	release()
	var n string
	select {
	case n = <-notified:
	case <-time.After(2 * time.Minute):
		t.Fatal("no notice")
	}
	s, _ := j.Status(a.ID)
	if s.State != "failed" || s.Error == "" || !strings.Contains(n, "Import failed") || !strings.Contains(n, "not kept") {
		t.Fatalf("after: %+v\n%s", s, n)
	}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), "secret-授权码") {
				t.Errorf("password in %s", p)
			}
		}
		return nil
	})
	if err := j.Start(a.ID, a.Address, "127.0.0.1", 1, "old@qq.com", "x"); err != nil {
		t.Fatalf("a new job after the end: %v", err)
	}
	for _, bad := range [][2]string{{"", "x"}, {"a b", "x"}, {"h", ""}} {
		if err := j.Start(a.ID+1, "b@example.com", bad[0], 993, "u@qq.com", bad[1]); err == nil || errors.Is(err, ErrJobRunning) {
			t.Errorf("Start(%q, %q): %v", bad[0], bad[1], err)
		}
	}
	<-notified
}
