package mailauth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"

	"github.com/youju/youju/internal/dnsresolver"
)

var (
	goodIP = net.ParseIP("192.0.2.1")
	badIP  = net.ParseIP("198.51.100.7")
)

func fakeDNS() *dnsresolver.Fake {
	return &dnsresolver.Fake{
		TXT: map[string][]string{
			"example.org":          {"v=spf1 ip4:192.0.2.1 -all"},
			"_dmarc.example.org":   {"v=DMARC1; p=reject; sp=none"},
			"quar.test":            {"v=spf1 ip4:192.0.2.1 -all"},
			"_dmarc.quar.test":     {"v=DMARC1; p=quarantine"},
			"strict.test":          {"v=spf1 -all"},
			"_dmarc.strict.test":   {"v=DMARC1; p=reject; adkim=s"},
			"nodmarc.test":         {"v=spf1 ip4:192.0.2.1 -all"},
			"mx.example.org":       {"v=spf1 ip4:192.0.2.1 -all"},
			"_dmarc.example.co.uk": {"v=DMARC1; p=reject"},
		},
		Temp: map[string]bool{"_dmarc.flaky.test": true},
	}
}

func msg(from string) []byte {
	return []byte("From: Someone <" + from + ">\r\nTo: x@youju.test\r\nSubject: hi\r\nDate: Wed, 25 Nov 2026 20:00:00 +0000\r\n\r\nbody\r\n")
}

// signed signs m for domain d with a fresh Ed25519 key published in r.
func signed(t testing.TB, r *dnsresolver.Fake, d string, m []byte) []byte {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	r.TXT["s1._domainkey."+d] = []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}
	var b bytes.Buffer
	if err := dkim.Sign(&b, bytes.NewReader(m), &dkim.SignOptions{Domain: d, Selector: "s1", Signer: key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestVerdicts(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		ip         net.IP
		helo, from string // from: MAIL FROM
		hdrFrom    string
		signWith   string // DKIM d=, "" = unsigned
		spf, dmarc string
		dkim       string // result of the first signature, "" = none
		action     Action
	}{
		{"spf aligned pass", goodIP, "mx.example.org", "a@example.org", "a@example.org", "", "pass", "pass", "", ActionNone},
		{"spf fail reject", badIP, "evil.test", "a@example.org", "a@example.org", "", "fail", "fail", "", ActionReject},
		{"spf pass unaligned", goodIP, "mx.example.org", "b@nodmarc.test", "a@example.org", "", "pass", "fail", "", ActionReject},
		{"quarantine", badIP, "evil.test", "a@quar.test", "a@quar.test", "", "fail", "fail", "", ActionQuarantine},
		{"dkim relaxed aligned", badIP, "evil.test", "a@evil.test", "a@example.org", "mail.example.org", "none", "pass", "pass", ActionNone},
		{"dkim strict unaligned", badIP, "evil.test", "a@evil.test", "a@strict.test", "mail.strict.test", "none", "fail", "pass", ActionReject},
		{"subdomain sp=none", badIP, "evil.test", "a@evil.test", "a@sub.example.org", "", "none", "fail", "", ActionNone},
		{"no dmarc record", badIP, "evil.test", "a@nodmarc.test", "a@nodmarc.test", "", "fail", "none", "", ActionNone},
		{"dmarc temperror", badIP, "evil.test", "a@evil.test", "a@flaky.test", "", "none", "temperror", "", ActionNone},
		{"null sender uses helo", goodIP, "mx.example.org", "", "postmaster@mx.example.org", "", "pass", "pass", "", ActionNone},
		{"two-level suffix", badIP, "evil.test", "a@evil.test", "a@mail.example.co.uk", "", "none", "fail", "", ActionReject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fakeDNS()
			m := msg(tc.hdrFrom)
			if tc.signWith != "" {
				m = signed(t, r, tc.signWith, m)
			}
			res := Check(ctx, r, tc.ip, tc.helo, tc.from, m)
			if string(res.SPF.Result) != tc.spf {
				t.Errorf("spf = %s (%v), want %s", res.SPF.Result, res.SPF.Err, tc.spf)
			}
			if res.DMARC.Result != tc.dmarc || res.DMARC.Action != tc.action {
				t.Errorf("dmarc = %s/%v (%s), want %s/%v", res.DMARC.Result, res.DMARC.Action, res.DMARC.Reason, tc.dmarc, tc.action)
			}
			if tc.dkim == "" && len(res.DKIM) != 0 || tc.dkim != "" && (len(res.DKIM) != 1 || res.DKIM[0].Result != tc.dkim) {
				t.Errorf("dkim = %+v, want %q", res.DKIM, tc.dkim)
			}
			h := res.Header("mx.youju.test")
			name, val, _ := strings.Cut(strings.TrimSuffix(h, "\r\n"), ": ")
			if name != "Authentication-Results" {
				t.Fatalf("header %q", h)
			}
			id, rs, err := authres.Parse(strings.NewReplacer("\r\n\t", " ").Replace(val))
			if err != nil || id != "mx.youju.test" {
				t.Fatalf("parse back %q: %q %v", val, id, err)
			}
			var gotDMARC, gotSPF string
			for _, x := range rs {
				switch x := x.(type) {
				case *authres.DMARCResult:
					gotDMARC = string(x.Value)
				case *authres.SPFResult:
					gotSPF = string(x.Value)
				}
			}
			if gotDMARC != tc.dmarc || gotSPF != tc.spf {
				t.Errorf("header says spf=%s dmarc=%s: %q", gotSPF, gotDMARC, h)
			}
		})
	}
}

