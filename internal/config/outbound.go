package config

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Outbound configures delivery to other domains (the queue) and the
// authentication checks of inbound mail. In youju.toml:
//
//	[outbound]
//	resolver = ""                  # "" = system resolver, or "192.0.2.53" / "[2001:db8::53]:53"
//	resolver_validates = false     # the resolver validates DNSSEC: trust its AD bit, use DANE (RFC 7672)
//	mta_sts = "testing"            # the MTA-STS policy we serve (RFC 8461 §5): "none", "testing", "enforce"
//	smarthost = ""                 # "" = deliver by MX; or "smtp.provider.example:465"
//	smarthost_tls = ""             # "implicit", "starttls", "none"; "" = implicit on port 465, else starttls
//	smarthost_user = ""
//	smarthost_password = ""
//	lifetime = "120h"              # give up and bounce after 5 days
//	delay_notice_after = "4h"      # tell the sender once it has waited this long ("0s" = never)
//	max_per_domain = 4             # connections to one destination domain
//	max_concurrent = 20            # messages in delivery at once
//	queue_lease = "2m"             # with several nodes: a node's claim on a message it delivers
//	dmarc_policy = "enforce"       # inbound: "enforce" (p=reject: 550, quarantine: Junk), "junk" (both to Junk), "off"
//	arc_seal = true                # ARC-seal mail that aliases and Sieve redirects forward (RFC 8617)
//
//	[[outbound.transport]]         # a fixed next hop for one domain (like a Postfix transport map)
//	domain = "partner.example"
//	next = "10.0.0.5:25"
//	tls = "none"                   # "" = opportunistic STARTTLS, "starttls", "implicit", "none"
//	user = ""                      # AUTH PLAIN/LOGIN (needs TLS unless tls = "none")
//	password = ""
//	insecure_skip_verify = false
type Outbound struct {
	Resolver string `toml:"resolver"`
	// ResolverValidates declares that Resolver (or the system's, when
	// empty) validates DNSSEC, so its AD bit is trusted and TLSA records
	// authenticate MX hosts (DANE, RFC 7672). Never set it for a resolver
	// across an untrusted network: the AD bit is not signed (RFC 6698 §4.1).
	ResolverValidates bool `toml:"resolver_validates"`
	// MTASTS is the mode of the MTA-STS policy this server publishes for
	// its own domains (served at mta-sts.DOMAIN and printed by youju dns).
	MTASTS            string   `toml:"mta_sts"`
	Smarthost         string   `toml:"smarthost"`
	SmarthostTLS      string   `toml:"smarthost_tls"`
	SmarthostUser     string   `toml:"smarthost_user"`
	SmarthostPassword string   `toml:"smarthost_password"`
	Lifetime          Duration `toml:"lifetime"`
	DelayNoticeAfter  Duration `toml:"delay_notice_after"`
	MaxPerDomain      int      `toml:"max_per_domain"`
	MaxConcurrent     int      `toml:"max_concurrent"`
	// QueueLease is how long a node's claim on a queued message lasts
	// without renewal (PostgreSQL store): after a node dies, another
	// retries its message once the lease ran out. 0 = the queue's default.
	QueueLease  Duration `toml:"queue_lease"`
	DMARCPolicy string   `toml:"dmarc_policy"`
	// ARCSeal seals the mail that aliases and Sieve redirects forward to
	// other domains (RFC 8617) with the DKIM key of the forwarding
	// domain. Off: forwarded mail goes on with only its SRS sender.
	ARCSeal    bool        `toml:"arc_seal"`
	Transports []Transport `toml:"transport"`
}

// Transport pins the next hop of one destination domain.
type Transport struct {
	Domain             string `toml:"domain"`
	Next               string `toml:"next"` // host:port
	TLS                string `toml:"tls"`
	User               string `toml:"user"`
	Password           string `toml:"password"`
	InsecureSkipVerify bool   `toml:"insecure_skip_verify"`
}

// MTA-STS policy modes (RFC 8461 §5) for [outbound] mta_sts.
const (
	MTASTSNone    = "none"
	MTASTSTesting = "testing"
	MTASTSEnforce = "enforce"
)

