package importer

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/imap/server"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
	"github.com/youju/youju/internal/testutil/fixture"
)

// TestJobStartTLS: a job started with STARTTLS (the page's choice for a
// host without implicit TLS) reaches an old provider that offers IMAP on
// its plain port only after STARTTLS (youju's own IMAP server, which
// refuses LOGIN before TLS), upgrades and imports every message; the same
// host with the default implicit TLS fails, so the choice is what made
// the difference.
func TestJobStartTLS(t *testing.T) {
	const n = 5
	remote := fixture.NewStore(t, sqlite.Options{}, "old.example")
	ra := fixture.Account(t, remote, store.Account{Address: "old@old.example", PasswordHash: fixture.CheapPasswordHash("授权码-pw"), AllowIMAP: true})
	ctx := context.Background()
	inbox, err := remote.Mailbox(ctx, ra.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		msg := fmt.Sprintf("From: a@old.example\r\nSubject: old %d\r\nMessage-ID: <%d@old.example>\r\n\r\nbody %d\r\n", i, i, i)
		if res, err := remote.Deliver(ctx, store.Delivery{Data: []byte(msg), Targets: []store.Target{{Account: ra.ID, Mailbox: inbox.ID}}}); err != nil || res[0].Err != nil {
			t.Fatalf("deliver: %v %v", err, res)
		}
	}
	tc, _ := fixture.TLS()
	srv := &server.Server{Store: remote, Auth: auth.New(remote, auth.Options{DefaultDomain: "old.example"}), TLSConfig: tc,
		Hostname: "imap.old.example", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))} // no plaintext LOGIN, even on loopback
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	port := l.Addr().(*net.TCPAddr).Port

	st, a := openTestStore(t)
	j := &Jobs{DataDir: t.TempDir(), Target: Local{Mail: st}, InsecureSkipVerify: true, Retries: 1, Backoff: time.Millisecond}
	if err := j.StartWith(a.ID, a.Address, "127.0.0.1", port, "old@old.example", "授权码-pw", false); err != nil {
		t.Fatal(err)
	}
	if s := waitJob(t, j, a.ID); s.State != "failed" {
		t.Fatalf("implicit TLS to a plain port: %+v", s)
	}
	if err := j.StartWith(a.ID, a.Address, "127.0.0.1", port, "old@old.example", "授权码-pw", true); err != nil {
		t.Fatal(err)
	}
	if s := waitJob(t, j, a.ID); s.State != "done" || s.Imported != n {
		t.Fatalf("STARTTLS: %+v", s)
	}
	if m, err := st.Mailbox(ctx, a.ID, "INBOX"); err != nil || m.Messages != n {
		t.Fatalf("INBOX: %+v %v", m, err)
	}
}

// waitJob waits for the account's job to end and returns its status.
func waitJob(t *testing.T, j *Jobs, acct store.AccountID) JobStatus {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		s, ok := j.Status(acct)
		if !ok {
			t.Fatal("no job")
		}
		if s.State != "running" {
			return s
		}
		if time.Now().After(deadline) { // a hung job, not a slow one
			t.Fatalf("still running: %+v", s)
		}
	}
}
