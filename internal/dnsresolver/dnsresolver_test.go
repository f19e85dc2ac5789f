package dnsresolver

import (
	"context"
	"net"
	"testing"
)

func TestFake(t *testing.T) {
	ctx := context.Background()
	f := &Fake{
		MX:   map[string][]*net.MX{"example.org": {{Host: "mx.example.org.", Pref: 10}}},
		TXT:  map[string][]string{"example.org": {"v=spf1 -all"}},
		Temp: map[string]bool{"flaky.test": true},
	}
	if mx, err := f.LookupMX(ctx, "Example.ORG."); err != nil || len(mx) != 1 {
		t.Errorf("MX: %v %v", mx, err)
	}
	if _, err := f.LookupTXT(ctx, "nothing.test"); !IsNotFound(err) {
		t.Errorf("missing name: %v", err)
	}
	_, err := f.LookupMX(ctx, "flaky.test")
	var de *net.DNSError
	if IsNotFound(err) || !errorsAs(err, &de) || !de.IsTemporary {
		t.Errorf("temp: %v", err)
	}
	if ips, err := f.LookupIPAddr(ctx, "192.0.2.1"); err != nil || len(ips) != 1 {
		t.Errorf("IP literal: %v %v", ips, err)
	}
}

func errorsAs(err error, de **net.DNSError) bool {
	d, ok := err.(*net.DNSError)
	*de = d
	return ok
}

func TestNew(t *testing.T) {
	if r, err := New(""); err != nil || r != net.DefaultResolver {
		t.Errorf("system: %v %v", r, err)
	}
	for _, s := range []string{"192.0.2.53", "192.0.2.53:5353", "[2001:db8::53]:53"} {
		if _, err := New(s); err != nil {
			t.Errorf("New(%q): %v", s, err)
		}
	}
	if _, err := New("[bad"); err == nil {
		t.Error("accepted a bad address")
	}
}
