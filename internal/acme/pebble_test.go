package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/youju/youju/internal/acme/acmetest"
	"github.com/youju/youju/internal/tlsconf"
)

// listeners are a web server (HTTP-01 on the HTTP port, TLS-ALPN-01 and a
// page on the HTTPS port) and a TLS echo server standing for IMAPS, all
// on one tlsconf.Manager as in youju serve.
type listeners struct {
	httpPort, tlsPort int
	echo              string
	tlsm              *tlsconf.Manager
}

func startListeners(t *testing.T, m func() *Manager) *listeners {
	t.Helper()
	self, err := tlsconf.SelfSigned([]string{"mail.youju.dev"})
	if err != nil {
		t.Fatal(err)
	}
	l := &listeners{tlsm: tlsconf.NewStaticManager(self)}
	l.tlsm.SetALPNChallenge(func(h *tls.ClientHelloInfo) *tls.Certificate { return m().ALPNCert(h) })
	hl, _ := net.Listen("tcp", "127.0.0.1:0")
	sl, _ := net.Listen("tcp", "127.0.0.1:0")
	el, _ := net.Listen("tcp", "127.0.0.1:0")
	l.httpPort, l.tlsPort, l.echo = hl.Addr().(*net.TCPAddr).Port, sl.Addr().(*net.TCPAddr).Port, el.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("/.well-known/acme-challenge/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { m().HTTPHandler().ServeHTTP(w, r) }))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	hs := &http.Server{Handler: mux}
	ss := &http.Server{Handler: mux, TLSConfig: l.tlsm.Config()}
	go hs.Serve(hl)
	go ss.ServeTLS(sl, "", "")
	go func() {
		for {
			c, err := el.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, l.tlsm.Config())
				io.Copy(tc, tc)
			}()
		}
	}()
	t.Cleanup(func() { hs.Close(); ss.Close(); el.Close() })
	return l
}

// presented returns the leaf the HTTPS port shows for name, verified
// against roots (nil roots: not verified).
func presented(t *testing.T, addr, name string, roots *x509.CertPool) (*x509.Certificate, error) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, RootCAs: roots, InsecureSkipVerify: roots == nil})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

// echoes checks that a TLS connection opened earlier still works.
func echoes(t *testing.T, c *tls.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("old connection dropped: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("old connection dropped: %q %v", buf, err)
	}
}

var testNames = []string{"mail.youju.dev", "autoconfig.youju.dev", "autodiscover.youju.dev", "mta-sts.youju.dev"}

