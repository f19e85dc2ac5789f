package cli

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/youju/youju/internal/acme/acmetest"
	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/dnsresolver"
)

// TestServeACME runs youju serve against Pebble from a fresh data
// directory: a certificate for every name is obtained, HTTPS, IMAPS and
// SMTPS present it; removing it and sending SIGHUP forces a new one, which
// every listener presents, while an IMAP session opened before goes on.
func TestServeACME(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Pebble")
	}
	httpPort, tlsPort := acmetest.FreePort(t), acmetest.FreePort(t)
	dns := acmetest.StartFakeDNS(t)
	p := acmetest.StartPebble(t, httpPort, tlsPort, dns.Addr, time.Hour)
	roots := p.Roots(t)
	dir := newData(t)
	mustRun(t, "alicepw\n", "user", "add", "--data", dir, "--password-stdin", "alice@example.test")
	addrs, errs, _ := startServeDNS(t, dir, &dnsresolver.Fake{}, func(c *config.Config) {
		c.Listeners.HTTP = fmt.Sprintf("127.0.0.1:%d", httpPort)
		c.Listeners.HTTPS = fmt.Sprintf("127.0.0.1:%d", tlsPort)
		c.ACME = config.ACME{Mode: config.ACMEOn, Directory: p.Directory, CAFile: p.CAFile, Challenges: []string{"http-01", "tls-alpn-01"}}
	})
	leaf := func(name, addr string) *x509.Certificate {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "mail.example.test", RootCAs: roots})
		if err != nil {
			return nil
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0]
	}
	var first *x509.Certificate
	acmetest.WaitFor(t, 60*time.Second, "the ACME certificate on HTTPS", func() bool { first = leaf("https", addrs["https"]); return first != nil })
	for _, n := range []string{"mail.example.test", "autoconfig.example.test", "autodiscover.example.test", "mta-sts.example.test"} {
		if first.VerifyHostname(n) != nil {
			t.Errorf("certificate lacks %s: %v", n, first.DNSNames)
		}
	}
	for _, l := range []string{"imaps", "submissions", "pop3s"} {
		if c := leaf(l, addrs[l]); c == nil || !c.Equal(first) {
			t.Errorf("%s does not present the ACME certificate", l)
		}
	}

	// An IMAP session opened now must survive the renewal.
	conn, err := tls.Dial("tcp", addrs["imaps"], &tls.Config{ServerName: "mail.example.test", RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(conn)
	r.ReadString('\n')
	fmt.Fprintf(conn, "a LOGIN alice@example.test alicepw\r\n")
	if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "a OK") {
		t.Fatalf("LOGIN: %q", line)
	}

	if err := os.Remove(filepath.Join(dir, "acme", "cert.pem")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var second *x509.Certificate
	acmetest.WaitFor(t, 60*time.Second, "the renewed certificate", func() bool {
		second = leaf("imaps", addrs["imaps"])
		return second != nil && !second.Equal(first)
	})
	if c := leaf("https", addrs["https"]); c == nil || !c.Equal(second) {
		t.Error("HTTPS does not present the renewed certificate")
	}
	fmt.Fprintf(conn, "b NOOP\r\n")
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "b OK") {
		t.Fatalf("the IMAP session opened before the renewal broke: %q %v", line, err)
	}
	if !strings.Contains(errs.String(), "ACME: certificate installed") {
		t.Errorf("installation not logged:\n%s", errs)
	}
}
