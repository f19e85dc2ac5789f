package mailauth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/dkimkeys"
	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/message"
)

// sealKey makes a signing key for domain and publishes it in r.
func sealKey(t testing.TB, r *dnsresolver.Fake, domain string, useRSA bool) dkimkeys.Key {
	t.Helper()
	if useRSA {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		r.TXT["y1r._domainkey."+domain] = []string{"v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)}
		return dkimkeys.Key{Selector: "y1r", Algorithm: dkimkeys.AlgRSA, Signer: k}
	}
	pub, k, _ := ed25519.GenerateKey(rand.Reader)
	r.TXT["y1e._domainkey."+domain] = []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}
	return dkimkeys.Key{Selector: "y1e", Algorithm: dkimkeys.AlgEd25519, Signer: k}
}

// hop is one forwarding server: it checks the message as an MX does
// (our Authentication-Results on top, with its arc= verdict) and seals
// it as domain.
func hop(t testing.TB, r *dnsresolver.Fake, m []byte, domain string, key dkimkeys.Key) []byte {
	t.Helper()
	host := "mx." + domain
	in, _ := Inbound(context.Background(), r, host, PolicyOff, goodIP, "mx.example.org", "a@example.org", m)
	out, err := Seal(in, host, domain, key, time.Now())
	if err != nil {
		t.Fatalf("seal at %s: %v", domain, err)
	}
	return out
}

func checkARC(t testing.TB, r *dnsresolver.Fake, m []byte) Result {
	t.Helper()
	return Check(context.Background(), r, badIP, "fwd.test", "SRS0=x@fwd.test", m)
}

// TestARCRoundTrip: a message sealed by one forwarder verifies, and the
// DMARC failure that forwarding causes (SPF from the forwarder's
// address) leaves arc=pass naming the sealer.
func TestARCRoundTrip(t *testing.T) {
	for _, useRSA := range []bool{true, false} {
		r := fakeDNS()
		m := hop(t, r, msg("a@example.org"), "fwd1.test", sealKey(t, r, "fwd1.test", useRSA))
		res := checkARC(t, r, m)
		if res.ARC.Result != "pass" || res.ARC.Instances != 1 || res.ARC.Sealer != "fwd1.test" || res.ARC.OldestPass != 0 {
			t.Fatalf("rsa=%v: arc = %+v\n%s", useRSA, res.ARC, m)
		}
		if res.DMARC.Result != "fail" {
			t.Errorf("dmarc = %s, want fail (SPF is the forwarder's)", res.DMARC.Result)
		}
		if h := res.Header("mx.final.test"); !strings.Contains(h, "arc=pass") {
			t.Errorf("header without arc=pass:\n%s", h)
		}
		for _, want := range []string{"ARC-Seal: i=1;", "cv=none", "ARC-Message-Signature: i=1;", "ARC-Authentication-Results: i=1; mx.fwd1.test;"} {
			if !bytes.Contains(m, []byte(want)) {
				t.Errorf("sealed message lacks %q", want)
			}
		}
	}
}

// TestARCThreeSealers: three forwarders in a row; each seal covers the
// sets before it (cv=pass) and the final check passes.
func TestARCThreeSealers(t *testing.T) {
	r := fakeDNS()
	m := signed(t, r, "example.org", msg("a@example.org"))
	for i, d := range []string{"fwd1.test", "fwd2.test", "fwd3.test"} {
		m = hop(t, r, m, d, sealKey(t, r, d, i != 1))
	}
	res := checkARC(t, r, m)
	if res.ARC.Result != "pass" || res.ARC.Instances != 3 || res.ARC.Sealer != "fwd3.test" {
		t.Fatalf("arc = %+v", res.ARC)
	}
	for _, want := range []string{"ARC-Seal: i=2; a=ed25519-sha256; d=fwd2.test; s=y1e; t=", "i=3; a=rsa-sha256; d=fwd3.test"} {
		if !bytes.Contains(m, []byte(want)) {
			t.Errorf("no %q in\n%s", want, m)
		}
	}
	if n := bytes.Count(m, []byte("cv=pass")); n != 2 {
		t.Errorf("%d seals with cv=pass, want 2", n)
	}
	// The AAR of the second hop carries the first hop's chain verdict.
	if !bytes.Contains(m, []byte("ARC-Authentication-Results: i=2; mx.fwd2.test;")) {
		t.Errorf("no AAR of hop 2")
	}
}

