package pop3

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/store"
)

var testMsgs = []string{
	"Subject: one\r\n\r\nhello\r\n",
	"Subject: two\r\n.X: y\r\n\r\n.dot line\r\nsecond\r\nthird\r\n",
	"Subject: three\r\n\r\nbody\r\n",
}

// memFixture is a memStore with alice (three INBOX messages) and bob.
func memFixture(t testing.TB, opts store.POP3Options) (*memStore, store.Account) {
	st := newMemStore()
	a := newAccount("alice@example.org", opts)
	a.PasswordHash = passwordHash(t)
	a = st.addAccount(a)
	for _, m := range testMsgs {
		st.add(a.ID, "INBOX", m, time.Now())
	}
	b := newAccount("bob@example.org", store.POP3Options{})
	b.PasswordHash = passwordHash(t)
	b.AllowPOP3 = false
	st.addAccount(b)
	c := newAccount("carol@example.org", store.POP3Options{})
	c.PasswordHash = passwordHash(t)
	c.Disabled = true
	st.addAccount(c)
	return st, a
}

func totalSize() int {
	n := 0
	for _, m := range testMsgs {
		n += len(m)
	}
	return n
}

func TestTransactionCommands(t *testing.T) {
	st, _ := memFixture(t, store.POP3Options{})
	ts := startServer(t, st, nil)
	c := dial(t, ts.addr)
	c.login("alice") // default domain completes the address
	c.do("STAT", fmt.Sprintf("+OK 3 %d", totalSize()))
	c.do("LIST", fmt.Sprintf("+OK 3 messages (%d octets)", totalSize()))
	want := []string{}
	for i, m := range testMsgs {
		want = append(want, fmt.Sprintf("%d %d", i+1, len(m)))
	}
	if got := c.multi(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("LIST = %q, want %q", got, want)
	}
	c.do("LIST 2", fmt.Sprintf("+OK 2 %d", len(testMsgs[1])))
	c.do("LIST 4", "-ERR No such message")
	c.do("LIST 0", "-ERR No such message")
	c.do("LIST x", "-ERR No such message")
	c.do("LIST 1 2", "-ERR LIST takes at most one argument")
	c.do("UIDL", "+OK*")
	if got := strings.Join(c.multi(), "|"); got != "1 000003e800000001|2 000003e800000002|3 000003e800000003" {
		t.Fatalf("UIDL = %q", got)
	}
	c.do("UIDL 3", "+OK 3 000003e800000003")
	// RETR: the size in the status line, dot-stuffing undone by multi.
	c.do("RETR 2", fmt.Sprintf("+OK %d octets", len(testMsgs[1])))
	if got := strings.Join(c.multi(), "\r\n") + "\r\n"; got != testMsgs[1] {
		t.Fatalf("RETR 2 = %q", got)
	}
	c.do("TOP 2 1", "+OK*")
	if got := strings.Join(c.multi(), "|"); got != "Subject: two|.X: y||.dot line" {
		t.Fatalf("TOP 2 1 = %q", got)
	}
	c.do("TOP 2 0", "+OK*")
	if got := strings.Join(c.multi(), "|"); got != "Subject: two|.X: y|" {
		t.Fatalf("TOP 2 0 = %q", got)
	}
	c.do("TOP 2 -1", "-ERR Invalid number of lines")
	c.do("TOP 2", "-ERR TOP takes two arguments")
	c.do("RETR 9", "-ERR No such message")
	c.do("NOOP", "+OK")
	c.do("DELE 1", "+OK Message 1 deleted")
	c.do("DELE 1", "-ERR Message 1 already deleted")
	c.do("RETR 1", "-ERR No such message")
	c.do("LIST 1", "-ERR No such message")
	c.do("STAT", fmt.Sprintf("+OK 2 %d", totalSize()-len(testMsgs[0])))
	c.do("UIDL", "+OK*")
	if got := strings.Join(c.multi(), "|"); got != "2 000003e800000002|3 000003e800000003" {
		t.Fatalf("UIDL after DELE = %q", got)
	}
	c.do("RSET", fmt.Sprintf("+OK Maildrop has 3 messages (%d octets)", totalSize()))
	c.do("STAT", fmt.Sprintf("+OK 3 %d", totalSize()))
	c.do("DELE 3", "+OK*")
	c.do("USER x", "-ERR Command not valid in this state")
	c.do("STLS", "-ERR Command not valid in this state")
	c.do("XYZZ", "-ERR Unknown command")
	c.do("QUIT", "+OK Bye, 1 message(s) deleted")
	c.expectClosed()

	// UPDATE removed message 3 only; message 2 (retrieved) is \Seen.
	c = dial(t, ts.addr)
	c.login("alice@example.org")
	c.do("STAT", fmt.Sprintf("+OK 2 %d", len(testMsgs[0])+len(testMsgs[1])))
	c.do("QUIT", "+OK Bye, 0 message(s) deleted")
	inbox := st.findLocked(1, "INBOX")
	if len(inbox.msgs) != 2 || inbox.msgs[1].m.Flags.System&store.FlagSeen == 0 || inbox.msgs[0].m.Flags.System&store.FlagSeen != 0 {
		t.Fatalf("after QUIT: %+v", inbox.msgs)
	}
}

