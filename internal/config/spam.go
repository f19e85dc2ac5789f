package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Spam configures the anti-spam checks of the MX port (internal/spam).
// In youju.toml:
//
//	[spam]
//	dnsbl = []                  # e.g. ["zen.spamhaus.org"] (read its terms of use first)
//	dnsbl_action = "reject"     # "reject" (554 at MAIL FROM) or "score"
//	fcrdns = true               # score clients without forward-confirmed reverse DNS
//	helo = true                 # score implausible HELO names
//	pregreet_delay = "0s"       # wait before the banner to catch clients that talk first; e.g. "3s"
//	greylist = false            # RFC 6647 greylisting
//	greylist_delay = "5m"
//	greylist_window = "24h"
//	greylist_expire = "864h"    # 36 days
//	filter = true               # the per-account learning filter (trained from Junk moves, $Junk/$NotJunk, sent mail)
//	clamd = ""                  # ClamAV: "unix:/run/clamav/clamd.ctl" or "127.0.0.1:3310"; "" = off
//	rspamd = ""                 # rspamd's normal worker, e.g. "http://127.0.0.1:11333"; "" = off
//	scanner_failure = "tempfail"  # a scanner down: "tempfail" (451, the sender retries) or "accept"
//	send_messages_hour = 200    # per account, to other domains; -1 = no limit
//	send_messages_day = 1000
//	send_new_rcpts_hour = 100   # addresses the account has not written to in 30 days
//	send_new_rcpts_day = 300
//	junk_score = 5.0            # at or above: into Junk
//	reject_score = 10.0         # at or above: 550 at DATA
//	arc_trusted_sealers = []    # forwarders whose passing ARC chain excuses a DMARC failure
type Spam struct {
	DNSBL            []string `toml:"dnsbl"`
	DNSBLAction      string   `toml:"dnsbl_action"`
	FCrDNS           bool     `toml:"fcrdns"`
	HELO             bool     `toml:"helo"`
	PregreetDelay    Duration `toml:"pregreet_delay"`
	Greylist         bool     `toml:"greylist"`
	GreylistDelay    Duration `toml:"greylist_delay"`
	GreylistWindow   Duration `toml:"greylist_window"`
	GreylistExpire   Duration `toml:"greylist_expire"`
	Filter           bool     `toml:"filter"`
	Clamd            string   `toml:"clamd"`
	Rspamd           string   `toml:"rspamd"`
	ScannerFailure   string   `toml:"scanner_failure"`
	SendMessagesHour int      `toml:"send_messages_hour"`
	SendMessagesDay  int      `toml:"send_messages_day"`
	SendNewRcptsHour int      `toml:"send_new_rcpts_hour"`
	SendNewRcptsDay  int      `toml:"send_new_rcpts_day"`
	JunkScore        float64  `toml:"junk_score"`
	RejectScore      float64  `toml:"reject_score"`
	// ARCTrustedSealers are the forwarders (ARC sealer domains, RFC
	// 8617) whose passing chain excuses a DMARC failure: their mail is
	// not rejected nor junked for it (mailauth.Verdict.TrustARC).
	ARCTrustedSealers []string `toml:"arc_trusted_sealers"`

	// MaxForwards bounds the forwarding destinations an account's own
	// Sieve script may have (settings page or ManageSieve): a stolen
	// password must not send a mailbox to many places. -1: none allowed.
	MaxForwards int `toml:"max_forwards"`
}

// DNSBL actions.
const (
	DNSBLReject = "reject"
	DNSBLScore  = "score"
)

// DefaultSpam returns the spam defaults: the cheap scoring checks on,
// no DNSBL (their terms vary), no pregreet wait, no greylisting.
func DefaultSpam() Spam {
	return Spam{
		DNSBLAction: DNSBLReject, FCrDNS: true, HELO: true, Filter: true, ScannerFailure: "tempfail",
		GreylistDelay: Duration{5 * time.Minute}, GreylistWindow: Duration{24 * time.Hour},
		GreylistExpire: Duration{36 * 24 * time.Hour},
		JunkScore:      5, RejectScore: 10,
		SendMessagesHour: 200, SendMessagesDay: 1000, SendNewRcptsHour: 100, SendNewRcptsDay: 300,
		MaxForwards: 5,
	}
}

// Validate checks the spam settings; errors name the key.
func (s *Spam) Validate() error {
	for _, z := range s.DNSBL {
		if z == "" || strings.ContainsAny(z, " @/") || !strings.Contains(z, ".") {
			return fmt.Errorf("spam.dnsbl %q: want a DNS zone such as zen.spamhaus.org", z)
		}
	}
	for _, d := range s.ARCTrustedSealers {
		if d == "" || strings.ContainsAny(d, " @/;") || !strings.Contains(d, ".") {
			return fmt.Errorf("spam.arc_trusted_sealers %q: want a domain such as lists.example.org", d)
		}
	}
	switch s.DNSBLAction {
	case DNSBLReject, DNSBLScore:
	default:
		return fmt.Errorf("spam.dnsbl_action %q: must be reject or score", s.DNSBLAction)
	}
	if s.PregreetDelay.Duration < 0 || s.PregreetDelay.Duration > 30*time.Second {
		return fmt.Errorf("spam.pregreet_delay %s: must be between 0s and 30s", s.PregreetDelay.Duration)
	}
	if s.GreylistDelay.Duration <= 0 || s.GreylistWindow.Duration <= s.GreylistDelay.Duration || s.GreylistExpire.Duration <= 0 {
		return errors.New("spam: greylist_delay must be positive and below greylist_window; greylist_expire positive")
	}
	if s.ScannerFailure != "tempfail" && s.ScannerFailure != "accept" {
		return fmt.Errorf("spam.scanner_failure %q: must be tempfail or accept", s.ScannerFailure)
	}
	if s.Rspamd != "" && !strings.HasPrefix(s.Rspamd, "http://") && !strings.HasPrefix(s.Rspamd, "https://") {
		return fmt.Errorf("spam.rspamd %q: want a URL such as http://127.0.0.1:11333", s.Rspamd)
	}
	for _, v := range []int{s.SendMessagesHour, s.SendMessagesDay, s.SendNewRcptsHour, s.SendNewRcptsDay} {
		if v == 0 || v < -1 {
			return errors.New("spam: send_* limits must be positive, or -1 for no limit")
		}
	}
	if s.MaxForwards == 0 || s.MaxForwards < -1 || s.MaxForwards > 100 {
		return fmt.Errorf("spam.max_forwards %d: must be 1 to 100, or -1 for no forwarding", s.MaxForwards)
	}
	if s.JunkScore <= 0 || s.RejectScore <= s.JunkScore {
		return fmt.Errorf("spam: junk_score (%v) must be positive and below reject_score (%v)", s.JunkScore, s.RejectScore)
	}
	return nil
}
