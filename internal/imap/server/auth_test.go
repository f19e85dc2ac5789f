package server

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/youju/youju/internal/store"
)

func TestGreetingAndLogin(t *testing.T) {
	ts := startServer(t, nil)
	c := dialRaw(t, ts.addr)
	u := c.ok("CAPABILITY")
	if len(u) != 1 || !strings.Contains(u[0], "AUTH=PLAIN") || !strings.Contains(u[0], "STARTTLS") || strings.Contains(u[0], "LOGINDISABLED") {
		t.Fatalf("capability on loopback: %q", u)
	}
	if _, done := c.do("SELECT INBOX"); !strings.HasPrefix(done, "BAD") {
		t.Fatalf("SELECT before login: %s", done)
	}
	if _, done := c.do("LOGIN " + testUser + " wrong"); !strings.HasPrefix(done, "NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("bad password: %s", done)
	}
	_, done := c.do("LOGIN alice \"" + testPassword + "\"")
	if !strings.HasPrefix(done, "OK [CAPABILITY IMAP4rev1") {
		t.Fatalf("login with the default domain: %s", done)
	}
	c.ok("NOOP")
	u = c.ok("LOGOUT")
	mustContain(t, u, "* BYE logging out")
}

func TestLoginDisabledWithoutTLS(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.AllowPlaintextLoopback = false })
	c := dialRaw(t, ts.addr)
	u := c.ok("CAPABILITY")
	if !strings.Contains(u[0], "LOGINDISABLED") || strings.Contains(u[0], "AUTH=PLAIN") {
		t.Fatalf("capability: %q", u)
	}
	if _, done := c.do("LOGIN " + testUser + " \"" + testPassword + "\""); !strings.HasPrefix(done, "NO [PRIVACYREQUIRED]") {
		t.Fatalf("plaintext login: %s", done)
	}
	// STARTTLS, then the login works (RFC 9051 §6.2.1).
	c.n++
	c.send("s1 STARTTLS")
	if l := c.line(); !strings.HasPrefix(l, "s1 OK") {
		t.Fatalf("STARTTLS: %s", l)
	}
	tc := tls.Client(c.conn, clientTLS())
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	u = c.ok("CAPABILITY")
	if strings.Contains(u[0], "STARTTLS") || strings.Contains(u[0], "LOGINDISABLED") || !strings.Contains(u[0], "AUTH=PLAIN") {
		t.Fatalf("capability after TLS: %q", u)
	}
	c.ok("LOGIN " + testUser + " \"" + testPassword + "\"")
}

func TestImplicitTLSAndAuthenticate(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.AllowPlaintextLoopback = false })
	conn, err := tls.Dial("tcp", ts.tlsAddr, clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	if g := c.line(); !strings.Contains(g, "AUTH=PLAIN") || !strings.Contains(g, "SASL-IR") {
		t.Fatalf("greeting %q", g)
	}
	// SASL-IR (RFC 4959).
	ir := base64.StdEncoding.EncodeToString([]byte("\x00" + testUser + "\x00" + testPassword))
	c.ok("AUTHENTICATE PLAIN " + ir)
	c.ok("SELECT INBOX")
}

func TestAuthenticateContinuation(t *testing.T) {
	ts := startServer(t, nil)
	c := dialRaw(t, ts.addr)
	c.send("a AUTHENTICATE PLAIN")
	if l := c.line(); l != "+ " {
		t.Fatalf("challenge %q", l)
	}
	c.send(base64.StdEncoding.EncodeToString([]byte("\x00" + testUser + "\x00" + testPassword)))
	if l := c.line(); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("%q", l)
	}
	c2 := dialRaw(t, ts.addr)
	c2.send("b AUTHENTICATE PLAIN")
	c2.line()
	c2.send("*")
	if l := c2.line(); !strings.HasPrefix(l, "b BAD") {
		t.Fatalf("cancel: %q", l)
	}
	// A PLAIN message without its NUL separators is invalid arguments (RFC
	// 9051 §6.2.2: BAD), not a temporary failure to retry.
	c3 := dialRaw(t, ts.addr)
	if _, done := c3.do("AUTHENTICATE PLAIN " + base64.StdEncoding.EncodeToString([]byte("no separators"))); !strings.HasPrefix(done, "BAD") {
		t.Fatalf("malformed PLAIN: %q", done)
	}
}

func TestBadCommandsAndLimits(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.MaxBadCommands = 3; s.MaxLiteral = 100 })
	c := ts.login(t)
	if _, done := c.do("FROB"); !strings.HasPrefix(done, "BAD") {
		t.Fatal(done)
	}
	u := c.ok("CAPABILITY")
	if !strings.Contains(u[0], "APPENDLIMIT=100") {
		t.Fatalf("%q", u)
	}
	// A synchronising literal over APPENDLIMIT is refused before it is sent.
	c.send("x APPEND INBOX {1000}")
	if l := c.line(); l != "x NO [TOOBIG] literal too large" {
		t.Fatalf("%q", l)
	}
	c.do("FROB")
	c.send("y FROB")
	if l := c.line(); !strings.HasPrefix(l, "y BAD") {
		t.Fatal(l)
	}
	if l := c.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("after too many bad commands: %q", l)
	}
}

func TestIDNamespaceEnable(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.login(t)
	mustContain(t, c.ok(`ID ("name" "Foxmail" "version" "7.2")`), `* ID ("name" "youju" "vendor" "youju")`)
	mustContain(t, c.ok("NAMESPACE"), `* NAMESPACE (("" "/")) NIL NIL`)
	mustContain(t, c.ok("ENABLE IMAP4rev2 CONDSTORE"), "* ENABLED IMAP4rev2 CONDSTORE")
}

// TestAccountIsolation checks that a second account sees none of the
// first's mail, and that an account without IMAP access cannot log in.
func TestAccountIsolation(t *testing.T) {
	ts := startServer(t, nil)
	ts.deliver(t, "INBOX", simpleMsg, 0)
	ctx := t.Context()
	if _, err := ts.st.CreateAccount(ctx, store.Account{Address: "bob@example.org", PasswordHash: passwordHash(), AllowIMAP: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.st.CreateAccount(ctx, store.Account{Address: "carol@example.org", PasswordHash: passwordHash(), AllowPOP3: true}); err != nil {
		t.Fatal(err)
	}
	bob := dialRaw(t, ts.addr)
	bob.ok(`LOGIN bob@example.org "` + testPassword + `"`)
	mustContain(t, bob.ok("SELECT INBOX"), "* 0 EXISTS")
	if u := bob.ok("SEARCH ALL"); len(u) != 1 || u[0] != "* SEARCH" {
		t.Fatalf("%q", u)
	}
	if u, done := bob.do("UID FETCH 1 (BODY.PEEK[])"); !strings.HasPrefix(done, "OK") || len(u) != 0 {
		t.Fatalf("%s %q", done, u)
	}
	carol := dialRaw(t, ts.addr)
	if _, done := carol.do(`LOGIN carol@example.org "` + testPassword + `"`); !strings.HasPrefix(done, "NO [AUTHORIZATIONFAILED]") && !strings.HasPrefix(done, "NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("IMAP-disabled account: %s", done)
	}
}
