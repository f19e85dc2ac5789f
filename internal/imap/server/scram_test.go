package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/testutil"
)

// withSCRAMKeys gives the test account SCRAM keys for testPassword (the
// harness's account only has the argon2id hash, like accounts made before
// SCRAM).
func withSCRAMKeys(t *testing.T, ts *testServer) {
	t.Helper()
	a := ts.acct
	if err := auth.SetPassword(&a, nil, testPassword); err != nil {
		t.Fatal(err)
	}
	if err := ts.st.UpdateAccount(context.Background(), a); err != nil {
		t.Fatal(err)
	}
}

func dialTLSClient(t *testing.T, addr string) (*client, *tls.Conn) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.line() // greeting
	return c, conn
}

// exporter is the client's view of the tls-exporter binding (RFC 9266 §2).
func exporter(t *testing.T, conn *tls.Conn) []byte {
	t.Helper()
	cs := conn.ConnectionState()
	b, err := cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// scramAuth runs AUTHENTICATE mech with the SCRAM client sc, with or
// without the SASL-IR initial response, and returns the tagged reply.
func scramAuth(t *testing.T, c *client, mech string, sc *testutil.SCRAMClient, ir bool) string {
	t.Helper()
	c.n++
	tag := "s" + strings.Repeat("x", c.n)
	b64 := base64.StdEncoding
	if ir {
		c.send(tag + " AUTHENTICATE " + mech + " " + b64.EncodeToString([]byte(sc.First())))
	} else {
		c.send(tag + " AUTHENTICATE " + mech)
		if l := c.line(); l != "+ " {
			t.Fatalf("no empty continuation: %q", l)
		}
		c.send(b64.EncodeToString([]byte(sc.First())))
	}
	l := c.line()
	if !strings.HasPrefix(l, "+ ") {
		return strings.TrimPrefix(l, tag+" ")
	}
	sf, err := b64.DecodeString(l[2:])
	if err != nil {
		t.Fatalf("server-first %q: %v", l, err)
	}
	cf, err := sc.Final(string(sf))
	if err != nil {
		t.Fatal(err)
	}
	c.send(b64.EncodeToString([]byte(cf)))
	l = c.line()
	if !strings.HasPrefix(l, "+ ") {
		return strings.TrimPrefix(l, tag+" ")
	}
	fin, _ := b64.DecodeString(l[2:])
	if err := sc.Verify(string(fin)); err != nil {
		t.Fatal(err)
	}
	c.send("")
	return strings.TrimPrefix(c.line(), tag+" ")
}

func TestAuthenticateSCRAM(t *testing.T) {
	ts := startServer(t, nil)
	withSCRAMKeys(t, ts)
	// Plaintext loopback (allowed in the harness): SCRAM but no -PLUS.
	c := dialRaw(t, ts.addr)
	u := c.ok("CAPABILITY")
	if !strings.Contains(u[0], " AUTH=SCRAM-SHA-256 AUTH=PLAIN ") || strings.Contains(u[0], "SCRAM-SHA-256-PLUS") {
		t.Fatalf("capability: %q", u[0])
	}
	if r := scramAuth(t, c, "SCRAM-SHA-256", &testutil.SCRAMClient{User: testUser, Password: "wrong"}, false); !strings.HasPrefix(r, "NO [AUTHENTICATIONFAILED]") || !strings.Contains(r, "invalid-proof") {
		t.Fatalf("wrong password: %q", r)
	}
	if _, done := c.do("AUTHENTICATE SCRAM-SHA-256-PLUS"); !strings.HasPrefix(done, "NO [CANNOT]") {
		t.Fatalf("-PLUS without TLS: %q", done)
	}
	// Cancelled after the server-first-message (RFC 9051 §6.2.2).
	sc := &testutil.SCRAMClient{User: testUser, Password: testPassword}
	c.send("x1 AUTHENTICATE SCRAM-SHA-256 " + base64.StdEncoding.EncodeToString([]byte(sc.First())))
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("server-first: %q", l)
	}
	c.send("*")
	if l := c.line(); !strings.HasPrefix(l, "x1 BAD") {
		t.Fatalf("cancel: %q", l)
	}
	// The username in any case, without SASL-IR.
	sc = &testutil.SCRAMClient{User: strings.ToUpper(testUser), Password: testPassword}
	if r := scramAuth(t, c, "scram-sha-256", sc, false); !strings.HasPrefix(r, "OK") {
		t.Fatalf("SCRAM login: %q", r)
	}
	c.ok("SELECT INBOX")

	// With SASL-IR (RFC 4959).
	c = dialRaw(t, ts.addr)
	if r := scramAuth(t, c, "SCRAM-SHA-256", &testutil.SCRAMClient{User: testUser, Password: testPassword}, true); !strings.HasPrefix(r, "OK [CAPABILITY") {
		t.Fatalf("SCRAM login with SASL-IR: %q", r)
	}
}

