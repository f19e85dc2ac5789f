// Package config is youju's typed configuration: the file youju.toml in the
// data directory. Decoding is strict (an unknown key is an error naming it)
// and every default lives here, in code.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// FileName is the name of the configuration file inside the data directory.
const FileName = "youju.toml"

// Config is the whole configuration. Field comments are the reference;
// docs/configuration.md repeats them for administrators.
type Config struct {
	// Hostname is the server's name: SMTP greeting, TLS certificate,
	// client settings. Default "mail." + Domain.
	Hostname string `toml:"hostname"`
	// Domain is the primary mail domain; a login name without "@" is taken
	// to be in it.
	Domain string `toml:"domain"`
	// Listen is the address every listener binds unless its own entry
	// names one (default: all addresses).
	Listen string `toml:"listen"`
	// PortOffset is added to every listener's port (10000 turns 25 into
	// 10025), so that a non-root user can run the server.
	PortOffset int `toml:"port_offset"`

	Listeners Listeners `toml:"listeners"`
	TLS       TLS       `toml:"tls"`
	Log       Log       `toml:"log"`
	Limits    Limits    `toml:"limits"`
	Proxy     Proxy     `toml:"proxy_protocol"`
	Auth      Auth      `toml:"auth"`
	Outbound  Outbound  `toml:"outbound"`
	Store     Store     `toml:"store"`
	Blobs     Blobs     `toml:"blobs"`
	ACME      ACME      `toml:"acme"`
	SRS       SRS       `toml:"srs"`
	Spam      Spam      `toml:"spam"`
	Reports   Reports   `toml:"reports"`
}

// Listeners says where each service listens: "host:port", ":port" (on the
// Listen address) or "off". The defaults are the standard ports.
type Listeners struct {
	SMTP        string `toml:"smtp"`        // MX, port 25, STARTTLS
	Submissions string `toml:"submissions"` // submission over implicit TLS, 465 (RFC 8314)
	Submission  string `toml:"submission"`  // submission with STARTTLS, 587
	IMAP        string `toml:"imap"`        // 143, STARTTLS
	IMAPS       string `toml:"imaps"`       // 993, implicit TLS
	POP3        string `toml:"pop3"`        // 110, STLS
	POP3S       string `toml:"pop3s"`       // 995, implicit TLS
	HTTP        string `toml:"http"`        // 80: autoconfig, settings page
	HTTPS       string `toml:"https"`       // 443
	Admin       string `toml:"admin"`       // /metrics; loopback by default
	ManageSieve string `toml:"managesieve"` // 4190, STARTTLS (RFC 5804): users' Sieve scripts
}

// TLS names the certificate. Relative paths are in the data directory.
// youju init writes a self-signed pair to the default paths; replace the
// files with real ones (e.g. from an ACME client) and send SIGHUP.
type TLS struct {
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
}

// Log configures log/slog.
type Log struct {
	Format string `toml:"format"` // "text" or "json"
	Level  string `toml:"level"`  // "debug", "info", "warn", "error"
}

// Limits protect the server from clients, and clients from each other.
type Limits struct {
	MaxMessageBytes  int64 `toml:"max_message_bytes"`  // SMTP SIZE, IMAP APPENDLIMIT (default 50 MiB)
	MaxRecipients    int   `toml:"max_recipients"`     // per SMTP transaction (default 1000)
	MaxConnections   int   `toml:"max_connections"`    // per protocol (default 2000)
	MaxConnectionsIP int   `toml:"max_connections_ip"` // per remote address and protocol (default 200: offices share one NAT address)
	// PreAuthPercent is the share of max_connections that connections
	// which have not logged in may hold; the rest is kept for sessions
	// that did (default 50). The SMTP MX port, where nobody logs in, is
	// not split.
	PreAuthPercent int      `toml:"preauth_percent"`
	PreAuthTimeout Duration `toml:"preauth_timeout"` // idle limit before login, every protocol (default 60s)
	// CommandTimeout bounds one command line from its first byte to its
	// end, plus one second per KiB received (default 60s): a client
	// sending a byte now and then is cut off.
	CommandTimeout    Duration `toml:"command_timeout"`
	SMTPTimeout       Duration `toml:"smtp_timeout"`        // per command (default 5m, RFC 5321 §4.5.3.2)
	SMTPDataTimeout   Duration `toml:"smtp_data_timeout"`   // for DATA (default 10m)
	IMAPIdleTimeout   Duration `toml:"imap_idle_timeout"`   // autologout (default 30m, RFC 9051 §5.4)
	POP3IdleTimeout   Duration `toml:"pop3_idle_timeout"`   // autologout (default 10m, RFC 1939 §3)
	DefaultQuotaBytes int64    `toml:"default_quota_bytes"` // for new accounts; 0 = unlimited
}

