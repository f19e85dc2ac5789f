package tlsconf

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// handshake connects a client with protos to a listener serving cfg and
// returns the negotiated protocol and the server's leaf name.
func handshake(t *testing.T, cfg *tls.Config, protos ...string) (string, string, error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		tls.Server(c, cfg).Handshake()
	}()
	c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: protos, ServerName: "mail.example.org"})
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	st := c.ConnectionState()
	return st.NegotiatedProtocol, st.PeerCertificates[0].DNSNames[0], nil
}

// TestALPNChallenge: a handshake offering only acme-tls/1 gets the
// validation certificate with acme-tls/1 selected (RFC 8737 §3); other
// clients, including one offering "imap", are served as before.
func TestALPNChallenge(t *testing.T) {
	normal, _ := SelfSigned([]string{"normal.example.org"})
	challenge, _ := SelfSigned([]string{"challenge.example.org"})
	m := NewStaticManager(normal)
	m.SetALPNChallenge(func(h *tls.ClientHelloInfo) *tls.Certificate {
		if len(h.SupportedProtos) == 1 && h.SupportedProtos[0] == "acme-tls/1" {
			return challenge
		}
		return nil
	})
	cfg := m.Config()
	if proto, name, err := handshake(t, cfg, "acme-tls/1"); err != nil || proto != "acme-tls/1" || name != "challenge.example.org" {
		t.Errorf("validation handshake: %q %q %v", proto, name, err)
	}
	for _, protos := range [][]string{nil, {"imap"}, {"h2", "http/1.1"}} {
		if _, name, err := handshake(t, cfg, protos...); err != nil || name != "normal.example.org" {
			t.Errorf("client offering %v: %q %v", protos, name, err)
		}
	}
}

// TestSetFiles: switching to another pair (one file with chain and key)
// serves it at once and makes Reload read it; a bad pair changes nothing.
func TestSetFiles(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := WriteSelfSigned(cf, kf, []string{"first.example.org"}); err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	both := filepath.Join(dir, "both.pem")
	if err := WriteSelfSigned(both+".c", both+".k", []string{"acme.example.org"}); err != nil {
		t.Fatal(err)
	}
	c, _ := os.ReadFile(both + ".c")
	k, _ := os.ReadFile(both + ".k")
	os.WriteFile(both, append(c, k...), 0o600)
	if err := m.SetFiles(filepath.Join(dir, "missing"), filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing file was accepted")
	}
	if got := m.Certificate().Leaf.DNSNames[0]; got != "first.example.org" {
		t.Fatalf("a failed SetFiles changed the certificate to %s", got)
	}
	if err := m.SetFiles(both, both); err != nil {
		t.Fatal(err)
	}
	if got := m.Certificate().Leaf.DNSNames[0]; got != "acme.example.org" {
		t.Fatalf("serving %s after SetFiles", got)
	}
	if err := WriteSelfSigned(both+".c", both+".k", []string{"renewed.example.org"}); err != nil {
		t.Fatal(err)
	}
	c, _ = os.ReadFile(both + ".c")
	k, _ = os.ReadFile(both + ".k")
	os.WriteFile(both, append(c, k...), 0o600)
	if err := m.Reload(); err != nil || m.Certificate().Leaf.DNSNames[0] != "renewed.example.org" {
		t.Errorf("Reload after SetFiles: %v, serving %s", err, m.Certificate().Leaf.DNSNames[0])
	}
}