func TestAuthorizationErrors(t *testing.T) {
	st, _ := memFixture(t, store.POP3Options{})
	ts := startServer(t, st, nil)
	c := dial(t, ts.addr)
	c.do("STAT", "-ERR Command not valid in this state")
	c.do("NOOP", "-ERR Command not valid in this state")
	c.do("PASS x", "-ERR USER first")
	c.do("USER", "-ERR USER takes one argument")
	c.do("USER alice", "+OK*")
	c.do("PASS wrong", "-ERR [AUTH] Authentication failed")
	c.do("USER nobody@example.org", "+OK*")
	c.do("PASS "+testPassword, "-ERR [AUTH] Authentication failed")
	c.do("USER bob", "+OK*")
	// POP3 switched off for bob: a clear, permanent refusal.
	c.do("PASS "+testPassword, "-ERR [SYS/PERM] POP3 access is disabled for this account; enable it in *")
	c.do("USER alice", "+OK*")
	// Third failure on this connection: disconnect.
	c.do("PASS wrong", "-ERR [AUTH] Authentication failed")
	c.expect("-ERR Too many failed logins, closing connection")
	c.expectClosed()

	c = dial(t, ts.addr)
	c.do("QUIT", "+OK Bye")
	c.expectClosed()
}

func TestInUse(t *testing.T) {
	st, _ := memFixture(t, store.POP3Options{})
	ts := startServer(t, st, nil)
	c1 := dial(t, ts.addr)
	c1.login("alice")
	inUse := mLogins.With("in_use").Value()
	c2 := dial(t, ts.addr)
	c2.do("USER alice", "+OK*")
	c2.do("PASS "+testPassword, "-ERR [IN-USE] *")
	if got := mLogins.With("in_use").Value(); got != inUse+1 {
		t.Errorf("youju_pop3_logins_total{result=in_use} = %v, want %v", got, inUse+1)
	}
	c1.do("QUIT", "+OK*")
	c1.expectClosed()
	// The lock is released at the end of the first session.
	c2.do("USER alice", "+OK*")
	c2.do("PASS "+testPassword, "+OK Logged in*")
}

