package pop3

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/testutil"
)

// scramFixture is the SQLite fixture whose account alice has SCRAM keys
// for testPassword and an app password "app-password-1".
func scramFixture(t *testing.T) store.Store {
	t.Helper()
	st, a := sqliteFixture(t, store.POP3Options{}, testMsgs)
	ctx := context.Background()
	if err := auth.SetPassword(&a, nil, testPassword); err != nil {
		t.Fatal(err)
	}
	if err := st.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	p, err := auth.NewAppPassword(a, nil, "phone", "app-password-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddAppPassword(ctx, p); err != nil {
		t.Fatal(err)
	}
	return st
}

// scramAuth runs AUTH mech (RFC 5034) with sc, the client-first-message as
// initial response, and returns the final status line.
func (c *client) scramAuth(mech string, sc *testutil.SCRAMClient) string {
	c.t.Helper()
	b64 := base64.StdEncoding
	c.send("AUTH " + mech + " " + b64.EncodeToString([]byte(sc.First())))
	l := c.line()
	if !strings.HasPrefix(l, "+ ") {
		return l
	}
	sf, _ := b64.DecodeString(l[2:])
	cf, err := sc.Final(string(sf))
	if err != nil {
		c.t.Fatal(err)
	}
	c.send(b64.EncodeToString([]byte(cf)))
	if l = c.line(); !strings.HasPrefix(l, "+ ") {
		return l
	}
	fin, _ := b64.DecodeString(l[2:])
	if err := sc.Verify(string(fin)); err != nil {
		c.t.Fatal(err)
	}
	c.send("")
	return c.line()
}

func TestSASLSCRAM(t *testing.T) {
	ts := startServer(t, scramFixture(t), nil)
	c := dial(t, ts.addr)
	c.do("CAPA", "+OK*")
	if capa := strings.Join(c.multi(), "|"); !strings.Contains(capa, "|SASL SCRAM-SHA-256 PLAIN LOGIN|") {
		t.Fatalf("CAPA = %q", capa)
	}
	if r := c.scramAuth("SCRAM-SHA-256", &testutil.SCRAMClient{User: "alice", Password: "wrong"}); r != "-ERR [AUTH] SCRAM authentication failed: invalid-proof" {
		t.Fatalf("wrong password: %q", r)
	}
	c.do("AUTH SCRAM-SHA-256-PLUS", "-ERR Unsupported authentication mechanism")
	// Without an initial response, then cancelled (RFC 5034 §4).
	c.do("AUTH SCRAM-SHA-256", "+ ")
	sc := &testutil.SCRAMClient{User: "alice", Password: testPassword}
	c.send(base64.StdEncoding.EncodeToString([]byte(sc.First())))
	c.expect("+ *")
	c.do("*", "-ERR Authentication cancelled")
	if r := c.scramAuth("scram-sha-256", &testutil.SCRAMClient{User: "alice", Password: "app-password-1"}); !strings.HasPrefix(r, "+OK Logged in, 3 messages") {
		t.Fatalf("SCRAM with the app password: %q", r)
	}
	c.do("STAT", "+OK 3*")
}

func TestSASLSCRAMPlus(t *testing.T) {
	ts := startServer(t, scramFixture(t), func(s *Server) { s.AllowPlaintextLoopback = false })
	c := dialTLS(t, ts.tlsAddr)
	c.do("AUTH", "+OK*")
	if got := strings.Join(c.multi(), "|"); got != "SCRAM-SHA-256-PLUS|SCRAM-SHA-256|PLAIN|LOGIN" {
		t.Fatalf("AUTH list = %q", got)
	}
	sc := &testutil.SCRAMClient{User: "alice@example.org", Password: testPassword, CBFlag: "y"}
	if r := c.scramAuth("SCRAM-SHA-256", sc); r != "-ERR [AUTH] SCRAM authentication failed: server-does-support-channel-binding" {
		t.Fatalf("downgrade: %q", r)
	}
	cs := c.conn.(*tls.Conn).ConnectionState()
	cb, err := cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		t.Fatal(err)
	}
	sc = &testutil.SCRAMClient{User: "alice@example.org", Password: testPassword, CBFlag: "p=tls-exporter", CBData: cb}
	if r := c.scramAuth("SCRAM-SHA-256-PLUS", sc); !strings.HasPrefix(r, "+OK Logged in") {
		t.Fatalf("SCRAM-SHA-256-PLUS: %q", r)
	}
}
