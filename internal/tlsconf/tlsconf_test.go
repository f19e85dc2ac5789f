package tlsconf

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSelfSigned(t *testing.T) {
	cert, err := SelfSigned([]string{"mail.example.org", "127.0.0.1", "::1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		t.Fatal("Leaf not set")
	}
	if got := strings.Join(leaf.DNSNames, ","); got != "mail.example.org,localhost" {
		t.Errorf("DNSNames = %q", got)
	}
	if len(leaf.IPAddresses) != 2 || leaf.IPAddresses[0].String() != "127.0.0.1" || leaf.IPAddresses[1].String() != "::1" {
		t.Errorf("IPAddresses = %v", leaf.IPAddresses)
	}
	if leaf.Subject.CommonName != "mail.example.org" {
		t.Errorf("CommonName = %q", leaf.Subject.CommonName)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key is %T, want ECDSA P-256", leaf.PublicKey)
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("KeyUsage = %v", leaf.KeyUsage)
	}
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("ExtKeyUsage = %v", leaf.ExtKeyUsage)
	}
	now := time.Now()
	if !leaf.NotBefore.Before(now.Add(-23*time.Hour)) || leaf.NotBefore.Before(now.Add(-25*time.Hour)) {
		t.Errorf("NotBefore = %v, want about a day ago", leaf.NotBefore)
	}
	if leaf.NotAfter.Before(now.AddDate(9, 11, 0)) || leaf.NotAfter.After(now.AddDate(10, 0, 1)) {
		t.Errorf("NotAfter = %v, want about ten years ahead", leaf.NotAfter)
	}
	if leaf.SerialNumber.Sign() <= 0 {
		t.Errorf("serial %v not positive", leaf.SerialNumber)
	}
	other, err := SelfSigned([]string{"mail.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if other.Leaf.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Error("two certificates share a serial number")
	}
	// The certificate verifies against itself as root for each name.
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	for _, name := range []string{"mail.example.org", "localhost", "127.0.0.1", "::1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool}); err != nil {
			t.Errorf("verify %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "other.example.org", Roots: pool}); err == nil {
		t.Error("verify other.example.org succeeded")
	}
}

func TestSelfSignedBadHosts(t *testing.T) {
	for _, hosts := range [][]string{nil, {}, {"localhost", " "}} {
		if _, err := SelfSigned(hosts); err == nil {
			t.Errorf("SelfSigned(%q) succeeded", hosts)
		}
	}
}

func TestWriteSelfSigned(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := WriteSelfSigned(certFile, keyFile, []string{"localhost"}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode = %v, want 0600", st.Mode().Perm())
	}
	keyPEM, _ := os.ReadFile(keyFile)
	if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "PRIVATE KEY" {
		t.Errorf("key file is not a PKCS #8 PEM block: %q", keyPEM)
	}
	certPEM, _ := os.ReadFile(certFile)
	if b, _ := pem.Decode(certPEM); b == nil || b.Type != "CERTIFICATE" {
		t.Errorf("cert file is not a CERTIFICATE PEM block: %q", certPEM)
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only the two files", names)
	}
	m, err := NewManager(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Certificate().Leaf.DNSNames; len(got) != 1 || got[0] != "localhost" {
		t.Errorf("loaded DNSNames = %v", got)
	}
}

func TestWriteSelfSignedBadDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	err := WriteSelfSigned(filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"), []string{"localhost"})
	if err == nil || !strings.Contains(err.Error(), "k.pem") {
		t.Errorf("err = %v, want an error naming the key file", err)
	}
}

// serve accepts TLS connections on 127.0.0.1:0 with cfg and completes each
// handshake, until the test ends.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					c.Write([]byte("ok"))
				}
			}()
		}
	}()
	return l.Addr().String()
}

// dial handshakes with addr, verifying the server as name against roots,
// and returns the certificate the server presented.
func dial(addr, name string, roots *x509.CertPool, maxVersion uint16) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{
		ServerName: name,
		RootCAs:    roots,
		MinVersion: tls.VersionTLS10,
		MaxVersion: maxVersion,
	})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// io.ReadFull: a TLS Read may return the data together with the EOF
	// of the server's close_notify.
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil {
		return nil, err
	}
	if string(buf) != "ok" {
		return nil, fmt.Errorf("server said %q", buf)
	}
	return c.ConnectionState().PeerCertificates[0], nil
}