// Proxy enables the PROXY protocol (HAProxy, versions 1 and 2) on some
// listeners, for connections from trusted load balancers only: they send
// the client's address first, which limits, throttling, logs and SPF then
// use. Off by default.
type Proxy struct {
	Trusted   []string `toml:"trusted"`   // CIDRs of the load balancers, e.g. "10.0.0.0/8"
	Listeners []string `toml:"listeners"` // listener keys that expect the header, e.g. ["smtp", "imaps"]
}

// TrustedPrefixes parses Trusted (checked by Validate).
func (p *Proxy) TrustedPrefixes() ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for _, s := range p.Trusted {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("proxy_protocol.trusted %q: want a CIDR such as 10.0.0.0/8", s)
		}
		ps = append(ps, pfx.Masked())
	}
	return ps, nil
}

// Enabled reports whether listener expects a PROXY header.
func (p *Proxy) Enabled(listener string) bool { return slices.Contains(p.Listeners, listener) }

func (p *Proxy) validate() error {
	if _, err := p.TrustedPrefixes(); err != nil {
		return err
	}
	if len(p.Listeners) > 0 && len(p.Trusted) == 0 {
		return errors.New("proxy_protocol: listeners are set but trusted is empty")
	}
	for _, name := range p.Listeners {
		if !slices.Contains(mailListeners, name) {
			return fmt.Errorf("proxy_protocol.listeners: %q is not one of %s", name, strings.Join(mailListeners, ", "))
		}
	}
	return nil
}

// mailListeners are the listeners that can take a PROXY header.
var mailListeners = []string{"smtp", "submissions", "submission", "imap", "imaps", "pop3", "pop3s"}

// Auth configures logins.
type Auth struct {
	// AllowPlaintextLoopback accepts passwords over unencrypted
	// connections from loopback addresses (127.0.0.0/8, ::1): for tests,
	// webmail on the same host, or --dev. Never from elsewhere.
	AllowPlaintextLoopback bool `toml:"allow_plaintext_loopback"`

	// Login throttling (internal/auth/throttle.go; the guarantees are in
	// docs/configuration.md). "Address" is an IPv4 address or an IPv6 /64;
	// a "known" network is one the account signed in from within
	// KnownAddressFor.

	// MaxFailuresPerIP distinct wrong passwords from one address within
	// FailureWindow refuse its attempts at accounts not known there
	// (default 20).
	MaxFailuresPerIP int `toml:"max_failures_per_ip"`
	// MaxFailuresPerAccountIP distinct wrong passwords for one account
	// from one address refuse that pair (default 10).
	MaxFailuresPerAccountIP int `toml:"max_failures_per_account_ip"`
	// MaxGuessesPerAccountHour and GuessBurst bound the attempts at one
	// account from every network it is not known at together (defaults
	// 100 and 10).
	MaxGuessesPerAccountHour int `toml:"max_guesses_per_account_hour"`
	GuessBurst               int `toml:"guess_burst"`
	// FailureWindow: counters forget after this long without a failure
	// (default 15m).
	FailureWindow Duration `toml:"failure_window"`
	// MaxDelay caps the tarpit: a failure delays its answer and the next
	// attempt by 1 s, 2 s, 4 s, ... up to MaxDelay (default 15s, at most
	// 30s so that the answer comes within the command timeout).
	MaxDelay Duration `toml:"max_delay"`
	// KnownAddressFor is how long a network where an account signed in
	// stays known (default 720h, 30 days).
	KnownAddressFor Duration `toml:"known_address_for"`
	// MaxVerifications bounds the password checks (argon2id, 19 MiB
	// each) in flight; 0 is max(2, CPUs), at most 13 (256 MiB).
	MaxVerifications int `toml:"max_verifications"`
	// MaxVerificationsPerIP bounds those of one address (default 2).
	MaxVerificationsPerIP int `toml:"max_verifications_per_ip"`

	// MaxFailuresPerAccount is a removed key (it locked an account from
	// everywhere); Validate names its replacement.
	MaxFailuresPerAccount *int `toml:"max_failures_per_account"`
}

