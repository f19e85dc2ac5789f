package cli

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/dnsresolver"
)

func TestHostnameWarning(t *testing.T) {
	for host, bad := range map[string]bool{
		"localhost": true, "LOCALHOST.": true, "mail": true, "box.localdomain": true, "203.0.113.1": true,
		"mail.example.com": false, "mail.example.com.": false,
	} {
		if got := hostnameWarning(host) != ""; got != bad {
			t.Errorf("%q: warning %v, want %v", host, got, bad)
		}
	}
}

// TestDNSWarnings drives 'youju dns' and 'dns check' through the three
// warnings: postmaster without a mailbox, a local host name, a PTR that
// names another host.
func TestDNSWarnings(t *testing.T) {
	dir := newData(t)
	_, _, errs := run(t, "", "dns", "--data", dir)
	if !strings.Contains(errs, "postmaster@example.test cannot receive") {
		t.Errorf("no postmaster warning before any account exists: %q", errs)
	}
	mustRun(t, "pw\n", "user", "add", "--data", dir, "--password-stdin", "alice@example.test")
	_, _, errs = run(t, "", "dns", "--data", dir)
	if strings.Contains(errs, "warning") {
		t.Errorf("warnings with a postmaster and a public host name: %q", errs)
	}

	fake := &dnsresolver.Fake{
		IP:   map[string][]net.IPAddr{"mail.example.test": {{IP: net.ParseIP("203.0.113.10")}}},
		Addr: map[string][]string{"203.0.113.10": {"vps-1234.hoster.example."}},
	}
	old := newDNSResolver
	newDNSResolver = func(string) (dnsresolver.Resolver, error) { return fake, nil }
	defer func() { newDNSResolver = old }()
	_, _, errs = run(t, "", "dns", "check", "--data", dir)
	if !strings.Contains(errs, "PTR of 203.0.113.10 is vps-1234.hoster.example") {
		t.Errorf("no PTR warning: %q", errs)
	}
	fake.Addr["203.0.113.10"] = []string{"mail.example.test."}
	if _, _, errs = run(t, "", "dns", "check", "--data", dir); strings.Contains(errs, "PTR") {
		t.Errorf("PTR warning although it matches: %q", errs)
	}
	_, _, errs = run(t, "", "dns", "check", "--data", dir, "--ip", "198.51.100.7")
	if !strings.Contains(errs, "198.51.100.7 has no PTR") {
		t.Errorf("no warning for an address without PTR: %q", errs)
	}

	path := filepath.Join(dir, config.FileName)
	b, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(b), `hostname = "mail.example.test"`, `hostname = "localhost"`, 1)), 0o600)
	if _, _, errs = run(t, "", "dns", "--data", dir); !strings.Contains(errs, `host name "localhost" is local`) {
		t.Errorf("no warning for hostname localhost: %q", errs)
	}
}
