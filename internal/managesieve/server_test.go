package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/sieve"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
	"github.com/youju/youju/internal/testutil/fixture"
)

const password = "correct horse battery staple"

type env struct {
	st      store.Store
	scripts *sieve.FileStore
	alice   store.Account
	addr    string
	cTLS    *tls.Config
}

func newEnv(t *testing.T, loopbackPlain bool) *env {
	st := fixture.NewStore(t, sqlite.Options{}, "example.com")
	e := &env{st: st, scripts: &sieve.FileStore{Dir: t.TempDir()}}
	e.alice = fixture.Account(t, st, store.Account{Address: "alice@example.com", PasswordHash: fixture.PasswordHash(password), AllowIMAP: true})
	srvTLS, cTLS := fixture.TLS()
	e.cTLS = cTLS
	srv := &Server{Scripts: e.scripts, Auth: auth.New(st, auth.Options{DefaultDomain: "example.com"}), TLSConfig: srvTLS,
		AllowPlaintextLoopback: loopbackPlain, Logger: slog.New(slog.DiscardHandler)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	e.addr = l.Addr().String()
	return e
}

type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (e *env) dial(t *testing.T) *client {
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, c: c, r: bufio.NewReader(c)}
	cl.until()
	return cl
}

// until reads lines up to and including the final OK/NO/BYE and returns
// them joined.
func (c *client) until() string {
	c.t.Helper()
	var lines []string
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read: %v after %q", err, lines)
		}
		lines = append(lines, strings.TrimRight(l, "\r\n"))
		if strings.HasPrefix(l, "OK") || strings.HasPrefix(l, "NO") || strings.HasPrefix(l, "BYE") {
			return strings.Join(lines, "\n")
		}
	}
}

func (c *client) cmd(s string) string {
	c.t.Helper()
	if _, err := c.c.Write([]byte(s + "\r\n")); err != nil {
		c.t.Fatal(err)
	}
	return c.until()
}

func (c *client) startTLS(cfg *tls.Config) {
	c.t.Helper()
	if r := c.cmd("STARTTLS"); !strings.HasPrefix(r, "OK") {
		c.t.Fatalf("STARTTLS: %s", r)
	}
	tc := tls.Client(c.c, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.c, c.r = tc, bufio.NewReader(tc)
	if caps := c.until(); !strings.Contains(caps, `"SASL" "`) || strings.Contains(caps, "STARTTLS") {
		c.t.Fatalf("capabilities after TLS: %s", caps)
	}
}

func plain(user, pw string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pw))
}

func TestNoPlaintextAuthWithoutTLS(t *testing.T) {
	e := newEnv(t, false)
	c := e.dial(t)
	caps := c.cmd("CAPABILITY")
	if !strings.Contains(caps, `"SASL" ""`) || !strings.Contains(caps, `"STARTTLS"`) || !strings.Contains(caps, `"SIEVE" "fileinto`) {
		t.Fatalf("capabilities: %s", caps)
	}
	if r := c.cmd(`AUTHENTICATE "PLAIN" "` + plain("alice@example.com", password) + `"`); !strings.HasPrefix(r, "NO (ENCRYPT-NEEDED)") {
		t.Fatalf("plaintext AUTHENTICATE: %s", r)
	}
	if r := c.cmd("LISTSCRIPTS"); !strings.HasPrefix(r, "NO") {
		t.Fatalf("LISTSCRIPTS before login: %s", r)
	}
}

func TestSession(t *testing.T) {
	e := newEnv(t, false)
	c := e.dial(t)
	c.startTLS(e.cTLS)
	if r := c.cmd(`AUTHENTICATE "PLAIN" "` + plain("alice@example.com", "wrong") + `"`); !strings.HasPrefix(r, "NO") {
		t.Fatalf("bad password: %s", r)
	}
	// PLAIN without an initial response: the server sends an empty challenge.
	c.c.Write([]byte("AUTHENTICATE \"PLAIN\"\r\n"))
	if l, _ := c.r.ReadString('\n'); l != "\"\"\r\n" {
		t.Fatalf("challenge %q", l)
	}
	if r := c.cmd(`"` + plain("alice@example.com", password) + `"`); !strings.HasPrefix(r, "OK") {
		t.Fatalf("AUTHENTICATE: %s", r)
	}
	steps := []struct{ cmd, want string }{
		{`CHECKSCRIPT {13+}` + "\r\nfileinto \"x\";", `NO "line 1, column 1: fileinto needs require \"fileinto\""`},
		{`CHECKSCRIPT "if true {keep}"`, `NO "line 1, column 14: expected ';' or '{' after command keep, found \"}\""`},
		{`PUTSCRIPT "main" {55+}` + "\r\nrequire \"fileinto\"; fileinto :create \"x\"; # no mailbox", `NO "line 1, column 30: unknown tag :create for fileinto"`},
		{`PUTSCRIPT "main" {37+}` + "\r\nrequire \"fileinto\"; fileinto \"Lists\";", "OK"},
		{`PUTSCRIPT "other" "keep;"`, "OK"},
		{`HAVESPACE "x" 1000`, "OK"},
		{`HAVESPACE "x" 99999999`, "NO (QUOTA/MAXSIZE)"},
		{`SETACTIVE "nope"`, "NO (NONEXISTENT)"},
		{`SETACTIVE "main"`, "OK"},
		{`LISTSCRIPTS`, "\"main\" ACTIVE\n\"other\"\nOK"},
		{`GETSCRIPT "main"`, "{37}\nrequire \"fileinto\"; fileinto \"Lists\";\nOK"},
		{`DELETESCRIPT "main"`, "NO (ACTIVE)"},
		{`RENAMESCRIPT "other" "main"`, "NO (ALREADYEXISTS)"},
		{`RENAMESCRIPT "main" "规则"`, "OK"},
		{`LISTSCRIPTS`, "\"other\"\n\"规则\" ACTIVE\nOK"},
		{`DELETESCRIPT "other"`, "OK"},
		{`DELETESCRIPT "other"`, "NO (NONEXISTENT)"},
		{`NOOP "abc"`, `OK (TAG "abc")`},
		{`PUTSCRIPT bad {5+}` + "\r\nhello", "NO \"Syntax error"},
		{`NOOP`, "OK"},
		{`UNAUTHENTICATE`, "OK"},
		{`LISTSCRIPTS`, "NO"},
	}
	for _, s := range steps {
		if r := c.cmd(s.cmd); !strings.HasPrefix(r, s.want) {
			t.Errorf("%q:\n%s\nwant prefix %q", s.cmd, r, s.want)
		}
	}
	script, name, err := e.scripts.Active(context.Background(), e.alice.ID)
	if err != nil || script == nil || name != "规则" {
		t.Errorf("active script %q, %v", name, err)
	}
	if r := c.cmd("LOGOUT"); !strings.HasPrefix(r, "OK") {
		t.Errorf("LOGOUT: %s", r)
	}
}

func TestTooManyBadCommands(t *testing.T) {
	e := newEnv(t, true)
	c := e.dial(t)
	var r string
	for i := 0; i < DefaultMaxBadCommands; i++ {
		r = c.cmd("FROB")
	}
	if !strings.HasPrefix(r, "BYE") {
		t.Fatalf("after %d bad commands: %s", DefaultMaxBadCommands, r)
	}
}

func TestLineTooLong(t *testing.T) {
	e := newEnv(t, true)
	c := e.dial(t)
	if r := c.cmd("NOOP \"" + strings.Repeat("a", maxLine+10) + "\""); !strings.HasPrefix(r, "BYE") {
		t.Fatalf("long line: %s", r)
	}
}