// TestAuthenticateSCRAMPlus binds the exchange to the TLS channel
// (tls-exporter, RFC 9266) and refuses the downgrades of RFC 5802 §6.
func TestAuthenticateSCRAMPlus(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.AllowPlaintextLoopback = false })
	withSCRAMKeys(t, ts)
	c, conn := dialTLSClient(t, ts.tlsAddr)
	u := c.ok("CAPABILITY")
	if !strings.Contains(u[0], " AUTH=SCRAM-SHA-256-PLUS AUTH=SCRAM-SHA-256 AUTH=PLAIN ") {
		t.Fatalf("capability over TLS: %q", u[0])
	}
	// "y": the client can bind but was told we cannot. We advertise
	// -PLUS, so someone stripped it: fail.
	sc := &testutil.SCRAMClient{User: testUser, Password: testPassword, CBFlag: "y"}
	if r := scramAuth(t, c, "SCRAM-SHA-256", sc, true); !strings.HasPrefix(r, "NO") || !strings.Contains(r, "server-does-support-channel-binding") {
		t.Fatalf("downgrade: %q", r)
	}
	// Binding data of another TLS connection (a man in the middle
	// terminates TLS and has other keys).
	_, other := dialTLSClient(t, ts.tlsAddr)
	sc = &testutil.SCRAMClient{User: testUser, Password: testPassword, CBFlag: "p=tls-exporter", CBData: exporter(t, other)}
	if r := scramAuth(t, c, "SCRAM-SHA-256-PLUS", sc, true); !strings.HasPrefix(r, "NO") || !strings.Contains(r, "channel-bindings-dont-match") {
		t.Fatalf("foreign binding: %q", r)
	}
	sc = &testutil.SCRAMClient{User: testUser, Password: testPassword, CBFlag: "p=tls-unique", CBData: exporter(t, conn)}
	if r := scramAuth(t, c, "SCRAM-SHA-256-PLUS", sc, true); !strings.HasPrefix(r, "NO") || !strings.Contains(r, "unsupported-channel-binding-type") {
		t.Fatalf("tls-unique: %q", r)
	}
	sc = &testutil.SCRAMClient{User: testUser, Password: testPassword, CBFlag: "p=tls-exporter", CBData: exporter(t, conn)}
	if r := scramAuth(t, c, "SCRAM-SHA-256-PLUS", sc, false); !strings.HasPrefix(r, "OK") {
		t.Fatalf("SCRAM-SHA-256-PLUS: %q", r)
	}
	c.ok("SELECT INBOX")
}

// TestAuthenticateSCRAMNotOverPlaintext: SCRAM follows PLAIN's rule
// (RFC 5802 §9): not offered nor accepted on an unprotected connection.
func TestAuthenticateSCRAMNotOverPlaintext(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.AllowPlaintextLoopback = false })
	withSCRAMKeys(t, ts)
	c := dialRaw(t, ts.addr)
	if u := c.ok("CAPABILITY"); strings.Contains(u[0], "SCRAM") {
		t.Fatalf("capability: %q", u[0])
	}
	if _, done := c.do("AUTHENTICATE SCRAM-SHA-256"); !strings.HasPrefix(done, "NO [PRIVACYREQUIRED]") {
		t.Fatalf("SCRAM over plaintext: %q", done)
	}
}

// TestSCRAMKeysAddedAtLogin: the harness's account, like one made before
// SCRAM keys were kept, cannot use SCRAM until it logs in once with its
// password; then it can.
func TestSCRAMKeysAddedAtLogin(t *testing.T) {
	ts := startServer(t, func(s *Server) {
		s.Auth = auth.New(s.Store, auth.Options{DefaultDomain: "example.org", SetSCRAM: s.Store.(scramStore).SetSCRAM})
	})
	c := dialRaw(t, ts.addr)
	if r := scramAuth(t, c, "SCRAM-SHA-256", &testutil.SCRAMClient{User: testUser, Password: testPassword}, true); !strings.Contains(r, "invalid-proof") {
		t.Fatalf("SCRAM without keys: %q", r)
	}
	c.ok("LOGIN " + testUser + ` "` + testPassword + `"`)
	c = dialRaw(t, ts.addr)
	if r := scramAuth(t, c, "SCRAM-SHA-256", &testutil.SCRAMClient{User: testUser, Password: testPassword}, true); !strings.HasPrefix(r, "OK") {
		t.Fatalf("SCRAM after a LOGIN: %q", r)
	}
}
