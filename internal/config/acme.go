package config

import (
	"fmt"
	"strings"
)

// ACME configures certificates from an ACME CA (RFC 8555). In youju.toml:
//
//	[acme]
//	mode = "auto"       # "auto": on when the host name is public and http is on port 80 or https on 443; "on"; "off"
//	directory = ""      # "" = Let's Encrypt; e.g. "https://acme-staging-v02.api.letsencrypt.org/directory"
//	email = ""          # the CA writes here before an unrenewed certificate expires
//	challenges = []     # default ["http-01", "tls-alpn-01"]
//	ca_file = ""        # a private CA's root for the directory's HTTPS (step-ca, Pebble)
//	profile = ""        # an issuance profile the CA offers, e.g. "tlsserver"
type ACME struct {
	Mode       string   `toml:"mode"`
	Directory  string   `toml:"directory"`
	Email      string   `toml:"email"`
	Challenges []string `toml:"challenges"`
	CAFile     string   `toml:"ca_file"`
	Profile    string   `toml:"profile"`
}

// ACME modes.
const (
	ACMEAuto = "auto"
	ACMEOn   = "on"
	ACMEOff  = "off"
)

func (a *ACME) validate() error {
	switch a.Mode {
	case ACMEAuto, ACMEOn, ACMEOff:
	default:
		return fmt.Errorf("acme.mode %q: must be \"auto\", \"on\" or \"off\"", a.Mode)
	}
	for _, c := range a.Challenges {
		if c != "http-01" && c != "tls-alpn-01" {
			return fmt.Errorf("acme.challenges: %q is not \"http-01\" or \"tls-alpn-01\"", c)
		}
	}
	if a.Directory != "" && !strings.HasPrefix(a.Directory, "https://") {
		return fmt.Errorf("acme.directory %q: must be an https:// URL (RFC 8555 §6.1)", a.Directory)
	}
	if strings.ContainsAny(a.Email, " <>") {
		return fmt.Errorf("acme.email %q: want a bare address", a.Email)
	}
	return nil
}

// SRS configures the Sender Rewriting Scheme for mail that an alias
// forwards to another domain. In youju.toml:
//
//	[srs]
//	enabled = true      # rewrite the envelope sender of forwarded mail
//	domain = ""         # the domain of SRS addresses; "" = the primary domain
//	max_age_days = 21   # bounces to older SRS addresses are refused
type SRS struct {
	Enabled    bool   `toml:"enabled"`
	Domain     string `toml:"domain"`
	MaxAgeDays int    `toml:"max_age_days"`
}

func (s *SRS) validate() error {
	if s.MaxAgeDays < 1 || s.MaxAgeDays > 1000 {
		return fmt.Errorf("srs.max_age_days %d: must be between 1 and 1000", s.MaxAgeDays)
	}
	if strings.ContainsAny(s.Domain, " @/") {
		return fmt.Errorf("srs.domain %q: must be a domain name", s.Domain)
	}
	return nil
}

// acmeSRSTemplate is appended to the file init writes.
const acmeSRSTemplate = `
[acme]
# Certificates from Let's Encrypt (or another ACME CA), renewed by themselves.
# mode = "auto"             # "auto": on for a public host name with http on :80 or https on :443; "on"; "off"
# directory = ""            # "" = Let's Encrypt production
# email = ""                # expiry warnings from the CA
# challenges = []           # default ["http-01", "tls-alpn-01"]
# ca_file = ""              # root of a private ACME CA's HTTPS
# profile = ""

[srs]
# Sender Rewriting Scheme for mail an alias forwards to another domain.
# enabled = true
# domain = ""               # "" = the primary domain
# max_age_days = 21
`
