package acme

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
)

// ALPNProto is the TLS-ALPN-01 protocol name (RFC 8737 §6.2).
const ALPNProto = "acme-tls/1"

// challenges holds the answers of the challenges in progress.
type challenges struct {
	mu   sync.Mutex
	http map[string]string           // token -> key authorization
	alpn map[string]*tls.Certificate // name -> validation certificate
}

func (c *challenges) putHTTP(token, resp string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.http == nil {
		c.http = map[string]string{}
	}
	c.http[token] = resp
}

func (c *challenges) dropHTTP(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.http, token)
}

func (c *challenges) putALPN(name string, cert *tls.Certificate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.alpn == nil {
		c.alpn = map[string]*tls.Certificate{}
	}
	c.alpn[strings.ToLower(name)] = cert
}

func (c *challenges) dropALPN(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.alpn, strings.ToLower(name))
}

// HTTPHandler answers HTTP-01 challenges (RFC 8555 §8.3): GET
// /.well-known/acme-challenge/TOKEN gives the key authorization of a
// challenge in progress, anything else 404. The web listener on port 80
// routes that path here.
func (m *Manager) HTTPHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.URL.Path, "/.well-known/acme-challenge/")
		m.ch.mu.Lock()
		resp, found := m.ch.http[token]
		m.ch.mu.Unlock()
		if !ok || !found {
			http.NotFound(w, r)
			return
		}
		// §8.3: the body is the key authorization; octet-stream as the
		// examples show.
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write([]byte(resp))
	})
}

// ALPNCert returns the TLS-ALPN-01 validation certificate (RFC 8737 §3)
// for a ClientHello that offers only acme-tls/1 and names a host with a
// challenge in progress, else nil. The HTTPS listener's tls.Config asks
// it first (tlsconf.Manager.SetALPNChallenge).
func (m *Manager) ALPNCert(hello *tls.ClientHelloInfo) *tls.Certificate {
	if len(hello.SupportedProtos) != 1 || hello.SupportedProtos[0] != ALPNProto {
		return nil // §6.2: the validation server offers only acme-tls/1
	}
	m.ch.mu.Lock()
	defer m.ch.mu.Unlock()
	return m.ch.alpn[strings.ToLower(hello.ServerName)]
}

// Names lists the names of the certificate for a server called hostname
// serving domains: the host name, then per domain autoconfig.,
// autodiscover. and mta-sts. (what Thunderbird, Outlook and sending MTAs
// fetch over HTTPS), without duplicates.
func Names(hostname string, domains []string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	add(hostname)
	for _, d := range domains {
		for _, p := range []string{"autoconfig.", "autodiscover.", "mta-sts."} {
			add(p + d)
		}
	}
	return out
}

// PublicName reports whether a CA can issue for name: a DNS name with at
// least one dot, not an IP address, not localhost, and not under a suffix
// reserved for testing or local use (RFC 2606 §2, RFC 6761 §6, RFC 6762
// §3, RFC 8375), which no public CA validates. The reason says why not.
func PublicName(name string) (bool, string) {
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	if _, err := netip.ParseAddr(n); err == nil || net.ParseIP(n) != nil {
		return false, "it is an IP address"
	}
	if n == "localhost" || !strings.Contains(n, ".") {
		return false, "it is not a fully qualified public name"
	}
	for _, s := range []string{".localhost", ".test", ".example", ".invalid", ".local", ".internal", ".home.arpa", ".lan"} {
		if strings.HasSuffix(n, s) {
			return false, "its suffix " + s + " is reserved for local use or testing"
		}
	}
	for _, s := range []string{"example.com", "example.net", "example.org"} {
		if n == s || strings.HasSuffix(n, "."+s) {
			return false, s + " is reserved for documentation (RFC 2606)"
		}
	}
	return true, ""
}
