// Package acmetest runs Pebble, Let's Encrypt's test CA, for tests: built
// from the module proxy once per machine, on loopback, validating
// challenges against a fake DNS server that sends every name to 127.0.0.1.
package acmetest

import (
	"bufio"
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

// FakeDNS answers every A query with 127.0.0.1 (or 127.0.0.2 while fail
// is set, where nothing listens: the CA's validation then fails), and
// everything else with an empty NOERROR answer. It speaks just enough
// DNS (RFC 1035 §4.1) on loopback for Pebble's resolver, over UDP and
// over TCP (§4.2.2, which Pebble uses) on the same port.
type FakeDNS struct {
	Addr string
	Fail atomic.Bool
}

func StartFakeDNS(t *testing.T) *FakeDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	d := &FakeDNS{Addr: pc.LocalAddr().String()}
	tl, err := net.Listen("tcp", d.Addr)
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
func (d *FakeDNS) serveTCP(c net.Conn) {
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
func (d *FakeDNS) answer(q []byte) []byte {
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
		if d.Fail.Load() {
			ip = 2
		}
		// Name pointer to the question, A, IN, TTL 0, 4 bytes.
		out = append(out, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 127, 0, 0, ip)
	}
	return out
}

func FreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Pebble is a running Pebble.
type Pebble struct {
	Directory string
	Client    *http.Client // trusts Pebble's own HTTPS certificate
	Mgmt      string       // management API base URL
	// CAFile is the root of Pebble's own HTTPS (not of what it issues).
	CAFile string
}

// StartPebble runs Pebble on loopback, validating challenges on
// httpPort and tlsPort of the addresses dns gives. Its "shortlived"
// profile issues certificates valid for shortLife.
func StartPebble(t *testing.T, httpPort, tlsPort int, dns string, shortLife time.Duration) *Pebble {
	t.Helper()
	bin := pebbleBinary(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := tlsconf.WriteSelfSigned(certFile, keyFile, []string{"127.0.0.1", "localhost"}); err != nil {
		t.Fatal(err)
	}
	api, mgmt := FreePort(t), FreePort(t)
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
	p := &Pebble{
		Directory: fmt.Sprintf("https://127.0.0.1:%d/dir", api),
		CAFile:    certFile,
		Mgmt:      fmt.Sprintf("https://127.0.0.1:%d", mgmt),
		Client:    &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	}
	WaitFor(t, 30*time.Second, "Pebble to start", func() bool {
		resp, err := p.Client.Get(p.Directory)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// Roots returns the pool of Pebble's issuing root.
func (p *Pebble) Roots(t *testing.T) *x509.CertPool {
	t.Helper()
	resp, err := p.Client.Get(p.Mgmt + "/roots/0")
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

func WaitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