// validate checks the [auth] values.
func (a *Auth) validate() error {
	if a.MaxFailuresPerAccount != nil {
		return errors.New("auth.max_failures_per_account was removed: accounts are no longer locked from everywhere; " +
			"attempts from networks an account has not signed in from are rate-limited by auth.max_guesses_per_account_hour " +
			"(see docs/configuration.md); remove the key")
	}
	for _, v := range []struct {
		key string
		n   int
	}{
		{"max_failures_per_ip", a.MaxFailuresPerIP}, {"max_failures_per_account_ip", a.MaxFailuresPerAccountIP},
		{"max_guesses_per_account_hour", a.MaxGuessesPerAccountHour}, {"guess_burst", a.GuessBurst},
		{"max_verifications", a.MaxVerifications}, {"max_verifications_per_ip", a.MaxVerificationsPerIP},
	} {
		if v.n < 0 {
			return fmt.Errorf("auth.%s = %d: must not be negative", v.key, v.n)
		}
	}
	if a.MaxDelay.Duration > 30*time.Second {
		return fmt.Errorf("auth.max_delay = %s: at most 30s (clients time out)", a.MaxDelay.Duration)
	}
	return nil
}

// Connection defaults. They are the one source: Default uses them, and so
// do the servers (through internal/netserver) for their zero fields.
const (
	DefaultMaxConnections   = 2000
	DefaultMaxConnectionsIP = 200
	DefaultPreAuthPercent   = 50
	DefaultPreAuthTimeout   = 60 * time.Second
	DefaultCommandTimeout   = 60 * time.Second
)