func newTestManager(t *testing.T, p *acmetest.Pebble, dir string, l *listeners, challenges []string, profile string) *Manager {
	t.Helper()
	m, err := New(Options{
		Directory: p.Directory, Dir: dir, Email: "postmaster@youju.dev", HTTPClient: p.Client,
		Names:      func(context.Context) ([]string, error) { return testNames, nil },
		Challenges: challenges, Profile: profile,
		Installed:  func(path string) error { return l.tlsm.SetFiles(path, path) },
		MinBackoff: 200 * time.Millisecond, MaxBackoff: time.Second, Recheck: 200 * time.Millisecond,
		Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPebble: a fresh directory gets a certificate by HTTP-01 that the
// HTTPS and the IMAPS-like listener present; a forced renewal by
// TLS-ALPN-01 replaces it without dropping an open connection; a short
// certificate is renewed by itself; a failing challenge is retried with
// backoff while the old certificate stays in use.
func TestPebble(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Pebble")
	}
	var cur atomic.Pointer[Manager]
	l := startListeners(t, func() *Manager { return cur.Load() })
	dns := acmetest.StartFakeDNS(t)
	p := acmetest.StartPebble(t, l.httpPort, l.tlsPort, dns.Addr, 9*time.Second)
	roots := p.Roots(t)
	https := fmt.Sprintf("127.0.0.1:%d", l.tlsPort)
	dir := t.TempDir()

	old, err := tls.Dial("tcp", l.echo, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	echoes(t, old, "before")

	// 1. Issuance by HTTP-01.
	m := newTestManager(t, p, dir, l, []string{HTTP01}, "")
	cur.Store(m)
	ctx, cancel := context.WithCancel(context.Background())
	go m.Run(ctx)
	acmetest.WaitFor(t, 60*time.Second, "the first certificate", func() bool { _, err := presented(t, https, "mail.youju.dev", roots); return err == nil })
	if a, f, e := m.Status(); a != 1 || f != 0 || e != nil {
		t.Errorf("status after the first issuance: %d attempts, %d failures, %v", a, f, e)
	}
	first := mustPresent(t, https, roots)
	for _, n := range testNames {
		if first.VerifyHostname(n) != nil {
			t.Errorf("certificate lacks %s: %v", n, first.DNSNames)
		}
	}
	if leaf, err := presented(t, l.echo, "mail.youju.dev", roots); err != nil || !leaf.Equal(first) {
		t.Fatalf("the IMAPS-like listener presents another certificate: %v", err)
	}
	if fi, _ := os.Stat(m.CertPath()); fi.Mode().Perm() != 0o600 {
		t.Errorf("certificate file mode %v, want 0600 (it holds the key)", fi.Mode().Perm())
	}
	echoes(t, old, "after issuance")

	// 2. Forced renewal by TLS-ALPN-01 (a new Manager on the same
	// directory: the certificate is not due, only RenewNow renews).
	cancel()
	m = newTestManager(t, p, dir, l, []string{TLSALPN01}, "")
	cur.Store(m)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	time.Sleep(300 * time.Millisecond)
	if a, _, _ := m.Status(); a != 0 {
		t.Fatalf("renewed a certificate that was not due (%d attempts)", a)
	}
	m.RenewNow()
	acmetest.WaitFor(t, 60*time.Second, "the forced renewal", func() bool {
		c, err := presented(t, https, "mail.youju.dev", nil)
		return err == nil && !c.Equal(first)
	})
	second := mustPresent(t, https, roots)
	echoes(t, old, "after renewal")

	// 3. A failing challenge: retried with backoff, the old certificate
	// stays.
	dns.Fail.Store(true)
	m.RenewNow()
	acmetest.WaitFor(t, 60*time.Second, "two failed attempts", func() bool { _, f, e := m.Status(); return f >= 2 && e != nil })
	if _, _, e := m.Status(); !strings.Contains(e.Error(), "could not validate") {
		t.Errorf("error does not say what failed: %v", e)
	}
	if c := mustPresent(t, https, roots); !c.Equal(second) {
		t.Fatal("the certificate changed although issuance failed")
	}
	dns.Fail.Store(false)

	// 4. A short-lived certificate is renewed by itself at 2/3 of its
	// life, with no RenewNow.
	cancel()
	m = newTestManager(t, p, dir, l, []string{HTTP01, TLSALPN01}, "shortlived")
	cur.Store(m)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	m.RenewNow() // the 90-day certificate is not due: get a short one
	var short *x509.Certificate
	acmetest.WaitFor(t, 60*time.Second, "the short certificate", func() bool {
		c, err := presented(t, https, "mail.youju.dev", nil)
		if err == nil && c.NotAfter.Sub(c.NotBefore) < time.Minute {
			short = c
		}
		return short != nil
	})
	acmetest.WaitFor(t, 60*time.Second, "the automatic renewal", func() bool {
		c, err := presented(t, https, "mail.youju.dev", nil)
		return err == nil && !c.Equal(short)
	})
	mustPresent(t, https, roots)
	echoes(t, old, "after automatic renewal")
}

func mustPresent(t *testing.T, addr string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	c, err := presented(t, addr, "mail.youju.dev", roots)
	if err != nil {
		t.Fatalf("HTTPS does not present a certificate that verifies with Pebble's root: %v", err)
	}
	return c
}
