package queue

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/tlsconf"
)

// caChain makes a CA and a leaf for names signed by it; the returned
// certificate sends the chain leaf, CA (RFC 7672 §3.1.2: a DANE-TA
// server includes its trust anchor).
func caChain(t *testing.T, names ...string) (*tls.Certificate, *x509.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "DANE test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return &tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key, Leaf: leaf}, ca
}

func spkiSHA256(c *x509.Certificate) []byte {
	h := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return h[:]
}

// daneWorld serves dane.test by mx.dane.test with certificate c (nil: no
// STARTTLS) and publishes recs at _25._tcp.mx.dane.test, with the AD bit
// when secure. The certificate is in no root pool the queue knows, so only
// DANE can authenticate it.
func daneWorld(t *testing.T, c *tls.Certificate, secure bool, recs ...dnsresolver.TLSA) (*world, *sink, *Queue) {
	return daneWorldWith(t, c, secure, nil, recs...)
}

// daneWorldWith is daneWorld with tweak applied to the world (its DNS)
// before the queue starts.
func daneWorldWith(t *testing.T, c *tls.Certificate, secure bool, tweak func(*world), recs ...dnsresolver.TLSA) (*world, *sink, *Queue) {
	w := newWorld()
	s := newSinkCert(t, c, false)
	w.host("mx.dane.test", s.addr)
	w.mx("dane.test", "mx.dane.test")
	w.dns.TLSA = map[string][]dnsresolver.TLSA{"_25._tcp.mx.dane.test": recs}
	w.dns.Secure = map[string]bool{"_25._tcp.mx.dane.test": secure}
	// RFC 7672 §2.2: DANE needs the MX and address answers secure too.
	w.dns.SecureRR = map[string]bool{"MX dane.test": true, "A mx.dane.test": true}
	if tweak != nil {
		tweak(w)
	}
	opt := testOptions(t, w)
	opt.RetryMin, opt.RetryMax = time.Hour, time.Hour
	q := openQueue(t, opt)
	enqueue(t, q, "alice@youju.test", []string{"bob@dane.test"}, testMessage("alice@youju.test", "bob@dane.test", "dane"))
	return w, s, q
}

func wantDelivered(t *testing.T, s *sink, q *Queue, wantTLS bool) {
	t.Helper()
	waitFor(t, "delivery", func() bool { return len(s.received()) == 1 && q.Len() == 0 })
	if got := s.received()[0].tls; got != wantTLS {
		t.Errorf("delivered with TLS %v, want %v", got, wantTLS)
	}
}

func wantDeferred(t *testing.T, s *sink, q *Queue) *State {
	t.Helper()
	var st *State
	waitFor(t, "deferral", func() bool {
		all, _ := q.List()
		if len(all) == 1 && all[0].Attempts == 1 {
			st = all[0]
			return true
		}
		return false
	})
	if n := len(s.received()); n != 0 {
		t.Fatalf("%d message(s) delivered against the TLSA records", n)
	}
	if r := st.Rcpts[0]; r.Status != StatusPending {
		t.Errorf("recipient %+v, want pending (deferred, not bounced)", r)
	}
	return st
}

func TestDANEEEValid(t *testing.T) {
	// A certificate whose name matches nothing: DANE-EE binds the key only
	// (RFC 7672 §3.1.1).
	c, err := tlsconf.SelfSigned([]string{"unrelated.example"})
	if err != nil {
		t.Fatal(err)
	}
	_, s, q := daneWorld(t, c, true, dnsresolver.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: spkiSHA256(c.Leaf)})
	wantDelivered(t, s, q, true)
}

func TestDANETAValid(t *testing.T) {
	c, ca := caChain(t, "mx.dane.test")
	_, s, q := daneWorld(t, c, true, dnsresolver.TLSA{Usage: 2, Selector: 0, MatchingType: 0, Data: ca.Raw})
	wantDelivered(t, s, q, true)
}

func TestDANERefuses(t *testing.T) {
	c, ca := caChain(t, "other.example")
	trusted, _ := cert(t)
	for name, tc := range map[string]struct {
		cert *tls.Certificate
		rec  dnsresolver.TLSA
		temp bool
		diag string // what the deferral must say
	}{
		// The test root pool trusts this certificate: DANE must not.
		"EE mismatch":   {trusted, dnsresolver.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 32)}, false, "TLSA"},
		"TA wrong name": {c, dnsresolver.TLSA{Usage: 2, Selector: 1, MatchingType: 1, Data: spkiSHA256(ca)}, false, "TLSA"},
		"no STARTTLS":   {nil, dnsresolver.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 32)}, false, "STARTTLS"},
		"lookup fails":  {nil, dnsresolver.TLSA{}, true, "TLSA lookup"},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld()
			s := newSinkCert(t, tc.cert, false)
			w.host("mx.dane.test", s.addr)
			w.mx("dane.test", "mx.dane.test")
			w.dns.TLSA = map[string][]dnsresolver.TLSA{"_25._tcp.mx.dane.test": {tc.rec}}
			w.dns.Secure = map[string]bool{"_25._tcp.mx.dane.test": true}
			w.dns.SecureRR = map[string]bool{"MX dane.test": true, "A mx.dane.test": true}
			if tc.temp {
				w.dns.Temp = map[string]bool{"_25._tcp.mx.dane.test": true}
			}
			opt := testOptions(t, w)
			opt.RetryMin, opt.RetryMax = time.Hour, time.Hour
			q := openQueue(t, opt)
			enqueue(t, q, "alice@youju.test", []string{"bob@dane.test"}, testMessage("alice@youju.test", "bob@dane.test", "dane"))
			st := wantDeferred(t, s, q)
			if d := st.Rcpts[0].Diag; !strings.Contains(d, tc.diag) {
				t.Errorf("diagnostic %q does not mention %q", d, tc.diag)
			}
			if tc.temp && s.conns.Load() != 0 {
				t.Error("connected although the TLSA lookup failed")
			}
		})
	}
}

