package acme

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/youju/youju/internal/testutil"
	"github.com/youju/youju/internal/tlsconf"
)

// pebbleVersion is the Pebble (Let's Encrypt's test CA) the tests run.
const pebbleVersion = "v2.10.3"

// pebbleBinary builds Pebble once per machine into the user cache (the Go
// build and module caches make a rebuild cheap; the binary is kept so
// that it is not even needed).
func pebbleBinary(t *testing.T) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		testutil.Missing(t, "the go command is needed to build Pebble")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "youju-test", "pebble-"+pebbleVersion)
	bin := filepath.Join(dir, "pebble")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	cmd := exec.Command(goCmd, "install", "github.com/letsencrypt/pebble/v2/cmd/pebble@"+pebbleVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		testutil.Missing(t, fmt.Sprintf("building Pebble %s failed: %v\n%s", pebbleVersion, err, out))
	}
	return bin
}

// fakeDNS answers every A query with 127.0.0.1 (or 127.0.0.2 while fail
// is set, where nothing listens: the CA's validation then fails), and
// everything else with an empty NOERROR answer. It speaks just enough
// DNS (RFC 1035 §4.1) on loopback for Pebble's resolver, over UDP and
// over TCP (§4.2.2, which Pebble uses) on the same port.
type fakeDNS struct {
	addr string
	fail atomic.Bool
}

func startFakeDNS(t *testing.T) *fakeDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	d := &fakeDNS{addr: pc.LocalAddr().String()}
	tl, err := net.Listen("tcp", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.Close() })
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go d.serveTCP(c)
		}
	}()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if out := d.answer(buf[:n]); out != nil {
				pc.WriteTo(out, from)
			}
		}
	}()
	return d
}

// serveTCP answers length-prefixed queries until the client closes.
func (d *fakeDNS) serveTCP(c net.Conn) {
	defer c.Close()
	for {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		out := d.answer(q)
		if out == nil {
			return
		}
		c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(out))))
		c.Write(out)
	}
}

// answer builds the response to one query, nil for garbage.
func (d *fakeDNS) answer(q []byte) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil
	}
	// The question: a name of labels, then type and class.
	i := 12
	for i < len(q) && q[i] != 0 {
		i += int(q[i]) + 1
	}
	if i+5 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i+1:])
	end := i + 5
	out := append([]byte(nil), q[:end]...)
	out[2] = 0x84 | (q[2] & 0x01) // QR, AA, RD copied
	out[3] = 0x80                 // RA, NOERROR
	binary.BigEndian.PutUint16(out[6:], 0)
	binary.BigEndian.PutUint16(out[8:], 0)
	binary.BigEndian.PutUint16(out[10:], 0) // no EDNS echoed
	if qtype == 1 {
		binary.BigEndian.PutUint16(out[6:], 1)
		ip := byte(1)
		if d.fail.Load() {
			ip = 2
		}
		// Name pointer to the question, A, IN, TTL 0, 4 bytes.
		out = append(out, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 127, 0, 0, ip)
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// pebble is a running Pebble.
type pebble struct {
	directory string
	client    *http.Client // trusts Pebble's own HTTPS certificate
	mgmt      string       // management API base URL
}

// startPebble runs Pebble on loopback, validating challenges on
// httpPort and tlsPort of the addresses dns gives. Its "shortlived"
// profile issues certificates valid for shortLife.
func startPebble(t *testing.T, httpPort, tlsPort int, dns string, shortLife time.Duration) *pebble {
	t.Helper()
	bin := pebbleBinary(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := tlsconf.WriteSelfSigned(certFile, keyFile, []string{"127.0.0.1", "localhost"}); err != nil {
		t.Fatal(err)
	}
	api, mgmt := freePort(t), freePort(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":           fmt.Sprintf("127.0.0.1:%d", api),
		"managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mgmt),
		"certificate":             certFile, "privateKey": keyFile,
		"httpPort": httpPort, "tlsPort": tlsPort,
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":                   "ecdsa",
		"profiles": map[string]any{
			"default":    map[string]any{"description": "90 days", "validityPeriod": 90 * 24 * 3600},
			"shortlived": map[string]any{"description": "short", "validityPeriod": int(shortLife / time.Second)},
		},
	}}
	b, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", cfgFile, "-dnsserver", dns)
	// No random sleeps before validation, no refused nonces, and no
	// reuse of valid authorizations: every order is validated afresh.
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	logs := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case logs <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() {
		for t.Failed() {
			select {
			case l := <-logs:
				t.Log("pebble: " + l)
			default:
				return
			}
		}
	})
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(pem)
	p := &pebble{
		directory: fmt.Sprintf("https://127.0.0.1:%d/dir", api),
		mgmt:      fmt.Sprintf("https://127.0.0.1:%d", mgmt),
		client:    &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	}
	waitFor(t, 30*time.Second, "Pebble to start", func() bool {
		resp, err := p.client.Get(p.directory)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// roots returns the pool of Pebble's issuing root.
func (p *pebble) roots(t *testing.T) *x509.CertPool {
	t.Helper()
	resp, err := p.client.Get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("no root from Pebble: %q", b)
	}
	return pool
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

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

func newTestManager(t *testing.T, p *pebble, dir string, l *listeners, challenges []string, profile string) *Manager {
	t.Helper()
	m, err := New(Options{
		Directory: p.directory, Dir: dir, Email: "postmaster@youju.dev", HTTPClient: p.client,
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
	dns := startFakeDNS(t)
	p := startPebble(t, l.httpPort, l.tlsPort, dns.addr, 9*time.Second)
	roots := p.roots(t)
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
	waitFor(t, 60*time.Second, "the first certificate", func() bool { a, _, e := m.Status(); return a > 0 && e == nil && fileExists(m.CertPath()) })
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
	waitFor(t, 60*time.Second, "the forced renewal", func() bool {
		c, err := presented(t, https, "mail.youju.dev", nil)
		return err == nil && !c.Equal(first)
	})
	second := mustPresent(t, https, roots)
	echoes(t, old, "after renewal")

	// 3. A failing challenge: retried with backoff, the old certificate
	// stays.
	dns.fail.Store(true)
	m.RenewNow()
	waitFor(t, 60*time.Second, "two failed attempts", func() bool { _, f, e := m.Status(); return f >= 2 && e != nil })
	if _, _, e := m.Status(); !strings.Contains(e.Error(), "could not validate") {
		t.Errorf("error does not say what failed: %v", e)
	}
	if c := mustPresent(t, https, roots); !c.Equal(second) {
		t.Fatal("the certificate changed although issuance failed")
	}
	dns.fail.Store(false)

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
	waitFor(t, 60*time.Second, "the short certificate", func() bool {
		c, err := presented(t, https, "mail.youju.dev", nil)
		if err == nil && c.NotAfter.Sub(c.NotBefore) < time.Minute {
			short = c
		}
		return short != nil
	})
	waitFor(t, 60*time.Second, "the automatic renewal", func() bool {
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

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
