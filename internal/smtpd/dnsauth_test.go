package smtpd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/youju/youju/internal/dnsresolver"
)

// gatedDNS is a Fake whose TXT queries are held until released (a
// resolver that does not answer), reporting each query as it starts.
type gatedDNS struct {
	*dnsresolver.Fake
	started chan string
	release chan struct{}

	mu             sync.Mutex
	inflight, peak int
}

func (g *gatedDNS) LookupTXTTTL(ctx context.Context, name string) ([]string, time.Duration, error) {
	g.mu.Lock()
	g.inflight++
	g.peak = max(g.peak, g.inflight)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.inflight--
		g.mu.Unlock()
	}()
	select {
	case g.started <- strings.ToLower(name):
	default: // the test looks at the first queries only
	}
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	return g.Fake.LookupTXTTTL(ctx, name)
}

func (g *gatedDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	v, _, err := g.LookupTXTTTL(ctx, name)
	return v, err
}

// await reads started queries until all of want were seen; it fails the
// test after a generous bound instead of hanging.
func (g *gatedDNS) await(t *testing.T, what string, want ...string) {
	t.Helper()
	missing := map[string]bool{}
	for _, w := range want {
		missing[w] = true
	}
	bound := time.After(15 * time.Second)
	for len(missing) > 0 {
		select {
		case n := <-g.started:
			delete(missing, n)
		case <-bound:
			t.Fatalf("%s: queries %v never started", what, missing)
		}
	}
}