// Duration is a time.Duration written as "90s", "5m", "1h".
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	if v < 0 {
		return errors.New("negative duration")
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// Default returns the configuration for domain with every default set.
func Default(domain string) Config {
	return Config{
		Hostname: "mail." + domain,
		Domain:   domain,
		Listeners: Listeners{
			SMTP: ":25", Submissions: ":465", Submission: ":587",
			IMAP: ":143", IMAPS: ":993", POP3: ":110", POP3S: ":995",
			HTTP: ":80", HTTPS: ":443", Admin: "127.0.0.1:9100",
			ManageSieve: ":4190",
		},
		TLS:      TLS{Cert: "tls/cert.pem", Key: "tls/key.pem"},
		Outbound: DefaultOutbound(),
		ACME:     ACME{Mode: ACMEAuto},
		SRS:      SRS{Enabled: true, MaxAgeDays: 21},
		Spam:     DefaultSpam(),
		Log:      Log{Format: "text", Level: "info"},
		Limits: Limits{
			MaxMessageBytes:  50 << 20,
			MaxRecipients:    1000,
			MaxConnections:   DefaultMaxConnections,
			MaxConnectionsIP: DefaultMaxConnectionsIP,
			PreAuthPercent:   DefaultPreAuthPercent,
			PreAuthTimeout:   Duration{DefaultPreAuthTimeout},
			CommandTimeout:   Duration{DefaultCommandTimeout},
			SMTPTimeout:      Duration{5 * time.Minute},
			SMTPDataTimeout:  Duration{10 * time.Minute},
			IMAPIdleTimeout:  Duration{30 * time.Minute},
			POP3IdleTimeout:  Duration{10 * time.Minute},
		},
		Auth: Auth{
			MaxFailuresPerIP: 20, MaxFailuresPerAccountIP: 10,
			MaxGuessesPerAccountHour: 100, GuessBurst: 10,
			FailureWindow: Duration{15 * time.Minute}, MaxDelay: Duration{15 * time.Second},
			KnownAddressFor: Duration{30 * 24 * time.Hour}, MaxVerificationsPerIP: 2,
		},
	}
}

// Load reads dir/youju.toml strictly: unknown keys and invalid values are
// errors. Keys absent from the file keep their defaults.
func Load(dir string) (Config, error) {
	path := filepath.Join(dir, FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return Parse(path, b)
}

// Parse decodes b (read from path, for messages).
func Parse(path string, b []byte) (Config, error) {
	var probe struct {
		Domain string `toml:"domain"`
	}
	// The defaults depend on the domain (hostname), so read it first.
	if _, err := toml.Decode(string(b), &probe); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	c := Default(probe.Domain)
	md, err := toml.Decode(string(b), &c)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return Config{}, fmt.Errorf("%s: unknown key %s", path, strings.Join(keys, ", "))
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Validate checks values that decoding cannot.
func (c *Config) Validate() error {
	if c.Domain == "" || strings.ContainsAny(c.Domain, " @/") {
		return fmt.Errorf("domain %q: must be a domain name such as example.com", c.Domain)
	}
	if c.Hostname == "" || strings.ContainsAny(c.Hostname, " @/") {
		return fmt.Errorf("hostname %q: must be a host name such as mail.example.com", c.Hostname)
	}
	if c.PortOffset < 0 || c.PortOffset > 60000 {
		return fmt.Errorf("port_offset %d: must be between 0 and 60000", c.PortOffset)
	}
	for _, l := range c.Listeners.NamedAll() {
		if _, err := c.Address(l.Setting); err != nil {
			return fmt.Errorf("listeners.%s: %w", l.Name, err)
		}
	}
	if err := c.Auth.validate(); err != nil {
		return err
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("log.format %q: must be \"text\" or \"json\"", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level %q: must be debug, info, warn or error", c.Log.Level)
	}
	if c.Limits.MaxMessageBytes < 1024 {
		return fmt.Errorf("limits.max_message_bytes %d: too small", c.Limits.MaxMessageBytes)
	}
	if c.Limits.MaxRecipients < 1 || c.Limits.MaxConnections < 1 || c.Limits.MaxConnectionsIP < 1 {
		return errors.New("limits: max_recipients, max_connections and max_connections_ip must be at least 1")
	}
	if c.Limits.PreAuthPercent < 1 || c.Limits.PreAuthPercent > 100 {
		return fmt.Errorf("limits.preauth_percent %d: must be between 1 and 100", c.Limits.PreAuthPercent)
	}
	if c.Limits.PreAuthTimeout.Duration < time.Second || c.Limits.CommandTimeout.Duration < time.Second {
		return errors.New("limits: preauth_timeout and command_timeout must be at least 1s")
	}
	if err := c.Proxy.validate(); err != nil {
		return err
	}
	if c.TLS.Cert == "" || c.TLS.Key == "" {
		return errors.New("tls: cert and key must be set")
	}
	if err := c.Outbound.Validate(); err != nil {
		return err
	}
	if err := c.Store.Validate(); err != nil {
		return err
	}
	if err := c.Blobs.Validate(c.Store.Backend); err != nil {
		return err
	}
	if err := c.ACME.validate(); err != nil {
		return err
	}
	if err := c.SRS.validate(); err != nil {
		return err
	}
	return c.Spam.Validate()
}

// NamedListener is a listener setting with its config key.
type NamedListener struct{ Name, Setting string }

// NamedAll lists every listener setting with its key, in a fixed order.
func (l *Listeners) NamedAll() []NamedListener {
	return []NamedListener{
		{"smtp", l.SMTP}, {"submissions", l.Submissions}, {"submission", l.Submission},
		{"imap", l.IMAP}, {"imaps", l.IMAPS}, {"pop3", l.POP3}, {"pop3s", l.POP3S},
		{"http", l.HTTP}, {"https", l.HTTPS}, {"admin", l.Admin},
		{"managesieve", l.ManageSieve},
	}
}

// Address resolves a listener setting to the address to bind, applying
// Listen and PortOffset. It returns "" for "off".
func (c *Config) Address(setting string) (string, error) {
	if setting == "off" || setting == "" {
		return "", nil
	}
	host, port, err := net.SplitHostPort(setting)
	if err != nil {
		return "", fmt.Errorf("%q: want \"host:port\", \":port\" or \"off\"", setting)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", fmt.Errorf("%q: bad port", setting)
	}
	if p != 0 {
		p += c.PortOffset
	}
	if p > 65535 {
		return "", fmt.Errorf("%q: port %d with port_offset is above 65535", setting, p)
	}
	if host == "" {
		host = c.Listen
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// Path resolves a path from the config relative to the data directory.
func Path(dataDir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dataDir, p)
}