func TestPlaintextRefusedAndSTLS(t *testing.T) {
	st, _ := memFixture(t, store.POP3Options{})
	ts := startServer(t, st, func(s *Server) { s.AllowPlaintextLoopback = false })
	c := dial(t, ts.addr)
	c.do("CAPA", "+OK*")
	capa := strings.Join(c.multi(), "|")
	if strings.Contains(capa, "USER") || strings.Contains(capa, "SASL") || !strings.Contains(capa, "STLS") {
		t.Fatalf("CAPA before TLS = %q", capa)
	}
	c.do("USER alice", "-ERR [AUTH] Plaintext authentication disallowed*")
	c.do("PASS x", "-ERR [AUTH] Plaintext*")
	c.do("AUTH PLAIN "+plain("alice", testPassword), "-ERR [AUTH] Plaintext*")
	// Command injection (RFC 2595 §4): what is pipelined after STLS must be
	// discarded, not run inside the TLS session.
	c.send("STLS\r\nUSER alice")
	c.expect("+OK Begin TLS negotiation")
	tc := tls.Client(c.conn, clientTLS())
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	c.do("PASS "+testPassword, "-ERR USER first")
	c.do("STLS", "-ERR Command not permitted when TLS active")
	c.do("CAPA", "+OK*")
	capa = strings.Join(c.multi(), "|")
	if !strings.Contains(capa, "USER") || !strings.Contains(capa, "SASL SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN LOGIN") || strings.Contains(capa, "STLS") {
		t.Fatalf("CAPA after TLS = %q", capa)
	}
	c.login("alice")
	c.do("STAT", "+OK 3*")
}

func TestImplicitTLS(t *testing.T) {
	st, _ := memFixture(t, store.POP3Options{})
	ts := startServer(t, st, func(s *Server) { s.AllowPlaintextLoopback = false })
	c := dialTLS(t, ts.tlsAddr)
	c.do("CAPA", "+OK*")
	capa := strings.Join(c.multi(), "|")
	want := "TOP|UIDL|RESP-CODES|AUTH-RESP-CODE|PIPELINING|USER|SASL SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN LOGIN|IMPLEMENTATION youju"
	if capa != want {
		t.Fatalf("CAPA = %q, want %q", capa, want)
	}
	c.login("alice")
	c.do("CAPA", "+OK*")
	if capa := strings.Join(c.multi(), "|"); capa != "TOP|UIDL|RESP-CODES|AUTH-RESP-CODE|PIPELINING|IMPLEMENTATION youju" {
		t.Fatalf("CAPA in TRANSACTION = %q", capa)
	}
}