func TestDKIMBroken(t *testing.T) {
	r := fakeDNS()
	m := signed(t, r, "example.org", msg("a@example.org"))
	m = bytes.Replace(m, []byte("body"), []byte("BODY"), 1)
	res := Check(context.Background(), r, badIP, "evil.test", "a@evil.test", m)
	if len(res.DKIM) != 1 || res.DKIM[0].Result != "fail" || res.DMARC.Result != "fail" || res.DMARC.Action != ActionReject {
		t.Errorf("tampered: %+v %+v", res.DKIM, res.DMARC)
	}
}

func TestStripForged(t *testing.T) {
	body := "\r\nAuthentication-Results: mx.youju.test; spf=pass in the body\r\n"
	for _, tc := range []struct{ in, want string }{
		{"Authentication-Results: mx.youju.test; spf=pass\r\nFrom: a@b\r\n" + body,
			"From: a@b\r\n" + body},
		{"From: a@b\r\nauthentication-results : (forged) MX.youju.test 1;\r\n\tdkim=pass header.d=x\r\nSubject: s\r\n" + body,
			"From: a@b\r\nSubject: s\r\n" + body},
		{"Authentication-Results: other.example; spf=pass\r\nFrom: a@b\r\n" + body,
			"Authentication-Results: other.example; spf=pass\r\nFrom: a@b\r\n" + body},
		{"Authentication-Results: mx.youju.test.evil; none\r\n" + body,
			"Authentication-Results: mx.youju.test.evil; none\r\n" + body},
		{"Authentication-Results: mx.youju.test; none", ""},
	} {
		if got := string(StripForged([]byte(tc.in), "mx.youju.test")); got != tc.want {
			t.Errorf("StripForged(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestOrgDomain(t *testing.T) {
	for in, want := range map[string]string{
		"a.b.example.org": "example.org", "example.org": "example.org", "org": "org",
		"mail.example.co.uk": "example.co.uk", "x.y.example.com.cn.": "example.com.cn", "EXAMPLE.ORG": "example.org",
		"example.co.uk": "example.co.uk", "a.b.example.com.cn": "example.com.cn", "co.uk": "co.uk",
		// Suffixes the old two-labels rule got wrong: a three-label
		// ICANN suffix and private suffixes (RFC 7489 §3.2 takes the
		// whole Public Suffix List).
		"mail.city.kawasaki.jp": "city.kawasaki.jp", "www.example.kyoto.jp": "example.kyoto.jp",
		"alice.github.io": "alice.github.io", "x.alice.github.io": "alice.github.io",
		"shop.bob.blogspot.com": "bob.blogspot.com",
	} {
		for range 2 { // the second answer comes from orgDomains
			if got := OrgDomain(in); got != want {
				t.Errorf("OrgDomain(%q) = %q, want %q", in, got, want)
			}
		}
	}
}

// TestParsedPolicies: a DMARC record parsed once is handed out again
// for the same text, an invalid one stays invalid, and another text is
// parsed afresh.
func TestParsedPolicies(t *testing.T) {
	a := parsedPolicies.get("v=DMARC1; p=reject; pct=50")
	if a.err != nil || a.rec.Policy != dmarc.PolicyReject || *a.rec.Percent != 50 {
		t.Fatalf("%+v", a)
	}
	if b := parsedPolicies.get("v=DMARC1; p=reject; pct=50"); b.rec != a.rec {
		t.Error("parsed twice")
	}
	if c := parsedPolicies.get("v=DMARC1; p=quarantine"); c.err != nil || c.rec.Policy != dmarc.PolicyQuarantine {
		t.Errorf("%+v", c)
	}
	for range 2 {
		if e := parsedPolicies.get("v=DMARC1; p=bogus"); e.err == nil {
			t.Error("an invalid record parsed")
		}
	}
}

// TestRelaxedAlignmentPublicSuffix: relaxed alignment (RFC 7489 §3.1.1)
// compares organizational domains from the Public Suffix List, so two
// sites under one private suffix are not aligned, and a subdomain of a
// co.uk domain is.
func TestRelaxedAlignmentPublicSuffix(t *testing.T) {
	for _, tc := range []struct {
		d, from string
		want    bool
	}{
		{"mail.example.co.uk", "example.co.uk", true},
		{"example.co.uk", "other.co.uk", false},
		{"a.b.example.com.cn", "example.com.cn", true},
		{"alice.github.io", "bob.github.io", false},
		{"x.alice.github.io", "alice.github.io", true},
	} {
		if got := aligned(tc.d, tc.from, dmarc.AlignmentRelaxed); got != tc.want {
			t.Errorf("aligned(%q, %q) = %v, want %v", tc.d, tc.from, got, tc.want)
		}
	}
}

func FuzzStripForged(f *testing.F) {
	f.Add([]byte("Authentication-Results: h; spf=pass\r\nFrom: a\r\n\r\nbody"), "h")
	f.Add([]byte("A: b\r\n\tc\r\nAuthentication-Results: (x) h 1; none\r\n\r\n"), "h")
	f.Add([]byte("Authentication-Results"), "h")
	f.Fuzz(func(t *testing.T, m []byte, host string) {
		out := StripForged(m, host)
		if len(out) > len(m) {
			t.Fatal("grew")
		}
		i := bytes.Index(m, []byte("\r\n\r\n"))
		if i >= 0 && !bytes.HasSuffix(out, m[i+2:]) {
			t.Fatal("body changed")
		}
	})
}

func FuzzCheck(f *testing.F) {
	f.Add([]byte("From: a@example.org\r\nDKIM-Signature: v=1; a=ed25519-sha256; d=example.org; s=s1; h=from; bh=x; b=y\r\n\r\nx"))
	f.Add([]byte("From: a@b, c@d\r\n\r\n"))
	f.Add([]byte("DKIM-Signature: v=1; d=example.org; s=s1; h=from:x:x:dkim-signature\r\nX: 1\r\n a\r\nFrom: a@example.org\r\nAuthentication-Results: mx; none\r\n\r\n"))
	f.Fuzz(func(t *testing.T, m []byte) {
		res := Check(context.Background(), fakeDNS(), badIP, "evil.test", "a@evil.test", m)
		res.Header("h")
	})
}

func TestInbound(t *testing.T) {
	r := fakeDNS()
	forged := append([]byte("Authentication-Results: mx.youju.test; dmarc=pass header.from=example.org\r\n"), msg("a@example.org")...)
	for _, tc := range []struct {
		policy       string
		ip           net.IP
		reject, junk bool
	}{
		{PolicyEnforce, badIP, true, false},
		{PolicyJunk, badIP, false, true},
		{PolicyOff, badIP, false, false},
		{"", goodIP, false, false},
	} {
		out, v := Inbound(context.Background(), r, "mx.youju.test", tc.policy, tc.ip, "mx.example.org", "a@example.org", forged)
		if v.Reject != tc.reject || v.Junk != tc.junk {
			t.Errorf("%s/%v: reject=%v junk=%v", tc.policy, tc.ip, v.Reject, v.Junk)
		}
		if n := bytes.Count(out, []byte("Authentication-Results: mx.youju.test")); n != 1 {
			t.Errorf("%d Authentication-Results of ours, want 1:\n%s", n, out)
		}
		if tc.ip.Equal(badIP) && !bytes.Contains(out, []byte("dmarc=fail")) {
			t.Errorf("forged pass survived:\n%s", out)
		}
	}
}