func poolOf(certs ...*tls.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c.Leaf)
	}
	return p
}

func TestHandshakeAndReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := WriteSelfSigned(certFile, keyFile, []string{"localhost", "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	first := m.Certificate()
	addr := serve(t, m.Config())

	got, err := dial(addr, "localhost", poolOf(first), 0)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if !bytes.Equal(got.Raw, first.Leaf.Raw) {
		t.Error("server presented a different certificate")
	}
	if _, err := dial(addr, "127.0.0.1", poolOf(first), 0); err != nil {
		t.Errorf("handshake by IP: %v", err)
	}
	if _, err := dial(addr, "mail.example.org", poolOf(first), 0); err == nil {
		t.Error("handshake verified a name not in the certificate")
	}

	// Replace the files and reload: the next handshake shows the new one.
	if err := WriteSelfSigned(certFile, keyFile, []string{"localhost"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	second := m.Certificate()
	if bytes.Equal(second.Leaf.Raw, first.Leaf.Raw) {
		t.Fatal("Reload kept the old certificate")
	}
	got, err = dial(addr, "localhost", poolOf(first, second), 0)
	if err != nil {
		t.Fatalf("handshake after reload: %v", err)
	}
	if !bytes.Equal(got.Raw, second.Leaf.Raw) {
		t.Error("after Reload the server still presents the old certificate")
	}
}

func TestMinVersion(t *testing.T) {
	cert, err := SelfSigned([]string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, NewStaticManager(cert).Config())
	if _, err := dial(addr, "localhost", poolOf(cert), tls.VersionTLS11); err == nil {
		t.Error("TLS 1.1 client was accepted")
	}
	if _, err := dial(addr, "localhost", poolOf(cert), tls.VersionTLS12); err != nil {
		t.Errorf("TLS 1.2 client: %v", err)
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := WriteSelfSigned(certFile, keyFile, []string{"localhost"}); err != nil {
		t.Fatal(err)
	}
	otherCert, otherKey := filepath.Join(dir, "other.pem"), filepath.Join(dir, "otherkey.pem")
	if err := WriteSelfSigned(otherCert, otherKey, []string{"localhost"}); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not a pem file\n"), 0o600)
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name, cert, key, want string
	}{
		{"missing cert", missing, keyFile, "read certificate"},
		{"missing key", certFile, missing, "read key"},
		{"garbage cert", garbage, keyFile, "garbage.pem"},
		{"garbage key", certFile, garbage, "garbage.pem"},
		{"mismatched", certFile, otherKey, "does not match"},
		{"swapped", keyFile, certFile, "key.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewManager(tt.cert, tt.key)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestReloadErrorKeepsCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := WriteSelfSigned(certFile, keyFile, []string{"localhost"}); err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	before := m.Certificate()
	if err := os.WriteFile(certFile, []byte("broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(); err == nil {
		t.Fatal("Reload of a broken file succeeded")
	}
	if m.Certificate() != before {
		t.Error("failed Reload replaced the certificate")
	}
	addr := serve(t, m.Config())
	if _, err := dial(addr, "localhost", poolOf(before), 0); err != nil {
		t.Errorf("handshake after failed reload: %v", err)
	}
}

func TestStaticManager(t *testing.T) {
	cert, err := SelfSigned([]string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	m := NewStaticManager(cert)
	if err := m.Reload(); err != nil {
		t.Errorf("static Reload: %v", err)
	}
	if m.Certificate() != cert {
		t.Error("static manager lost its certificate")
	}
	cfg := m.Config()
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x", cfg.MinVersion)
	}
	if m.Config() == cfg {
		t.Error("Config returned a shared *tls.Config")
	}
}

func BenchmarkSelfSigned(b *testing.B) {
	for b.Loop() {
		if _, err := SelfSigned([]string{"localhost", "127.0.0.1"}); err != nil {
			b.Fatal(err)
		}
	}
}
