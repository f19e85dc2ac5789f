package pop3

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/testutil/fixture"
)

// pipeConn is one end of net.Pipe that says it comes from loopback, so
// that plaintext logins are allowed in the fuzzed session.
type pipeConn struct{ net.Conn }

func (pipeConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1110}
}

// panicCounter is a slog handler that counts errors (the session logs a
// recovered panic at error level).
type panicCounter struct{ n *atomic.Int32 }

func (h panicCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h panicCounter) Handle(context.Context, slog.Record) error    { h.n.Add(1); return nil }
func (h panicCounter) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h panicCounter) WithGroup(string) slog.Handler                { return h }

// FuzzSession drives a whole session from fuzz bytes against a fresh small
// in-memory maildrop: the server must answer every line with a well-formed
// response, never panic, and end the session on QUIT or EOF.
func FuzzSession(f *testing.F) {
	seeds := []string{
		"USER alice\r\nPASS " + testPassword + "\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 2\r\nTOP 2 1\r\nDELE 1\r\nRSET\r\nDELE 3\r\n",
		"AUTH PLAIN " + plain("alice", testPassword) + "\r\nLIST 2\r\nUIDL 9\r\nTOP 1 99999999999\r\nNOOP\r\n",
		"AUTH LOGIN\r\nYWxpY2U=\r\nY29ycmVjdCBob3JzZSBiYXR0ZXJ5\r\nCAPA\r\nRETR 1\r\n",
		"CAPA\r\nSTLS\r\nAUTH\r\nAUTH PLAIN\r\n*\r\nUSER\r\nPASS\r\n\x00\x01\r\n" + strings.Repeat("x", 700) + "\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// A fresh maildrop and Authenticator per input: the throttle's
		// counters and the login cache of earlier inputs must not decide
		// this one, so a failure reproduces from its input alone. Cheap
		// hashes keep a login per input affordable; an unknown user still
		// costs a real argon2id run (auth's dummy hash), so the address is
		// blocked after its first failure: one such run per input at most.
		st, _ := memFixture(t, store.POP3Options{})
		st.mu.Lock()
		for k, a := range st.accts {
			a.PasswordHash = fixture.CheapPasswordHash(testPassword)
			st.accts[k] = a
		}
		st.mu.Unlock()
		authn := auth.New(st, auth.Options{DefaultDomain: "example.org", MaxFailuresPerIP: 1})
		var errs atomic.Int32
		srv := &Server{
			Store: st, Auth: authn, AllowPlaintextLoopback: true,
			IdleTimeout: 2 * time.Second, MaxBadCommands: 1000, MaxAuthFailures: 1000,
			Logger: slog.New(panicCounter{&errs}),
		}
		cli, sconn := net.Pipe()
		defer cli.Close()
		srv.conns().ServeConn(pipeConn{sconn}, false)
		go func() {
			cli.Write(data)
			cli.Write([]byte("\r\nQUIT\r\n"))
		}()
		_ = cli.SetReadDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(cli)
		for {
			l, err := r.ReadString('\n')
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("session did not end: %v", err)
			}
			if !strings.HasSuffix(l, "\r\n") {
				t.Fatalf("line without CRLF: %q", l)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if errs.Load() != 0 {
			t.Fatal("session logged an error (panic?)")
		}
	})
}
