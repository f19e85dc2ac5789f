package smtpd

import (
	"bufio"
	"context"
	"crypto/tls"
	"github.com/youju/youju/internal/testutil/fixture"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/delivery/deliverytest"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
)

const password = "correct horse battery staple"

// tlsPair returns a server config and a client config that trusts it.
func tlsPair(t testing.TB) (*tls.Config, *tls.Config) { return fixture.TLS() }

// env is a running store with example.com local and two accounts.
type env struct {
	t            testing.TB
	st           store.Store
	auth         *auth.Authenticator
	queue        *deliverytest.Queue[delivery.DSN]
	alice, bob   store.Account
	srvTLS, cTLS *tls.Config
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	st := fixture.NewStore(t, sqlite.Options{}, "example.com")
	pwHash := fixture.PasswordHash(password)
	e := &env{t: t, st: st}
	mk := func(addr string) store.Account {
		a, err := st.CreateAccount(ctx, store.Account{Address: addr, PasswordHash: pwHash, AllowIMAP: true, AllowPOP3: true, AllowSMTP: true})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	e.alice, e.bob = mk("alice@example.com"), mk("bob@example.com")
	e.auth = auth.New(st, auth.Options{DefaultDomain: "example.com"})
	e.queue = &deliverytest.Queue[delivery.DSN]{}
	e.srvTLS, e.cTLS = tlsPair(t)
	return e
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// server returns a Server of the mode with sensible test settings; adjust
// it and call start.
func (e *env) server(mode Mode) *Server {
	return &Server{Mode: mode, Deliverer: delivery.New(e.st, e.queue, "mx.example.com", testLogger(e.t)), Auth: e.auth, TLSConfig: e.srvTLS,
		Hostname: "mx.example.com", Logger: testLogger(e.t)}
}

// start serves s on a loopback port (implicit TLS if implicit) and stops
// it at the end of the test.
func (e *env) start(s *Server, implicit bool) string {
	e.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		if implicit {
			done <- s.ServeTLS(l)
		} else {
			done <- s.Serve(l)
		}
	}()
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			e.t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			e.t.Errorf("serve: %v", err)
		}
	})
	return l.Addr().String()
}

// inbox returns the messages in an account's INBOX.
func (e *env) inbox(a store.Account) []string {
	e.t.Helper()
	ctx := context.Background()
	mb, err := e.st.Mailbox(ctx, a.ID, "INBOX")
	if err != nil {
		e.t.Fatal(err)
	}
	return e.messages(a, mb.ID)
}

func (e *env) messages(a store.Account, mbox store.MailboxID) []string {
	ctx := context.Background()
	var out []string
	err := e.st.ListMessages(ctx, a.ID, mbox, store.ListOptions{}, func(m *store.Message) error {
		r, err := e.st.OpenMessage(ctx, a.ID, mbox, m.UID)
		if err != nil {
			return err
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		out = append(out, string(b))
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// raw is a line-oriented raw client for protocol edge cases.
type raw struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *raw {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := &raw{t: t, c: c, r: bufio.NewReader(c)}
	r.expect("220")
	return r
}

func (r *raw) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatalf("write %q: %v", s, err)
	}
}

// reply reads one (possibly multi-line) reply and returns it whole.
func (r *raw) reply() string {
	r.t.Helper()
	var b strings.Builder
	for {
		line, err := r.r.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			r.t.Fatalf("read reply (so far %q): %v", b.String(), err)
		}
		if len(line) < 4 || line[3] != '-' {
			return b.String()
		}
	}
}

// expect reads a reply and checks that it starts with prefix.
func (r *raw) expect(prefix string) string {
	r.t.Helper()
	rep := r.reply()
	if !strings.HasPrefix(rep, prefix) {
		r.t.Fatalf("got %q, want %s", rep, prefix)
	}
	return rep
}

// cmd sends a command line and expects a reply prefix.
func (r *raw) cmd(line, prefix string) string {
	r.t.Helper()
	r.send(line + "\r\n")
	return r.expect(prefix)
}

// closed reports whether the server closed the connection.
func (r *raw) closed() bool {
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := r.r.ReadString('\n')
	for err == nil {
		_, err = r.r.ReadString('\n')
	}
	return err == io.EOF || strings.Contains(err.Error(), "reset")
}
