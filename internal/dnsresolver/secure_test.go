package dnsresolver

import (
	"context"
	"net"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// aliasAnswers answers as a resolver does for mx.example, an alias of
// real.example (RFC 1034 §3.6.2: the CNAME, then the records of the
// target), and for direct.example with records of its own.
func aliasAnswers(b *dnsmessage.Builder, q dnsmessage.Question) {
	hdr := func(name string, t dnsmessage.Type) dnsmessage.ResourceHeader {
		return dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(name), Type: t, Class: dnsmessage.ClassINET, TTL: 60}
	}
	a := dnsmessage.AResource{A: [4]byte{192, 0, 2, 1}}
	switch q.Name.String() {
	case "mx.example.":
		b.CNAMEResource(hdr("mx.example.", dnsmessage.TypeCNAME), dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName("real.example.")})
		if q.Type == dnsmessage.TypeA {
			b.AResource(hdr("real.example.", dnsmessage.TypeA), a)
		}
	case "direct.example.":
		if q.Type == dnsmessage.TypeA {
			b.AResource(hdr("direct.example.", dnsmessage.TypeA), a)
		}
	}
}

// TestValidatingLookupSecure: the AD bit and the end of the CNAME chain
// come back from a loopback validating server; a name without records
// of the type is not found, with the AD bit of the denial.
func TestValidatingLookupSecure(t *testing.T) {
	for name, tc := range map[string]struct {
		ad                 bool
		host, qtype        string
		secure, notFound   bool
		target             string
		rcode              dnsmessage.RCode
		temporary, badType bool
	}{
		"secure A":         {ad: true, host: "direct.example", qtype: "A", secure: true},
		"insecure A":       {host: "direct.example", qtype: "A"},
		"secure CNAME":     {ad: true, host: "mx.example", qtype: "A", secure: true, target: "real.example"},
		"nodata AAAA":      {ad: true, host: "direct.example", qtype: "AAAA", secure: true, notFound: true},
		"nodata via alias": {ad: true, host: "mx.example", qtype: "MX", secure: true, notFound: true, target: "real.example"},
		"nxdomain":         {host: "none.example", qtype: "MX", rcode: dnsmessage.RCodeNameError, notFound: true},
		"servfail":         {host: "direct.example", qtype: "A", rcode: dnsmessage.RCodeServerFailure, temporary: true},
		"bad type":         {host: "direct.example", qtype: "TXT", badType: true},
	} {
		t.Run(name, func(t *testing.T) {
			s := dnsServer{ad: tc.ad, rcode: tc.rcode, extra: aliasAnswers}
			startDNS(t, &s)
			v, err := NewValidating(net.DefaultResolver, s.addr)
			if err != nil {
				t.Fatal(err)
			}
			secure, target, err := v.LookupSecure(context.Background(), tc.host, tc.qtype)
			var de *net.DNSError
			switch {
			case tc.badType:
				if err == nil {
					t.Fatal("type TXT accepted")
				}
				return
			case tc.temporary:
				if err == nil || !asDNSError(err, &de) || !de.IsTemporary {
					t.Fatalf("err %v, want temporary", err)
				}
				return
			case tc.notFound != IsNotFound(err):
				t.Fatalf("err %v, want not found %v", err, tc.notFound)
			case !tc.notFound && err != nil:
				t.Fatal(err)
			}
			if secure != tc.secure || target != tc.target {
				t.Fatalf("secure %v target %q; want %v %q", secure, target, tc.secure, tc.target)
			}
		})
	}
}

// TestCacheLookupSecure: a Cache passes the question to a validating
// resolver behind it and says "insecure" in front of any other.
func TestCacheLookupSecure(t *testing.T) {
	f := &Fake{IP: map[string][]net.IPAddr{"mx.example": {{IP: net.IPv4(192, 0, 2, 1)}}},
		SecureRR: map[string]bool{"A mx.example": true}}
	if ok, _, err := (&Cache{Resolver: f}).LookupSecure(context.Background(), "mx.example", "A"); !ok || err != nil {
		t.Errorf("through the cache: %v %v", ok, err)
	}
	if ok, _, err := (&Cache{Resolver: net.DefaultResolver}).LookupSecure(context.Background(), "mx.example", "A"); ok || err != nil {
		t.Errorf("non-validating resolver: %v %v", ok, err)
	}
}

// FuzzParseSecureResponse: arbitrary replies never make the parser
// panic, and an answer it takes names the records' type.
func FuzzParseSecureResponse(f *testing.F) {
	s := &dnsServer{ad: true, extra: aliasAnswers}
	q, id, _ := query("mx.example", dnsmessage.TypeA)
	f.Add(s.answer(q, false), id)
	f.Add([]byte{0, 0, 0x81, 0x80}, uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, id uint16) {
		_, target, err := parseSecureResponse(b, id, "mx.example", dnsmessage.TypeA)
		if err != nil && target != "" && !IsNotFound(err) {
			t.Fatalf("target %q with error %v", target, err)
		}
	})
}
