package delivery_test

import (
	"bytes"
	"context"
	"net"
	"testing"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/dkimkeys"
	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/mailauth"
	"github.com/youju/youju/internal/smtpd"
)

// TestSieveRedirectARC: mail that came in on the MX and that a Sieve
// redirect sends to another domain leaves with our ARC set on top
// (RFC 8617): its AAR repeats our verdicts, and the next hop, which sees
// SPF fail for the original sender, verifies the chain as sealed by our
// domain. A local sender's message is not sealed (no verdict to vouch
// for, no SRS).
func TestSieveRedirectARC(t *testing.T) {
	data := t.TempDir()
	if err := dkimkeys.Generate(data, "example.com"); err != nil {
		t.Fatal(err)
	}
	keys, err := dkimkeys.Load(data, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	dns := &dnsresolver.Fake{TXT: map[string][]string{"remote.net": {"v=spf1 ip4:127.0.0.1 -all"}}, IP: map[string][]net.IPAddr{}}
	for _, k := range keys {
		dns.TXT[k.Selector+"._domainkey.example.com"] = []string{k.DNSValue}
	}
	e := newSieveEnv(t, func(d *delivery.Deliverer, s *smtpd.Server) {
		d.Resolver.SRS = prefixSRS{}
		d.ARC = &mailauth.Sealer{DataDir: data, Hostname: "mx.example.com", Domain: "example.com"}
		s.DNS = dns
	})
	e.install(e.alice, `redirect "dave@remote.net";`)
	if err := e.send("carol@remote.net", []string{"alice@example.com"}, plainMsg); err != nil {
		t.Fatal(err)
	}
	if err := e.send("bob@example.com", []string{"alice@example.com"}, plainMsg); err != nil {
		t.Fatal(err)
	}
	q := e.queue.List()
	if len(q) != 2 {
		t.Fatalf("queued %d", len(q))
	}
	m := q[0].Data
	if !bytes.Contains(m, []byte("ARC-Seal: i=1; a=rsa-sha256; d=example.com; s=y1r;")) ||
		!bytes.Contains(m, []byte("ARC-Authentication-Results: i=1; mx.example.com;")) ||
		!bytes.Contains(m, []byte("spf=pass")) {
		t.Fatalf("not sealed as expected:\n%s", m)
	}
	// The next hop: SPF of the SRS sender is not remote.net's, but the
	// chain passes and names us.
	res := mailauth.Check(context.Background(), dns, net.ParseIP("192.0.2.9"), "mx.example.com", q[0].From, m)
	if res.ARC.Result != "pass" || res.ARC.Sealer != "example.com" {
		t.Fatalf("next hop: arc %+v", res.ARC)
	}
	if bytes.Contains(q[1].Data, []byte("ARC-Seal")) {
		t.Errorf("a local sender's redirect was sealed")
	}
}
