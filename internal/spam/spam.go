// Package spam holds youju's checks against unwanted inbound mail on the
// MX port: what is known of the client before it sends a message (DNSBL
// listings, forward-confirmed reverse DNS, the HELO name, talking before
// the greeting) and greylisting (RFC 6647). The SMTP server calls it
// through a few small hooks; every check is switched in the [spam]
// section of youju.toml, logged and counted in youju_spam_checks_total.
//
// The checks give a score, not a verdict, except a DNSBL listing (refused
// when the configuration says so) and greylisting (a temporary refusal).
// The session adds up the score and compares it with the thresholds:
// deliver, file into Junk, or refuse at DATA with 550, so that the sender
// always knows (never accept-then-drop).
package spam

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/metrics"
)

// Checks counts each check's outcome: check is dnsbl, fcrdns, helo,
// pregreet, greylist or verdict; result depends on the check (listed,
// clean, error; pass, fail; ...).
var Checks = metrics.NewCounter("youju_spam_checks_total",
	"Anti-spam check outcomes on the MX port, by check and result.", "check", "result")

// Scores of the connection checks. A message with a total at or above
// Config.JunkScore goes to Junk; at or above Config.RejectScore it is
// refused. The defaults (5 and 10) make no single weak signal decide.
const (
	ScoreNoPTR       = 1.5 // no reverse name at all
	ScoreNoFCrDNS    = 1.0 // a reverse name that does not resolve back
	ScoreHELOBare    = 1.0 // HELO is not a fully-qualified name nor an address literal
	ScoreHELOOurs    = 3.0 // HELO claims our own name or domain
	ScoreHELOLiteral = 1.0 // HELO is an address literal other than the client's
	ScorePregreet    = 6.0 // talked before the greeting: almost only bots do
	ScoreDNSBL       = 6.0 // a listing, when the action is "score"
)

// Config switches the checks. The zero value checks nothing.
type Config struct {
	// DNSBLs are the zones asked about the client's address, e.g.
	// "zen.spamhaus.org" (their terms of use vary: none by default).
	DNSBLs []string
	// DNSBLReject refuses a listed client at MAIL FROM (554 5.7.1);
	// false adds ScoreDNSBL instead.
	DNSBLReject bool
	// FCrDNS scores a client without a forward-confirmed reverse name.
	FCrDNS bool
	// HELO scores implausible HELO/EHLO names.
	HELO bool
	// Pregreet is how long the MX port waits before its greeting to see
	// whether the client talks first (0: no wait, no check).
	Pregreet time.Duration
	// JunkScore and RejectScore are the thresholds (0: defaults 5, 10).
	JunkScore, RejectScore float64
	// ScannerTempfail: a scanner that cannot answer makes DATA fail
	// temporarily (451); false delivers unscanned (logged).
	ScannerTempfail bool
	// Timeout bounds the connection checks' DNS queries (default 5s).
	Timeout time.Duration
}

// Checker runs the checks for one server.
type Checker struct {
	Config
	DNS      dnsresolver.Resolver
	Greylist *Greylist   // nil: no greylisting
	Filter   *Filter     // nil: no learning filter
	Send     *SendLimits // nil: our accounts send without limits
	Clamd    *Clamd      // nil: no virus scan
	Rspamd   *Rspamd     // nil: no rspamd
	Logger   *slog.Logger
	// Local reports whether a name is ours (our hostname, a local
	// domain): a client claiming it in HELO is lying.
	Local func(name string) bool
}

// Thresholds returns the junk and reject scores with defaults applied.
func (c *Checker) Thresholds() (junk, reject float64) {
	junk, reject = c.JunkScore, c.RejectScore
	if junk <= 0 {
		junk = 5
	}
	if reject <= 0 {
		reject = 10
	}
	return junk, reject
}

// Reason is one contribution to a score.
type Reason struct {
	Name  string
	Score float64
}

// Score is a sum with its reasons.
type Score struct {
	Total   float64
	Reasons []Reason
}

// Add counts a reason (a zero score is kept: it explains).
func (s *Score) Add(name string, v float64) {
	s.Total += v
	s.Reasons = append(s.Reasons, Reason{name, v})
}

// Merge adds every reason of o.
func (s *Score) Merge(o Score) {
	for _, r := range o.Reasons {
		s.Add(r.Name, r.Score)
	}
}

