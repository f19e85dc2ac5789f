package queue

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/tlsconf"
)

// stsWorld sets up secure.test with an MTA-STS policy served over HTTPS
// and an MX sink; plainMX makes the MX offer no STARTTLS.
func stsWorld(t *testing.T, policy string, plainMX bool) (*world, *sink, Options) {
	c, err := tlsconf.SelfSigned([]string{"mta-sts.secure.test", "mx.secure.test"})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld()
	mxCert := c
	if plainMX {
		mxCert = nil
	}
	s := newSinkCert(t, mxCert, false)
	w.host("mx.secure.test", s.addr)
	w.mx("secure.test", "mx.secure.test")
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Host != "mta-sts.secure.test" || r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(rw, r)
			return
		}
		rw.Write([]byte(policy))
	}))
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{*c}}
	hs.StartTLS()
	t.Cleanup(hs.Close)
	w.hostAt("mta-sts.secure.test", "443", hs.Listener.Addr().String())
	w.dns.TXT["_mta-sts.secure.test"] = []string{"v=STSv1; id=20261125"}
	opt := testOptions(t, w)
	pool := x509.NewCertPool()
	pool.AddCert(c.Leaf)
	opt.TLSConfig = &tls.Config{RootCAs: pool}
	opt.RetryMin, opt.RetryMax = time.Hour, time.Hour
	return w, s, opt
}

const enforce = "version: STSv1\r\nmode: enforce\r\nmx: *.secure.test\r\nmax_age: 86400\r\n"

func TestMTASTSEnforceDelivers(t *testing.T) {
	_, s, opt := stsWorld(t, enforce, false)
	q := openQueue(t, opt)
	enqueue(t, q, "alice@youju.test", []string{"bob@secure.test"}, testMessage("alice@youju.test", "bob@secure.test", "sts"))
	waitFor(t, "delivery", func() bool { return len(s.received()) == 1 && q.Len() == 0 })
	if !s.received()[0].tls {
		t.Error("delivered without TLS under MTA-STS enforce")
	}
	if p := q.sts.m["secure.test"]; p == nil || p.mode != "enforce" || p.id != "20261125" {
		t.Errorf("cached policy %+v", p)
	}
}

func TestMTASTSEnforceRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		policy  string
		plainMX bool
	}{
		"no STARTTLS": {enforce, true},
		"mx mismatch": {strings.Replace(enforce, "*.secure.test", "mx.elsewhere.test", 1), false},
	} {
		t.Run(name, func(t *testing.T) {
			_, s, opt := stsWorld(t, tc.policy, tc.plainMX)
			q := openQueue(t, opt)
			enqueue(t, q, "alice@youju.test", []string{"bob@secure.test"}, testMessage("alice@youju.test", "bob@secure.test", "sts"))
			var st *State
			waitFor(t, "deferral", func() bool {
				all, _ := q.List()
				if len(all) == 1 && all[0].Attempts == 1 {
					st = all[0]
					return true
				}
				return false
			})
			if len(s.received()) != 0 {
				t.Fatal("delivered against the MTA-STS policy")
			}
			if r := st.Rcpts[0]; r.Status != StatusPending {
				t.Errorf("rcpt %+v", r)
			}
		})
	}
}

func TestParseSTSPolicy(t *testing.T) {
	p, err := parseSTSPolicy([]byte(enforce))
	if err != nil || p.mode != "enforce" || p.maxAge != 24*time.Hour || !p.matches("mx1.secure.test.") ||
		p.matches("a.b.secure.test") || p.matches("secure.test") {
		t.Fatalf("%+v %v", p, err)
	}
	for _, bad := range []string{"", "version: STSv2\nmode: enforce\nmx: a\nmax_age: 1",
		"version: STSv1\nmode: enforce\nmax_age: 1", "version: STSv1\nmode: x\nmx: a\nmax_age: 1",
		"version: STSv1\nmode: enforce\nmx: a\nmax_age: -1"} {
		if _, err := parseSTSPolicy([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func FuzzParseSTSPolicy(f *testing.F) {
	f.Add([]byte(enforce))
	f.Add([]byte("version: STSv1\nmode: none\nmax_age: 99999999999\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseSTSPolicy(b)
		if err == nil && (p.maxAge < 0 || p.maxAge > stsMaxAge*time.Second) {
			t.Fatalf("max_age %v", p.maxAge)
		}
		if err == nil {
			p.matches("mx.example.com")
		}
	})
}