func TestSASL(t *testing.T) {
	st, _ := memFixture(t, store.POP3Options{})
	ts := startServer(t, st, nil)
	c := dial(t, ts.addr)
	c.do("AUTH", "+OK*")
	if got := strings.Join(c.multi(), "|"); got != "SCRAM-SHA-256|PLAIN|LOGIN" {
		t.Fatalf("AUTH list = %q", got)
	}
	c.do("AUTH CRAM-MD5", "-ERR Unsupported authentication mechanism")
	c.do("AUTH PLAIN !!!", "-ERR Invalid base64 data")
	// Valid base64 of a PLAIN message without its NUL separators: a
	// failed authentication, not a server failure (own connection: the
	// failures of one connection are limited).
	dial(t, ts.addr).do("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("alice")), "-ERR [AUTH] Authentication failed")
	c.do("AUTH PLAIN", "+ ")
	c.do("*", "-ERR Authentication cancelled")
	c.do("AUTH PLAIN "+plain("alice", "wrong"), "-ERR [AUTH] Authentication failed")
	c.do("AUTH PLAIN", "+ ")
	c.do(plain("bob", testPassword), "-ERR [SYS/PERM] POP3 access is disabled*")
	c.do("AUTH LOGIN", "+ VXNlcm5hbWU6")
	c.do("YWxpY2U=", "+ UGFzc3dvcmQ6")
	c.do("*", "-ERR Authentication cancelled")
	c.do("AUTH login", "+ VXNlcm5hbWU6")
	c.do("YWxpY2U=", "+ UGFzc3dvcmQ6")
	c.do("Y29ycmVjdCBob3JzZSBiYXR0ZXJ5", "+OK Logged in, 3 messages*")
	c.do("QUIT", "+OK*")

	c = dial(t, ts.addr)
	// Long SASL lines (RFC 5034 §4) are gathered beyond the small read
	// buffer; beyond maxAuthLine they are refused.
	c.do("AUTH PLAIN "+plain("alice", strings.Repeat("p", 2000)), "-ERR [AUTH] Authentication failed")
	c.do("AUTH PLAIN", "+ ")
	c.do(plain("alice", strings.Repeat("p", 2500)), "-ERR [AUTH] Authentication failed")
	c.do("AUTH PLAIN "+plain("alice", strings.Repeat("p", 5000)), "-ERR Command line too long")
	c = dial(t, ts.addr)
	c.do("AUTH PLAIN "+plain("alice@example.org", testPassword), "+OK Logged in*")
}

func TestBadCommandsAndLongLines(t *testing.T) {
	st, _ := memFixture(t, store.POP3Options{})
	ts := startServer(t, st, func(s *Server) { s.MaxBadCommands = 4 })
	c := dial(t, ts.addr)
	c.do(strings.Repeat("A", 600), "-ERR Command line too long")
	c.do("USER "+strings.Repeat("x", 10000), "-ERR Command line too long")
	c.do("US\x00R", "-ERR Malformed command*")
	c.do("CAPA", "+OK*")
	c.multi()
	c.do("FOO", "-ERR Unknown command")
	c.expect("-ERR Too many bad commands, closing connection")
	c.expectClosed()

	// A line that never ends is cut off without reading all of it.
	c = dial(t, ts.addr)
	c.send(strings.Repeat("x", 100<<10))
	c.expectClosed()
}

func TestPipelining(t *testing.T) {
	st, _ := memFixture(t, store.POP3Options{})
	ts := startServer(t, st, nil)
	c := dial(t, ts.addr)
	c.send("USER alice\r\nPASS " + testPassword + "\r\nSTAT\r\nLIST\r\nRETR 1\r\nDELE 1\r\nQUIT")
	c.expect("+OK*")
	c.expect("+OK Logged in*")
	c.expect("+OK 3*")
	c.expect("+OK 3 messages*")
	if len(c.multi()) != 3 {
		t.Fatal("LIST")
	}
	c.expect(fmt.Sprintf("+OK %d octets", len(testMsgs[0])))
	c.multi()
	c.expect("+OK Message 1 deleted")
	c.expect("+OK Bye, 1 message(s) deleted")
	c.expectClosed()
}

func TestSnapshotStable(t *testing.T) {
	st, a := memFixture(t, store.POP3Options{})
	ts := startServer(t, st, nil)
	c := dial(t, ts.addr)
	c.login("alice")
	c.do("STAT", fmt.Sprintf("+OK 3 %d", totalSize()))
	st.add(a.ID, "INBOX", "Subject: new\r\n\r\nx\r\n", time.Now())
	c.do("STAT", fmt.Sprintf("+OK 3 %d", totalSize()))
	c.do("LIST 4", "-ERR No such message")
	c.do("QUIT", "+OK*")
	c = dial(t, ts.addr)
	c.login("alice")
	c.do("STAT", "+OK 4*")
}

func TestScopesAndDeleteActions(t *testing.T) {
	t.Run("all+trash", func(t *testing.T) {
		st, a := memFixture(t, store.POP3Options{Scope: store.POP3ScopeAll, Delete: store.POP3DeleteTrash})
		st.add(a.ID, "Archive", "Subject: arch\r\n\r\na\r\n", time.Now())
		st.add(a.ID, "Trash", "Subject: trash\r\n\r\nt\r\n", time.Now())
		st.add(a.ID, "Junk", "Subject: junk\r\n\r\nj\r\n", time.Now())
		ts := startServer(t, st, nil)
		c := dial(t, ts.addr)
		c.login("alice")
		c.do("STAT", "+OK 4*")
		arch := st.findLocked(a.ID, "Archive").mb.ID
		c.do("UIDL 4", fmt.Sprintf("+OK 4 %x.000003e800000001", int64(arch)))
		c.do("DELE 1", "+OK*")
		c.do("DELE 4", "+OK*")
		c.do("QUIT", "+OK Bye, 2 message(s) deleted")
		c.expectClosed()
		if n := len(st.findLocked(a.ID, "Trash").msgs); n != 3 {
			t.Fatalf("Trash has %d messages, want 3", n)
		}
		if n := len(st.findLocked(a.ID, "INBOX").msgs); n != 2 {
			t.Fatalf("INBOX has %d messages, want 2", n)
		}
	})
	t.Run("recent+hide", func(t *testing.T) {
		st, a := memFixture(t, store.POP3Options{Scope: store.POP3ScopeRecent, Days: 7, Delete: store.POP3DeleteHide})
		st.add(a.ID, "INBOX", "Subject: old\r\n\r\no\r\n", time.Now().AddDate(0, 0, -30))
		ts := startServer(t, st, nil)
		c := dial(t, ts.addr)
		c.login("alice")
		c.do("STAT", fmt.Sprintf("+OK 3 %d", totalSize()))
		c.do("DELE 2", "+OK*")
		c.do("QUIT", "+OK Bye, 1 message(s) deleted")
		c.expectClosed()
		if n := len(st.findLocked(a.ID, "INBOX").msgs); n != 4 {
			t.Fatalf("hide removed mail: INBOX has %d", n)
		}
		c = dial(t, ts.addr)
		c.login("alice")
		c.do("STAT", fmt.Sprintf("+OK 2 %d", totalSize()-len(testMsgs[1])))
		c.do("UIDL", "+OK*")
		if got := strings.Join(c.multi(), "|"); got != "1 000003e800000001|2 000003e800000003" {
			t.Fatalf("UIDL = %q", got)
		}
	})
}

func TestStoreFailure(t *testing.T) {
	st, _ := memFixture(t, store.POP3Options{})
	ts := startServer(t, st, nil)
	c := dial(t, ts.addr)
	c.login("alice")
	st.mu.Lock()
	st.failOpen = errors.New("disk on fire")
	st.mu.Unlock()
	c.do("RETR 1", "-ERR [SYS/TEMP] Temporary server failure, try again later")
	st.mu.Lock()
	st.failOpen = store.ErrNotFound
	st.mu.Unlock()
	c.do("TOP 1 0", "-ERR Message was removed by another session")
	c.do("NOOP", "+OK")
}

// panicStore panics in ListMessages: the session must recover, log, and
// close, and the server must keep serving.
type panicStore struct {
	*memStore
	armed *atomic.Bool
}

func (p panicStore) ListMessages(ctx context.Context, acct store.AccountID, mbox store.MailboxID, opt store.ListOptions, fn func(*store.Message) error) error {
	if p.armed.Swap(false) {
		panic("boom")
	}
	return p.memStore.ListMessages(ctx, acct, mbox, opt, fn)
}

func TestPanicRecovered(t *testing.T) {
	st, _ := memFixture(t, store.POP3Options{})
	armed := new(atomic.Bool)
	armed.Store(true)
	ts := startServer(t, panicStore{st, armed}, nil)
	c := dial(t, ts.addr)
	c.do("USER alice", "+OK*")
	c.send("PASS " + testPassword)
	c.expectClosed()
	// The lock was released by the recovery.
	c = dial(t, ts.addr)
	c.login("alice")
}

func TestLimitsAndTimeouts(t *testing.T) {
	st, _ := memFixture(t, store.POP3Options{})
	ts := startServer(t, st, func(s *Server) { s.MaxPerIP = 1 })
	c1 := dial(t, ts.addr)
	c2, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	cl := &client{t: t, conn: c2, r: bufio.NewReader(c2)}
	cl.expect("-ERR [SYS/TEMP] Too many connections*")
	cl.expectClosed()
	c1.do("QUIT", "+OK*")

	// RFC 1939 §3 autologout: an idle client is disconnected.
	ts = startServer(t, st, func(s *Server) { s.IdleTimeout = 200 * time.Millisecond })
	c1 = dial(t, ts.addr)
	c1.expectClosed()
}

func TestShutdownClosesIdle(t *testing.T) {
	st, _ := memFixture(t, store.POP3Options{})
	ts := startServer(t, st, nil)
	c := dial(t, ts.addr)
	c.login("alice")
	c.do("DELE 1", "+OK*")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c.expectClosed()
	// No QUIT, no UPDATE: nothing was deleted (RFC 1939 §6).
	if n := len(st.findLocked(1, "INBOX").msgs); n != 3 {
		t.Fatalf("INBOX has %d messages after shutdown", n)
	}
}

func TestMoreErrors(t *testing.T) {
	st, _ := memFixture(t, store.POP3Options{})
	ts := startServer(t, st, func(s *Server) {
		s.TLSConfig = nil
		s.MaxBadCommands = 100
	})
	c := dial(t, ts.addr)
	c.do("CAPA x", "-ERR CAPA takes no arguments")
	c.do("CAPA", "+OK*")
	if capa := strings.Join(c.multi(), "|"); strings.Contains(capa, "STLS") {
		t.Fatalf("STLS offered without TLSConfig: %q", capa)
	}
	c.do("STLS", "-ERR TLS not available")
	c.do("STLS now", "-ERR STLS takes no arguments")
	c.do("AUTH PLAIN a b", "-ERR Too many arguments")
	c.do("USER carol", "+OK*")
	c.do("PASS "+testPassword, "-ERR [SYS/PERM] This account is disabled")
	c.login("alice")
	c.do("STAT 1", "-ERR STAT takes no arguments")
	c.do("NOOP 1", "-ERR NOOP takes no arguments")
	c.do("RSET 1", "-ERR RSET takes no arguments")
	c.do("RETR", "-ERR RETR takes one argument")
	c.do("DELE", "-ERR DELE takes one argument")
	c.do("DELE 0", "-ERR No such message")
	c.do("TOP 9 1", "-ERR No such message")
	c.do("UIDL 1 2", "-ERR UIDL takes at most one argument")
	c.do("PASS x", "-ERR Command not valid in this state")
	// UPDATE fails: the client is told, and nothing is lost.
	c.do("DELE 1", "+OK*")
	st.mu.Lock()
	st.failRemove = errors.New("disk full")
	st.mu.Unlock()
	c.do("QUIT", "-ERR [SYS/TEMP] Some deleted messages not removed")
	c.expectClosed()
	if n := len(st.findLocked(1, "INBOX").msgs); n != 3 {
		t.Fatalf("INBOX has %d messages", n)
	}
}

func TestThrottled(t *testing.T) {
	st, _ := memFixture(t, store.POP3Options{})
	ts := startServer(t, st, func(s *Server) {
		s.Auth = auth.New(st, auth.Options{DefaultDomain: "example.org", MaxFailuresPerIP: 2, MaxDelay: -1})
		s.MaxAuthFailures = 100
	})
	c := dial(t, ts.addr)
	// Two distinct wrong passwords: a repeated one would count once.
	for i := range 2 {
		c.do("USER alice", "+OK*")
		c.do(fmt.Sprintf("PASS wrong%d", i), "-ERR [AUTH] Authentication failed")
	}
	// Blocked now, even with the right password; the connection closes.
	c.do("AUTH PLAIN "+plain("alice", testPassword), "-ERR [SYS/TEMP] Too many failed logins, try again later")
	c.expectClosed()
}

func TestShutdownDuringHandshake(t *testing.T) {
	st, _ := memFixture(t, store.POP3Options{})
	ts := startServer(t, st, nil)
	raw, err := net.Dial("tcp", ts.tlsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// Wait until the session exists, then shut down: a handshake that has
	// not finished is cut, not waited for (HandshakeTimeout is 30 s).
	for deadline := time.Now().Add(5 * time.Second); ; {
		n, _ := ts.srv.conns().Counts()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("session not started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	c := &client{t: t, conn: raw, r: bufio.NewReader(raw)}
	c.expectClosed()
}
