package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
	"github.com/youju/youju/internal/testutil/fixture"
)

// panicCatcher is a slog handler that counts panics the server recovered.
type panicCatcher struct{ n *atomic.Int64 }

func (h panicCatcher) Enabled(context.Context, slog.Level) bool { return true }
func (h panicCatcher) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		h.n.Add(1)
	}
	return nil
}
func (h panicCatcher) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h panicCatcher) WithGroup(string) slog.Handler      { return h }

// loopbackPipe is one end of net.Pipe that claims a loopback peer, so that
// plaintext login is allowed.
type loopbackPipe struct{ net.Conn }

func (loopbackPipe) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// FuzzSession feeds random input to a logged-in session with a selected
// mailbox holding a few messages: the server must neither panic nor hang.
// Each input runs on a fresh store and server, so that a failure
// reproduces from its input alone (no state left by earlier inputs).
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"1 FETCH 1:* (FLAGS BODY[] BODYSTRUCTURE ENVELOPE BINARY[2] BODY[1.MIME]<0.5>)",
		"1 UID SEARCH OR FROM a NOT (SUBJECT b BODY c) CHARSET GBK\r\n2 SEARCH TEXT {3}\r\nabc",
		"1 STORE 1:* +FLAGS (\\Deleted)\r\n2 EXPUNGE\r\n3 APPEND INBOX {5+}\r\nhello\r\n4 NOOP",
		"1 COPY 1 Trash\r\n2 MOVE 2 Archive\r\n3 LIST \"\" *\r\n4 STATUS INBOX (MESSAGES SIZE)",
		"1 IDLE\r\nDONE\r\n2 CREATE a/b\r\n3 RENAME a c\r\n4 DELETE c/b\r\n5 EXAMINE INBOX\r\n6 CLOSE",
		"1 SEARCH NEW OR RECENT NOT OLD\r\n2 STATUS INBOX (RECENT)\r\n3 UID FETCH 1:* (ENVELOPE FLAGS)",
		"1 COMPRESS DEFLATE\r\n\x03\x00",
		"1 SORT (REVERSE DATE SUBJECT) UTF-8 UNSEEN\r\n2 UID SORT (DISPLAYFROM SIZE CC) GB18030 OR TO {2+}\r\n\xc4\xe3 1:*",
		"1 SORT (ARRIVAL FOO) UTF-8 ALL\r\n2 SORT (REVERSE) X ALL\r\n3 SORT (TO) X-NONE FROM a MODSEQ 1",
		"1 APPEND Drafts CATENATE (TEXT {3+}\r\nabc URL \"/INBOX/;UID=2/;SECTION=2.MIME\" URL /INBOX/;UID=1/;PARTIAL=3.9)\r\n2 FETCH 1:* (BINARY.PEEK[] BINARY.SIZE[2] BINARY[1]<1.4>)",
		"1 APPEND INBOX ~{6+}\r\na\nb\x00\r\r\n2 FETCH * (BODY.PEEK[] BINARY.PEEK[1] RFC822.SIZE)",
		// Pipelined APPENDs stored in one batch (appendbatch.go), one failing,
		// a MULTIAPPEND, then a synchronising literal that ends the batch.
		"1 APPEND INBOX {5+}\r\nhello\r\n2 APPEND Nope {3+}\r\nabc\r\n3 APPEND INBOX (\\Seen $x) {1+}\r\na {0+}\r\n\r\n4 APPEND INBOX {2+}\r\nab {2+}\r\ncd\r\n5 APPEND INBOX {3}\r\nxyz\r\n6 NOOP",
	} {
		f.Add(s)
	}
	tmpl := makeFuzzTemplate(f)
	f.Fuzz(func(t *testing.T, in string) {
		var panics atomic.Int64
		ts := startServerForFuzz(t, tmpl, &panics)
		client, server := net.Pipe()
		c := &conn{srv: ts.srv, nc: loopbackPipe{server}, id: 1, quit: make(chan struct{})}
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.serve()
		}()
		go io.Copy(io.Discard, client)
		script := "a LOGIN " + testUser + " \"" + testPassword + "\"\r\nb SELECT INBOX\r\n" + in + "\r\nDONE\r\nz LOGOUT\r\n"
		client.SetWriteDeadline(time.Now().Add(10 * time.Second))
		client.Write([]byte(script))
		// A synchronising literal may leave the server waiting for input
		// the script does not have: that is no hang. After the client
		// closes, the session must end.
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
		client.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("session did not end after the client closed, input %q", in)
		}
		if n := panics.Load(); n > 0 {
			t.Fatalf("server panicked on %q", in)
		}
	})
}

// fuzzTemplate is a closed store with the account and three messages in
// INBOX; each input opens a copy of it. Building a store per input costs
// far more than copying one (schema, deliveries and their fsyncs, all
// through coverage-instrumented SQLite when fuzzing).
type fuzzTemplate struct {
	dir  string
	acct store.Account
}

func makeFuzzTemplate(f *testing.F) fuzzTemplate {
	dir := f.TempDir()
	ctx := context.Background()
	tst, err := sqlite.Open(ctx, dir, sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	if err := tst.AddDomain(ctx, "example.org"); err != nil {
		f.Fatal(err)
	}
	acct := fixture.Account(f, tst, store.Account{Address: testUser, PasswordHash: fixture.CheapPasswordHash(testPassword), AllowIMAP: true})
	ts := &testServer{st: tst, acct: acct}
	for _, m := range []string{simpleMsg, multipartMsg, "garbage\r\n\r\n--x\r\n"} {
		ts.deliver(f, "INBOX", m, 0)
	}
	if err := tst.Close(); err != nil {
		f.Fatal(err)
	}
	return fuzzTemplate{dir: dir, acct: acct}
}

// startServerForFuzz makes a server on a fresh copy of the template, whose
// account has a cheap password hash: each input logs in with a new
// Authenticator.
func startServerForFuzz(t testing.TB, tmpl fuzzTemplate, panics *atomic.Int64) *testServer {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(tmpl.dir)); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), dir, sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	acct := tmpl.acct
	srv := &Server{
		Store:                  st,
		Auth:                   auth.New(st, auth.Options{}),
		AllowPlaintextLoopback: true,
		MaxLiteral:             1 << 20,
		Logger:                 slog.New(panicCatcher{panics}),
	}
	return &testServer{srv: srv, st: st, acct: acct}
}