// TestARCTampered: a change to the body or to any sealed field after
// sealing fails the chain; a change before a later seal only moves the
// oldest pass (RFC 8617 §5.2 step 5).
func TestARCTampered(t *testing.T) {
	r := fakeDNS()
	k1, k2 := sealKey(t, r, "fwd1.test", true), sealKey(t, r, "fwd2.test", false)
	one := hop(t, r, msg("a@example.org"), "fwd1.test", k1)
	two := hop(t, r, one, "fwd2.test", k2)
	for name, m := range map[string][]byte{
		"body":    bytes.Replace(two, []byte("body\r\n"), []byte("b0dy\r\n"), 1),
		"subject": bytes.Replace(two, []byte("Subject: hi"), []byte("Subject: HI"), 1),
		"aar":     bytes.Replace(two, []byte("i=1; mx.fwd1.test;"), []byte("i=1; mx.fwd9.test;"), 1),
		"seal cv": bytes.Replace(two, []byte("cv=none"), []byte("cv=pass"), 1),
		"seal d":  bytes.Replace(two, []byte("ARC-Seal: i=2; a=ed25519-sha256; d=fwd2.test"), []byte("ARC-Seal: i=2; a=ed25519-sha256; d=fwd1.test"), 1),
	} {
		if res := checkARC(t, r, m); res.ARC.Result != "fail" {
			t.Errorf("%s tampered: arc = %+v", name, res.ARC)
		}
	}
	// A mailing list that checks the chain, rewrites the subject and
	// then seals: the first AMS no longer verifies, the second does,
	// the seals all do.
	in, _ := Inbound(context.Background(), r, "mx.list.test", PolicyOff, goodIP, "h", "a@example.org", one)
	edited := bytes.Replace(in, []byte("Subject: hi"), []byte("Subject: [list] hi"), 1)
	listed, err := Seal(edited, "mx.list.test", "list.test", sealKey(t, r, "list.test", true), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	res := checkARC(t, r, listed)
	if res.ARC.Result != "pass" || res.ARC.OldestPass != 2 {
		t.Errorf("edited between hops: arc = %+v", res.ARC)
	}
	if h := res.Header("mx.final.test"); !strings.Contains(h, "header.oldest-pass=2") {
		t.Errorf("no oldest-pass in\n%s", h)
	}
	// A hop that saw a failed chain seals with cv=fail, and the chain is
	// dead for good.
	broken := bytes.Replace(one, []byte("body\r\n"), []byte("b0dy\r\n"), 1)
	dead := hop(t, r, broken, "fwd2.test", k2)
	if !bytes.Contains(dead, []byte("cv=fail")) {
		t.Fatalf("no cv=fail seal:\n%s", dead)
	}
	if res := checkARC(t, r, dead); res.ARC.Result != "fail" {
		t.Errorf("after cv=fail: arc = %+v", res.ARC)
	}
}

// TestARCStructure: chains of the wrong shape fail without a signature
// being checked (RFC 8617 §5.2 steps 2 to 4), and no ARC field is none.
func TestARCStructure(t *testing.T) {
	set := func(i, cv string) string {
		return "ARC-Seal: i=" + i + "; a=rsa-sha256; cv=" + cv + "; d=x.test; s=s; b=AA==\r\n" +
			"ARC-Message-Signature: i=" + i + "; a=rsa-sha256; d=x.test; s=s; h=from; bh=AA==; b=AA==\r\n" +
			"ARC-Authentication-Results: i=" + i + "; mx.x.test; spf=pass\r\n"
	}
	tail := "From: a@example.org\r\n\r\nbody\r\n"
	for _, tc := range []struct{ name, hdr, want string }{
		{"none", "", "none"},
		{"missing seal", "ARC-Message-Signature: i=1; a=rsa-sha256; d=x.test; s=s; h=from; bh=AA==; b=AA==\r\nARC-Authentication-Results: i=1; mx; none\r\n", "fail"},
		{"gap", set("1", "none") + set("3", "pass"), "fail"},
		{"duplicate", set("1", "none") + set("1", "none"), "fail"},
		{"instance 51", set("51", "pass"), "fail"},
		{"instance 0", set("0", "none"), "fail"},
		{"cv pass on 1", set("1", "pass"), "fail"},
		{"cv none on 2", set("1", "none") + set("2", "none"), "fail"},
		{"newest cv fail", set("1", "none") + set("2", "fail"), "fail"},
		{"bad i", strings.ReplaceAll(set("1", "none"), "i=1", "i=x"), "fail"},
	} {
		res := checkARC(t, fakeDNS(), []byte(tc.hdr+tail))
		if res.ARC.Result != tc.want {
			t.Errorf("%s: arc = %+v, want %s", tc.name, res.ARC, tc.want)
		}
	}
}

// TestARCInstanceLimit: 50 sets verify; a 51st is not added (RFC 8617
// §4.2.1).
func TestARCInstanceLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("50 hops")
	}
	r := fakeDNS()
	k := sealKey(t, r, "fwd.test", false)
	m := msg("a@example.org")
	for range arcMaxInstance {
		m = hop(t, r, m, "fwd.test", k)
	}
	if res := checkARC(t, r, m); res.ARC.Result != "pass" || res.ARC.Instances != arcMaxInstance {
		t.Fatalf("50 sets: arc = %+v", res.ARC)
	}
	in, _ := Inbound(context.Background(), r, "mx.fwd.test", PolicyOff, goodIP, "h", "a@example.org", m)
	out, err := Seal(in, "mx.fwd.test", "fwd.test", k, time.Now())
	if !errors.Is(err, ErrNoSeal) || !bytes.Equal(out, in) {
		t.Fatalf("51st seal: err %v, changed %v", err, !bytes.Equal(out, in))
	}
}

