package config

import (
	"strings"
	"testing"
	"time"
)

func TestMarshalParsesBackToTheSameConfig(t *testing.T) {
	c := Default("example.test")
	c.Listen = "127.0.0.1"
	c.PortOffset = 10000
	c.Auth.AllowPlaintextLoopback = true
	got, err := Parse("youju.toml", Marshal(c))
	if err != nil {
		t.Fatal(err)
	}
	if got.Domain != "example.test" || got.Hostname != "mail.example.test" || got.Listen != "127.0.0.1" ||
		got.PortOffset != 10000 || !got.Auth.AllowPlaintextLoopback || got.Limits.MaxRecipients != 1000 {
		t.Fatalf("round trip lost settings: %+v", got)
	}
	addr, err := got.Address(got.Listeners.IMAPS)
	if err != nil || addr != "127.0.0.1:10993" {
		t.Fatalf("imaps address = %q, %v", addr, err)
	}
}

// TestConnectionDefaults: the connection defaults are config's constants
// (netserver uses the same ones for the servers' zero fields).
func TestConnectionDefaults(t *testing.T) {
	l := Default("a.test").Limits
	if l.MaxConnections != DefaultMaxConnections || l.MaxConnectionsIP != DefaultMaxConnectionsIP ||
		l.PreAuthPercent != DefaultPreAuthPercent || l.PreAuthTimeout.Duration != DefaultPreAuthTimeout ||
		l.CommandTimeout.Duration != DefaultCommandTimeout {
		t.Fatalf("defaults %+v", l)
	}
	c, err := Parse("youju.toml", []byte("domain = \"a.test\"\n[proxy_protocol]\ntrusted = [\"10.1.2.3/8\", \"2001:db8::/32\"]\nlisteners = [\"smtp\", \"imaps\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := c.Proxy.TrustedPrefixes()
	if err != nil || len(ps) != 2 || ps[0].String() != "10.0.0.0/8" || !c.Proxy.Enabled("imaps") || c.Proxy.Enabled("imap") {
		t.Fatalf("proxy %v %v %+v", ps, err, c.Proxy)
	}
}

func TestParseStrict(t *testing.T) {
	tests := []struct{ name, file, wantErr string }{
		{"unknown top key", "domain = \"a.test\"\nhostnme = \"x\"\n", "unknown key hostnme"},
		{"unknown nested key", "domain = \"a.test\"\n[limits]\nmax_recipient = 3\n", "unknown key limits.max_recipient"},
		{"bad type", "domain = \"a.test\"\nport_offset = \"ten\"\n", "port_offset"},
		{"no domain", "hostname = \"mail.a.test\"\n", "domain"},
		{"bad listener", "domain = \"a.test\"\n[listeners]\nimap = \"143\"\n", "listeners.imap"},
		{"bad duration", "domain = \"a.test\"\n[limits]\nsmtp_timeout = \"soon\"\n", "smtp_timeout"},
		{"bad log format", "domain = \"a.test\"\n[log]\nformat = \"xml\"\n", "log.format"},
		{"port overflow", "domain = \"a.test\"\nport_offset = 60000\n", "above 65535"},
		{"preauth percent", "domain = \"a.test\"\n[limits]\npreauth_percent = 0\n", "preauth_percent"},
		{"preauth timeout", "domain = \"a.test\"\n[limits]\npreauth_timeout = \"10ms\"\n", "preauth_timeout"},
		{"proxy bad cidr", "domain = \"a.test\"\n[proxy_protocol]\ntrusted = [\"10.0.0.0\"]\n", "proxy_protocol.trusted"},
		{"proxy no trusted", "domain = \"a.test\"\n[proxy_protocol]\nlisteners = [\"imaps\"]\n", "trusted is empty"},
		{"arc sealer", "domain = \"a.test\"\n[spam]\narc_trusted_sealers = [\"lists.a.test\", \"a@b.test\"]\n", "spam.arc_trusted_sealers"},
		{"arc_seal not a bool", "domain = \"a.test\"\n[outbound]\narc_seal = \"yes\"\n", "arc_seal"},
		{"proxy admin", "domain = \"a.test\"\n[proxy_protocol]\ntrusted = [\"10.0.0.0/8\"]\nlisteners = [\"admin\"]\n", "proxy_protocol.listeners"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("youju.toml", []byte(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestDefaultsAndOverrides(t *testing.T) {
	c, err := Parse("youju.toml", []byte(`domain = "a.test"
[listeners]
pop3 = "off"
http = ":8080"
[limits]
smtp_timeout = "90s"
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "mail.a.test" {
		t.Errorf("hostname default = %q", c.Hostname)
	}
	if c.Limits.SMTPTimeout.Duration != 90*time.Second || c.Limits.SMTPDataTimeout.Duration != 10*time.Minute {
		t.Errorf("timeouts = %v %v", c.Limits.SMTPTimeout, c.Limits.SMTPDataTimeout)
	}
	if a, _ := c.Address(c.Listeners.POP3); a != "" {
		t.Errorf("pop3 off gave %q", a)
	}
	if a, _ := c.Address(c.Listeners.HTTP); a != ":8080" {
		t.Errorf("http = %q", a)
	}
	if a, _ := c.Address(c.Listeners.Admin); a != "127.0.0.1:9100" {
		t.Errorf("admin = %q", a)
	}
	if !c.Outbound.ARCSeal {
		t.Error("outbound.arc_seal is off by default")
	}
	c, err = Parse("youju.toml", []byte("domain = \"a.test\"\n[outbound]\narc_seal = false\n"))
	if err != nil || c.Outbound.ARCSeal {
		t.Errorf("arc_seal = false gave %v, %v", c.Outbound.ARCSeal, err)
	}
}

// TestAuthKeys: the throttling keys parse; a config of the previous
// release keeps its max_failures_per_ip and failure_window, and its
// max_failures_per_account (whose account-wide lock is gone) is refused
// with a message naming the replacement rather than ignored.
func TestAuthKeys(t *testing.T) {
	c, err := Parse("youju.toml", []byte(`domain = "a.test"
[auth]
max_failures_per_ip = 7
max_failures_per_account_ip = 4
max_guesses_per_account_hour = 60
guess_burst = 5
failure_window = "10m"
max_delay = "8s"
known_address_for = "240h"
max_verifications = 3
max_verifications_per_ip = 1
`))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Auth
	if a.MaxFailuresPerIP != 7 || a.MaxFailuresPerAccountIP != 4 || a.MaxGuessesPerAccountHour != 60 || a.GuessBurst != 5 ||
		a.FailureWindow.Duration != 10*time.Minute || a.MaxDelay.Duration != 8*time.Second ||
		a.KnownAddressFor.Duration != 240*time.Hour || a.MaxVerifications != 3 || a.MaxVerificationsPerIP != 1 {
		t.Fatalf("parsed %+v", a)
	}
	if d := Default("a.test").Auth; d.MaxGuessesPerAccountHour != 100 || d.MaxDelay.Duration != 15*time.Second || d.KnownAddressFor.Duration != 720*time.Hour {
		t.Fatalf("defaults %+v", d)
	}
	if _, err := Parse("youju.toml", []byte("domain = \"a.test\"\n[auth]\nmax_failures_per_ip = 10\nfailure_window = \"5m\"\n")); err != nil {
		t.Fatalf("previous release's keys: %v", err)
	}
	_, err = Parse("youju.toml", []byte("domain = \"a.test\"\n[auth]\nmax_failures_per_account = 30\n"))
	if err == nil || !strings.Contains(err.Error(), "max_guesses_per_account_hour") {
		t.Fatalf("max_failures_per_account: %v", err)
	}
	for _, bad := range []string{"max_delay = \"45s\"", "guess_burst = -1"} {
		if _, err := Parse("youju.toml", []byte("domain = \"a.test\"\n[auth]\n"+bad+"\n")); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