// DMARC policy settings for inbound mail.
const (
	DMARCEnforce = "enforce"
	DMARCJunk    = "junk"
	DMARCOff     = "off"
)

// DefaultOutbound returns the outbound defaults: MX delivery through the
// system resolver, 5 days of retries, a delay notice after 4 hours.
func DefaultOutbound() Outbound {
	return Outbound{
		Lifetime:         Duration{5 * 24 * time.Hour},
		DelayNoticeAfter: Duration{4 * time.Hour},
		MaxPerDomain:     4,
		MaxConcurrent:    20,
		DMARCPolicy:      DMARCEnforce,
		MTASTS:           MTASTSTesting,
		ARCSeal:          true,
	}
}

// SmarthostMode returns the TLS mode of the smarthost: as configured, else
// implicit TLS on port 465 (RFC 8314) and STARTTLS elsewhere.
func (o *Outbound) SmarthostMode() string {
	if o.SmarthostTLS != "" {
		return o.SmarthostTLS
	}
	if _, port, _ := net.SplitHostPort(o.Smarthost); port == "465" {
		return "implicit"
	}
	return "starttls"
}

func validTLSMode(m string, allowEmpty bool) bool {
	switch m {
	case "implicit", "starttls", "none":
		return true
	case "":
		return allowEmpty
	}
	return false
}

// Validate checks the outbound settings; errors name the key.
func (o *Outbound) Validate() error {
	if o.QueueLease.Duration != 0 && o.QueueLease.Duration < time.Second {
		return fmt.Errorf("outbound.queue_lease %s: want at least 1s", o.QueueLease.Duration)
	}
	if o.Resolver != "" {
		if net.ParseIP(o.Resolver) == nil {
			if _, _, err := net.SplitHostPort(o.Resolver); err != nil {
				return fmt.Errorf("outbound.resolver %q: want an IP address, optionally with :port", o.Resolver)
			}
		}
	}
	if o.Smarthost != "" {
		if _, _, err := net.SplitHostPort(o.Smarthost); err != nil {
			return fmt.Errorf("outbound.smarthost %q: want host:port", o.Smarthost)
		}
		if !validTLSMode(o.SmarthostTLS, true) {
			return fmt.Errorf("outbound.smarthost_tls %q: must be implicit, starttls or none", o.SmarthostTLS)
		}
	}
	if o.SmarthostUser != "" && o.SmarthostPassword == "" {
		return errors.New("outbound.smarthost_password: empty while smarthost_user is set")
	}
	if o.Lifetime.Duration < time.Minute {
		return fmt.Errorf("outbound.lifetime %s: too short", o.Lifetime.Duration)
	}
	if o.MaxPerDomain < 1 || o.MaxConcurrent < 1 {
		return errors.New("outbound: max_per_domain and max_concurrent must be at least 1")
	}
	switch o.DMARCPolicy {
	case DMARCEnforce, DMARCJunk, DMARCOff:
	default:
		return fmt.Errorf("outbound.dmarc_policy %q: must be enforce, junk or off", o.DMARCPolicy)
	}
	switch o.MTASTS {
	case "", MTASTSNone, MTASTSTesting, MTASTSEnforce: // "": testing
	default:
		return fmt.Errorf("outbound.mta_sts %q: must be none, testing or enforce", o.MTASTS)
	}
	seen := map[string]bool{}
	for i, t := range o.Transports {
		d := strings.ToLower(t.Domain)
		if d == "" || strings.ContainsAny(d, " @/") || seen[d] {
			return fmt.Errorf("outbound.transport[%d]: domain %q empty, invalid or repeated", i, t.Domain)
		}
		seen[d] = true
		if _, _, err := net.SplitHostPort(t.Next); err != nil {
			return fmt.Errorf("outbound.transport[%d] (%s): next %q: want host:port", i, d, t.Next)
		}
		if t.TLS != "" && !validTLSMode(t.TLS, false) {
			return fmt.Errorf("outbound.transport[%d] (%s): tls %q: must be starttls, implicit or none (or empty)", i, d, t.TLS)
		}
		if t.User != "" && t.TLS == "" {
			return fmt.Errorf("outbound.transport[%d] (%s): user needs tls = starttls, implicit or none", i, d)
		}
	}
	return nil
}