// TestSealWithoutVerdict: no Authentication-Results of ours, no seal
// (the AAR would vouch for nothing).
func TestSealWithoutVerdict(t *testing.T) {
	r := fakeDNS()
	m := msg("a@example.org")
	out, err := Seal(m, "mx.fwd.test", "fwd.test", sealKey(t, r, "fwd.test", false), time.Now())
	if !errors.Is(err, ErrNoSeal) || !bytes.Equal(out, m) {
		t.Fatalf("err %v", err)
	}
}

func FuzzARCHeader(f *testing.F) {
	f.Add([]byte("ARC-Seal: i=1; a=rsa-sha256; cv=none; d=x.test; s=s; b=AA==\r\nARC-Message-Signature: i=1; a=rsa-sha256; d=x.test; s=s; h=from; bh=AA==; b=AA==\r\nARC-Authentication-Results: i=1; mx; none\r\nFrom: a@x.test\r\n\r\nb\r\n"))
	f.Add([]byte("ARC-Authentication-Results: i=07; mx\r\n\r\n"))
	f.Add([]byte("ARC-Seal: i=2; cv=pass; b=; h=x\r\n\r\n"))
	r := fakeDNS()
	r.TXT["s._domainkey.x.test"] = []string{"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="}
	f.Fuzz(func(t *testing.T, m []byte) {
		hdr, err := message.ReadHeader(m, message.HeaderLimits{})
		if err != nil {
			return
		}
		sets, err := collectARC(hdr)
		if err == nil && len(sets) > arcMaxInstance {
			t.Fatalf("%d sets", len(sets))
		}
		res := checkARC(t, r, m)
		if res.ARC.Result != "none" && res.ARC.Result != "pass" && res.ARC.Result != "fail" {
			t.Fatalf("result %q", res.ARC.Result)
		}
		if res.ARC.Result == "pass" {
			t.Fatalf("a chain passed without a real key:\n%q", m)
		}
	})
}

