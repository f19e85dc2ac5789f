package dnsresolver

import (
	"context"
	"errors"
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

func TestFakeSRVAndCNAME(t *testing.T) {
	ctx := context.Background()
	f := &Fake{
		IP:    map[string][]net.IPAddr{"mail.example.org": {{IP: net.ParseIP("192.0.2.1")}}},
		SRV:   map[string][]*net.SRV{"_imaps._tcp.example.org": {{Target: "mail.example.org.", Port: 993}}},
		CNAME: map[string]string{"autoconfig.example.org": "Mail.example.org."},
	}
	if _, srvs, err := f.LookupSRV(ctx, "imaps", "tcp", "Example.org."); err != nil || len(srvs) != 1 || srvs[0].Port != 993 {
		t.Errorf("SRV: %v %v", srvs, err)
	}
	if _, srvs, err := f.LookupSRV(ctx, "", "", "_imaps._tcp.example.org"); err != nil || len(srvs) != 1 {
		t.Errorf("SRV by full name: %v %v", srvs, err)
	}
	if _, _, err := f.LookupSRV(ctx, "pop3s", "tcp", "example.org"); !IsNotFound(err) {
		t.Errorf("missing SRV: %v", err)
	}
	if c, err := f.LookupCNAME(ctx, "autoconfig.example.org"); err != nil || c != "mail.example.org." {
		t.Errorf("CNAME: %q %v", c, err)
	}
	if c, err := f.LookupCNAME(ctx, "mail.example.org"); err != nil || c != "mail.example.org." {
		t.Errorf("a name with addresses is its own canonical name: %q %v", c, err)
	}
	if _, err := f.LookupCNAME(ctx, "nothing.example.org"); !IsNotFound(err) {
		t.Errorf("missing CNAME: %v", err)
	}
	if ips, err := f.LookupIPAddr(ctx, "autoconfig.example.org"); err != nil || len(ips) != 1 || !ips[0].IP.Equal(net.ParseIP("192.0.2.1")) {
		t.Errorf("IP through CNAME: %v %v", ips, err)
	}
	f.Err = errors.New("i/o timeout")
	if _, err := f.LookupIPAddr(ctx, "mail.example.org"); err != f.Err {
		t.Errorf("Err not returned: %v", err)
	}
	if _, _, err := f.LookupSRV(ctx, "imaps", "tcp", "example.org"); err != f.Err {
		t.Errorf("Err not returned by SRV: %v", err)
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