// String is "NAME(+1.5) ..." with the largest contributions first.
//
// It runs once per message on the MX path (the log line and the
// X-Youju-Spam field), so it is built in one buffer: the string is its
// one allocation for up to 8 reasons.
func (s Score) String() string {
	if len(s.Reasons) == 0 {
		return ""
	}
	var rb [8]Reason
	rs := append(rb[:0], s.Reasons...)
	slices.SortStableFunc(rs, func(a, b Reason) int {
		switch x, y := abs(a.Score), abs(b.Score); {
		case x > y:
			return -1
		case x < y:
			return 1
		}
		return 0
	})
	var buf [160]byte
	b := buf[:0]
	for i, r := range rs {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, r.Name...)
		b = append(b, '(')
		b = appendSigned(b, r.Score)
		b = append(b, ')')
	}
	return string(b)
}

// appendSigned appends f as fmt's %+.1f does: one decimal, and a sign
// always (strconv writes "-" and "+Inf" itself, "+" is added otherwise).
func appendSigned(b []byte, f float64) []byte {
	n := len(b)
	b = strconv.AppendFloat(b, f, 'f', 1, 64)
	if b[n] != '-' && b[n] != '+' {
		b = append(b, 0)
		copy(b[n+1:], b[n:])
		b[n] = '+'
	}
	return b
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// Verdicts.
const (
	Deliver = "ham"
	Junk    = "junk"
	Reject  = "reject"
)

// Verdict applies the thresholds to s.
func (c *Checker) Verdict(s Score) string {
	junk, reject := c.Thresholds()
	switch {
	case s.Total >= reject:
		return Reject
	case s.Total >= junk:
		return Junk
	}
	return Deliver
}

// Header is the X-Youju-Spam field (CRLF-terminated) for a verdict.
func Header(verdict string, s Score) string {
	return HeaderOf(verdict, s.Total, s.String())
}

// HeaderOf is Header for a score whose total and reasons (Score.String)
// the caller has already, e.g. for its log line.
func HeaderOf(verdict string, total float64, reasons string) string {
	v := fmt.Sprintf("X-Youju-Spam: %s; score=%.1f", verdict, total)
	if reasons != "" {
		v += "; " + reasons
	}
	return foldField(v) + "\r\n"
}

// foldField folds at spaces so that no line exceeds 78 characters
// (RFC 5322 §2.1.1).
func foldField(v string) string {
	var b strings.Builder
	line := 0
	for i, w := range strings.Split(v, " ") {
		if i > 0 {
			if line+1+len(w) > 78 {
				b.WriteString("\r\n\t")
				line = 1
			} else {
				b.WriteByte(' ')
				line++
			}
		}
		b.WriteString(w)
		line += len(w)
	}
	return b.String()
}

func (c *Checker) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 5 * time.Second
}

// Conn is what the checks learnt of one connection. Its DNS queries run
// from Start while the client says EHLO and MAIL FROM.
type Conn struct {
	c      *Checker
	ip     netip.Addr
	done   chan struct{}
	score  Score
	listed string // the first DNSBL zone listing ip, "" if none
	// Pregreet is set by the server when the client talked before the
	// greeting.
	pregreet atomic.Bool
}

// Start begins the connection checks for ip. ctx is the connection's.
func (c *Checker) Start(ctx context.Context, ip netip.Addr) *Conn {
	cc := &Conn{c: c, ip: ip.Unmap(), done: make(chan struct{})}
	if c.DNS == nil || !cc.ip.IsValid() || (len(c.DNSBLs) == 0 && !c.FCrDNS) {
		close(cc.done)
		return cc
	}
	go func() {
		defer close(cc.done)
		ctx, cancel := context.WithTimeout(ctx, c.timeout())
		defer cancel()
		cc.listed = c.dnsbl(ctx, cc.ip)
		if c.FCrDNS {
			cc.fcrdns(ctx)
		}
	}()
	return cc
}

// SetPregreet records that the client talked before the greeting.
func (cc *Conn) SetPregreet() {
	cc.pregreet.Store(true)
	Checks.With("pregreet", "early").Inc()
}

// Wait returns the connection's score and the DNSBL zone listing it
// ("" if none), once its queries are answered or ctx ends.
func (cc *Conn) Wait(ctx context.Context) (Score, string) {
	select {
	case <-cc.done:
	case <-ctx.Done():
		return Score{}, ""
	}
	s := Score{Reasons: append([]Reason(nil), cc.score.Reasons...), Total: cc.score.Total}
	if cc.pregreet.Load() {
		s.Add("PREGREET", ScorePregreet)
	}
	if cc.listed != "" && !cc.c.DNSBLReject {
		s.Add("DNSBL_"+cc.listed, ScoreDNSBL)
	}
	return s, cc.listed
}