// TestTrustARC: forwarded mail that fails DMARC p=reject (the forwarder's
// SPF, no DKIM) is let through only when its chain passes and the newest
// sealer is trusted.
func TestTrustARC(t *testing.T) {
	r := fakeDNS()
	m := hop(t, r, msg("a@example.org"), "fwd1.test", sealKey(t, r, "fwd1.test", false))
	inbound := func(m []byte) Verdict {
		_, v := Inbound(context.Background(), r, "mx.final.test", PolicyEnforce, badIP, "mx.fwd1.test", "SRS0=x@fwd1.test", m)
		return v
	}
	for _, tc := range []struct {
		name     string
		m        []byte
		sealers  []string
		override bool
	}{
		{"trusted", m, []string{"lists.test", "FWD1.test."}, true},
		{"untrusted sealer", m, []string{"lists.test"}, false},
		{"broken chain", bytes.Replace(m, []byte("body\r\n"), []byte("b0dy\r\n"), 1), []string{"fwd1.test"}, false},
	} {
		v := inbound(tc.m)
		if !v.Reject {
			t.Fatalf("%s: not rejected before the override: %+v", tc.name, v.DMARC)
		}
		if got := v.TrustARC(tc.sealers); got != tc.override || v.Reject == tc.override {
			t.Errorf("%s: override %v, reject %v", tc.name, got, v.Reject)
		}
	}
}

// TestARCRemoteIP: our arc= result names the SMTP client
// (smtp.remote-ip, RFC 8617 §10.1), also an IPv6 one (quoted: ":" is
// not a token character, RFC 8601 §2.2), and the AAR of our seal
// repeats it, so the next hop learns where the message entered.
func TestARCRemoteIP(t *testing.T) {
	r := fakeDNS()
	r.TXT["example.org"] = []string{"v=spf1 ip4:192.0.2.1 ip6:2001:db8::1 -all"}
	key := sealKey(t, r, "fwd1.test", true)
	for ip, want := range map[string]string{
		"192.0.2.1":   "arc=none smtp.remote-ip=192.0.2.1",
		"2001:db8::1": `arc=none smtp.remote-ip="2001:db8::1"`,
	} {
		in, v := Inbound(context.Background(), r, "mx.fwd1.test", PolicyOff, net.ParseIP(ip), "h", "a@example.org", msg("a@example.org"))
		if !strings.Contains(v.Field, want) {
			t.Errorf("%s: Authentication-Results lacks %q:\n%s", ip, want, v.Field)
		}
		sealed, err := Seal(in, "mx.fwd1.test", "fwd1.test", key, time.Now())
		if err != nil {
			t.Fatalf("%s: seal: %v", ip, err)
		}
		hdr, err := message.ReadHeader(sealed, message.HeaderLimits{})
		if err != nil {
			t.Fatal(err)
		}
		aar, _ := hdr.Get(fieldAAR)
		if !strings.Contains(aar, want) {
			t.Errorf("%s: AAR lacks %q: %s", ip, want, aar)
		}
		if res := checkARC(t, r, sealed); res.ARC.Result != "pass" {
			t.Errorf("%s: arc = %+v", ip, res.ARC)
		}
	}
	// A passing chain whose AMSs all verify: no header.oldest-pass
	// (0 is the default, and go-msgauth refuses a 0).
	res := checkARC(t, r, hop(t, r, msg("a@example.org"), "fwd1.test", key))
	if h := res.Header("mx.final.test"); strings.Contains(h, "oldest-pass") || !strings.Contains(h, "smtp.remote-ip="+badIP.String()) {
		t.Errorf("final hop's header:\n%s", h)
	}
}