// dkimSign signs m for domain d, selector sel, publishing the key in f.
func dkimSign(t *testing.T, f *dnsresolver.Fake, d, sel string, m []byte) []byte {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	f.TXT[sel+"._domainkey."+d] = []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}
	var b bytes.Buffer
	if err := dkim.Sign(&b, bytes.NewReader(m), &dkim.SignOptions{Domain: d, Selector: sel, Signer: key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestMailAuthDNSConcurrent: with a resolver that holds every query, SPF
// has started before DATA, and the DKIM keys of both signatures and the
// DMARC policy are all asked for at once once the header is in, before
// the body has ended (not one after the other after DATA, each waiting
// for the last). A second message within the TTLs asks nothing.
func TestMailAuthDNSConcurrent(t *testing.T) {
	e := newEnv(t)
	fake := &dnsresolver.Fake{TXT: map[string][]string{
		"remote.test":        {"v=spf1 ip4:127.0.0.1 -all"},
		"_dmarc.remote.test": {"v=DMARC1; p=reject"},
	}, TTL: map[string]time.Duration{}}
	m := []byte("From: <someone@remote.test>\r\nTo: <alice@example.com>\r\nSubject: signed\r\n\r\nbody\r\n")
	m = dkimSign(t, fake, "a.test", "s1", m)
	m = dkimSign(t, fake, "b.test", "s2", m)
	names := []string{"remote.test", "_dmarc.remote.test", "s1._domainkey.a.test", "s2._domainkey.b.test"}
	for _, n := range names {
		fake.TTL[n] = time.Hour
	}
	dns := &gatedDNS{Fake: fake, started: make(chan string, 16), release: make(chan struct{})}
	s := e.server(Inbound)
	s.Auth = nil
	s.DNS = dns
	r := dialRaw(t, e.start(s, false))
	r.cmd("EHLO client.test", "250")
	r.cmd("MAIL FROM:<someone@remote.test>", "250")
	dns.await(t, "after MAIL FROM", "remote.test")
	r.cmd("RCPT TO:<alice@example.com>", "250")
	r.cmd("DATA", "354")
	// The header and the start of the body: the DKIM keys and the DMARC
	// policy are asked for while the rest is still to come.
	split := bytes.Index(m, []byte("\r\n\r\n")) + 6
	r.send(string(m[:split]))
	dns.await(t, "after the header", "_dmarc.remote.test", "s1._domainkey.a.test", "s2._domainkey.b.test")
	r.send(string(m[split:]) + ".\r\n")
	dns.mu.Lock()
	peak := dns.peak
	dns.mu.Unlock()
	if peak < 4 {
		t.Errorf("at most %d queries in flight, want SPF, 2 DKIM keys and DMARC (4) at once", peak)
	}
	close(dns.release)
	r.expect("250")

	// Within the TTLs: nothing asked again.
	r.cmd("MAIL FROM:<someone@remote.test>", "250")
	r.cmd("RCPT TO:<alice@example.com>", "250")
	r.cmd("DATA", "354")
	r.send(string(m) + ".\r\n")
	r.expect("250")
	select {
	case n := <-dns.started:
		t.Errorf("second message asked for %s again within its TTL", n)
	default:
	}
	inbox := e.inbox(e.alice)
	if len(inbox) != 2 {
		t.Fatalf("INBOX holds %d messages", len(inbox))
	}
	for _, want := range []string{"spf=pass", "dkim=pass header.d=a.test", "dkim=pass header.d=b.test", "dmarc=pass"} {
		if !strings.Contains(inbox[1], want) {
			t.Errorf("second message lacks %q:\n%s", want, inbox[1])
		}
	}
}

// logDNS is a Fake that lets nothing be cached (TTL 0), logs every TXT
// query and holds it until released.
type logDNS struct {
	*dnsresolver.Fake
	started  chan string
	answered chan string
	release  chan struct{}

	mu  sync.Mutex
	log []string
}

func (d *logDNS) LookupTXTTTL(ctx context.Context, name string) ([]string, time.Duration, error) {
	name = strings.ToLower(name)
	d.mu.Lock()
	d.log = append(d.log, name)
	d.mu.Unlock()
	d.started <- name
	select {
	case <-d.release:
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	v, err := d.Fake.LookupTXT(ctx, name)
	d.answered <- name
	return v, 0, err
}

func (d *logDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	v, _, err := d.LookupTXTTTL(ctx, name)
	return v, err
}

func (d *logDNS) asked() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.log...)
}

// next returns the next name on c, failing after a generous bound.
func next(t *testing.T, c chan string, what string) string {
	t.Helper()
	select {
	case n := <-c:
		return n
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: nothing came", what)
		return ""
	}
}

// TestMailAuthLookupsDuringData: each query of the inbound checks
// starts as soon as what it needs has arrived (SPF at MAIL FROM, the
// DKIM key when its DKIM-Signature field is complete, the DMARC policy
// when From is), and the end of DATA only collects the answers: with a
// resolver whose answers may not be cached, nothing is asked after the
// message has ended and nothing is asked twice. The wait at the end of
// DATA is therefore one DNS round trip at most, not one per check.
func TestMailAuthLookupsDuringData(t *testing.T) {
	e := newEnv(t)
	fake := &dnsresolver.Fake{TXT: map[string][]string{
		"remote.test":        {"v=spf1 ip4:127.0.0.1 -all"},
		"_dmarc.remote.test": {"v=DMARC1; p=reject"},
	}}
	m := []byte("From: <someone@remote.test>\r\nTo: <alice@example.com>\r\nSubject: signed\r\n\r\nbody\r\n")
	m = dkimSign(t, fake, "a.test", "s1", m)
	dns := &logDNS{Fake: fake, started: make(chan string, 16), answered: make(chan string, 16), release: make(chan struct{})}
	s := e.server(Inbound)
	s.Auth = nil
	s.DNS = dns
	r := dialRaw(t, e.start(s, false))
	r.cmd("EHLO client.test", "250")
	r.cmd("MAIL FROM:<someone@remote.test>", "250")
	if n := next(t, dns.started, "after MAIL FROM"); n != "remote.test" {
		t.Fatalf("MAIL FROM asked for %s, want the SPF record of remote.test", n)
	}
	r.cmd("RCPT TO:<alice@example.com>", "250")
	r.cmd("DATA", "354")
	// The DKIM-Signature field and the first byte of the next line (a
	// field is complete when the next line is not a continuation).
	from := bytes.Index(m, []byte("\r\nFrom:")) + 2
	r.send(string(m[:from+1]))
	if n := next(t, dns.started, "after DKIM-Signature"); n != "s1._domainkey.a.test" {
		t.Fatalf("after the DKIM-Signature field: asked for %s, want its key", n)
	}
	to := bytes.Index(m, []byte("\r\nTo:")) + 2
	r.send(string(m[from+1 : to+1]))
	if n := next(t, dns.started, "after From"); n != "_dmarc.remote.test" {
		t.Fatalf("after the From field: asked for %s, want its DMARC policy", n)
	}
	// Every answer is in before the message ends.
	close(dns.release)
	for range 3 {
		next(t, dns.answered, "answers")
	}
	before := dns.asked()
	r.send(string(m[to+1:]) + ".\r\n")
	r.expect("250")
	if after := dns.asked(); len(after) != len(before) {
		t.Errorf("asked %v after the end of DATA (all asked: %v)", after[len(before):], after)
	}
	seen := map[string]bool{}
	for _, n := range dns.asked() {
		if seen[n] {
			t.Errorf("asked for %s twice", n)
		}
		seen[n] = true
	}
	inbox := e.inbox(e.alice)
	if len(inbox) != 1 {
		t.Fatalf("INBOX holds %d messages", len(inbox))
	}
	for _, want := range []string{"spf=pass", "dkim=pass header.d=a.test", "dmarc=pass"} {
		if !strings.Contains(inbox[0], want) {
			t.Errorf("message lacks %q:\n%s", want, inbox[0])
		}
	}
}