// TestDANEInsecureMX: RFC 7672 §2.2: secure TLSA records count only
// when the MX RRset and the MX host's addresses are DNSSEC-secure too;
// otherwise delivery is opportunistic (here: plaintext to a server
// without STARTTLS, which DANE would refuse).
func TestDANEInsecureMX(t *testing.T) {
	bogus := dnsresolver.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 32)}
	for name, insecure := range map[string]string{"MX": "MX dane.test", "A": "A mx.dane.test"} {
		t.Run(name, func(t *testing.T) {
			_, s, q := daneWorldWith(t, nil, true, func(w *world) { delete(w.dns.SecureRR, insecure) }, bogus)
			wantDelivered(t, s, q, false)
		})
	}
}

// TestDANECNAME: RFC 7672 §2.2.3: when the MX host is an alias reached
// through a secure CNAME, the TLSA records of the expanded name are
// tried first, then those of the MX host name.
func TestDANECNAME(t *testing.T) {
	c, _ := cert(t)
	match := dnsresolver.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: spkiSHA256(c.Leaf)}
	bogus := dnsresolver.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 32)}
	alias := func(t *testing.T, expanded []dnsresolver.TLSA) (*sink, *Queue) {
		_, s, q := daneWorldWith(t, c, true, func(w *world) {
			w.dns.IP["real.dane.test"] = w.dns.IP["mx.dane.test"]
			delete(w.dns.IP, "mx.dane.test")
			w.dns.CNAME = map[string]string{"mx.dane.test": "real.dane.test"}
			if expanded != nil {
				w.dns.TLSA["_25._tcp.real.dane.test"] = expanded
				w.dns.Secure["_25._tcp.real.dane.test"] = true
			}
		}, bogus)
		return s, q
	}
	t.Run("expanded name first", func(t *testing.T) {
		s, q := alias(t, []dnsresolver.TLSA{match})
		wantDelivered(t, s, q, true)
	})
	t.Run("then the MX host name", func(t *testing.T) {
		s, q := alias(t, nil)
		st := wantDeferred(t, s, q)
		if d := st.Rcpts[0].Diag; !strings.Contains(d, "TLSA") {
			t.Errorf("diagnostic %q", d)
		}
	})
}

// TestDANEOpportunistic: without TLSA records, or with records the
// resolver did not validate (no AD bit), delivery is opportunistic: a
// server without STARTTLS gets the mail in plaintext.
func TestDANEOpportunistic(t *testing.T) {
	bogus := dnsresolver.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 32)}
	t.Run("no TLSA", func(t *testing.T) {
		_, s, q := daneWorld(t, nil, true)
		wantDelivered(t, s, q, false)
	})
	t.Run("no AD bit", func(t *testing.T) {
		_, s, q := daneWorld(t, nil, false, bogus)
		wantDelivered(t, s, q, false)
	})
	t.Run("no AD bit, TLS", func(t *testing.T) {
		c, _ := cert(t)
		_, s, q := daneWorld(t, c, false, bogus)
		wantDelivered(t, s, q, true)
	})
}

func TestTLSAMatches(t *testing.T) {
	c, err := tlsconf.SelfSigned([]string{"mx.dane.test"})
	if err != nil {
		t.Fatal(err)
	}
	l := c.Leaf
	s256c, s512s := sha256.Sum256(l.Raw), sha512.Sum512(l.RawSubjectPublicKeyInfo)
	for _, tc := range []struct {
		sel, mt uint8
		data    []byte
		want    bool
	}{
		{0, 0, l.Raw, true},
		{1, 0, l.RawSubjectPublicKeyInfo, true},
		{0, 1, s256c[:], true},
		{1, 2, s512s[:], true},
		{1, 1, s256c[:], false}, // right digest of the wrong selector
		{0, 2, s512s[:], false},
		{2, 0, l.Raw, false}, // unknown selector
		{0, 3, l.Raw, false}, // unknown matching type
	} {
		r := dnsresolver.TLSA{Usage: 3, Selector: tc.sel, MatchingType: tc.mt, Data: tc.data}
		if got := tlsaMatches(r, l); got != tc.want {
			t.Errorf("selector %d matching %d: got %v, want %v", tc.sel, tc.mt, got, tc.want)
		}
	}
}
