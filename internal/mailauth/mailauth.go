// Package mailauth checks the authenticity of incoming mail: SPF (RFC
// 7208), DKIM signatures (RFC 6376) and the DMARC policy of the From domain
// (RFC 7489), and records the outcome in an Authentication-Results header
// (RFC 8601).
//
// Inbound use, in the SMTP server (port 25 only; submission is
// authenticated already):
//
//	spf := mailauth.StartSPF(ctx, r, remoteIP, helo, mailFrom) // at MAIL FROM
//	lk := mailauth.StartLookups(ctx, r)                        // at DATA
//	lk.Field(raw)                                              // each header field as it arrives
//	hdr, err := message.ReadHeader(msg, limits)                // once, bounded
//	msg, v := mailauth.InboundVerify(ctx, hostname, policy, spf, lk, hdr, msg)
//	lk.Stop()
//	// v.Reject: 550 5.7.1; v.Junk: deliver to Junk
//
// So the DKIM keys and DMARC policies are asked for while the body is
// still coming, and SPF from MAIL FROM on. Check and Inbound do all of it
// at once for a whole message. r should be a dnsresolver.Cache, which
// keeps answers for their TTL. Every query is bounded by LookupTimeout.
package mailauth

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/dmarc"

	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/message"
)

// Resolver is the DNS the checks use.
type Resolver = dnsresolver.Resolver

// maxSignatures bounds the DKIM signatures verified per message: each
// costs a DNS query and a public-key operation (RFC 6376 §6.1 lets a
// verifier limit them).
const maxSignatures = 5

// SPFResult is the outcome of the SPF check.
type SPFResult struct {
	Result   spf.Result // pass, fail, softfail, neutral, none, temperror, permerror
	Domain   string     // the domain checked: of MAIL FROM, or HELO for a null sender
	Identity string     // "mailfrom" or "helo"
	Err      error
}

// DKIMResult is the outcome of one DKIM signature.
type DKIMResult struct {
	Result     string // pass, fail, temperror, permerror
	Domain     string // d=
	Identifier string // i=
	Err        error
}

// Action is what DMARC asks the receiver to do with a message.
type Action int

// Actions, from the p= (or sp=) tag of a failing message's domain.
const (
	ActionNone Action = iota
	ActionQuarantine
	ActionReject
)

func (a Action) String() string {
	return [...]string{"none", "quarantine", "reject"}[a]
}

// DMARCResult is the outcome of DMARC evaluation.
type DMARCResult struct {
	Result     string // pass, fail, none, temperror, permerror
	FromDomain string
	Policy     string // the applicable published policy (p= or sp=)
	Action     Action // ActionNone unless Result is "fail" (after pct=)
	Reason     string
}

// Result is the outcome of Check.
type Result struct {
	SPF   SPFResult
	DKIM  []DKIMResult // empty: the message has no signature
	DMARC DMARCResult
	ARC   ARCResult // the ARC chain (RFC 8617), arc.go
}

// Check runs SPF for the connection, verifies the message's DKIM
// signatures and evaluates DMARC for its From domain. msg is the whole
// message (header and body, CRLF). DNS goes through r only. A header
// section beyond message.ReadHeader's limits is not verified (DKIM
// permerror, no DMARC identity).
func Check(ctx context.Context, r Resolver, remoteIP net.IP, helo, mailFrom string, msg []byte) Result {
	spf := StartSPF(ctx, r, remoteIP, helo, mailFrom)
	hdr, err := message.ReadHeader(msg, message.HeaderLimits{})
	if err != nil {
		return Result{SPF: spf.Wait(ctx), DKIM: []DKIMResult{{Result: "permerror", Err: err}},
			DMARC: DMARCResult{Result: "none", Reason: "header section over the limits"}}
	}
	return Verify(ctx, r, spf, hdr, msg)
}

func checkSPF(ctx context.Context, r spf.DNSResolver, ip net.IP, helo, mailFrom string) SPFResult {
	sender, identity := mailFrom, "mailfrom"
	if sender == "" {
		// RFC 7208 §2.4: for a null reverse-path, check
		// "postmaster@" the HELO name.
		sender, identity = "postmaster@"+helo, "helo"
	}
	domain := sender[strings.LastIndexByte(sender, '@')+1:]
	out := SPFResult{Domain: strings.ToLower(domain), Identity: identity}
	out.Result, out.Err = spf.CheckHostWithSender(ip, helo, sender,
		spf.WithResolver(r), spf.WithContext(ctx))
	return out
}

var errTemp = errors.New("DNS temporary failure")

// txtResolver is the one lookup DMARC needs (Lookups, or a Resolver).
type txtResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

func lookupRecord(ctx context.Context, r txtResolver, domain string) (*dmarc.Record, error) {
	txts, err := r.LookupTXT(ctx, "_dmarc."+domain)
	if err != nil {
		if dnsresolver.IsNotFound(err) {
			return nil, dmarc.ErrNoPolicy
		}
		return nil, errTemp
	}
	for _, t := range txts {
		// RFC 7489 §6.6.3: records not starting with v=DMARC1 are ignored.
		if !strings.HasPrefix(strings.TrimSpace(t), "v=DMARC1") {
			continue
		}
		p := parsedPolicies.get(t)
		if p.err != nil {
			continue // an invalid record counts as none
		}
		return p.rec, nil
	}
	return nil, dmarc.ErrNoPolicy
}

type policyEntry struct {
	rec *dmarc.Record // shared: read, never changed
	err error
}

// parsedPolicies keeps parsed DMARC records by their text, as parsedKeys
// does DKIM keys: behind the DNS cache, the same record of a sender
// comes with every message of a burst.
var parsedPolicies = newParseCache(keyCacheSize, maxCachedRecord, func(txt string) policyEntry {
	rec, err := dmarc.Parse(txt)
	return policyEntry{rec, err}
})

// aligned compares an authenticated domain with the From domain (RFC 7489
// §3.1): strict wants equality, relaxed the same organizational domain.
func aligned(d, from string, mode dmarc.AlignmentMode) bool {
	d, from = strings.ToLower(d), strings.ToLower(from)
	if mode == dmarc.AlignmentStrict {
		return d == from
	}
	return d != "" && OrgDomain(d) == OrgDomain(from)
}

// evalDMARC applies the looked-up policy of the From domain to the SPF
// and DKIM results (RFC 7489 §6.6).
func evalDMARC(from string, pol policyLookup, s SPFResult, ds []DKIMResult) DMARCResult {
	out := DMARCResult{FromDomain: from}
	rec, org, err := pol.rec, pol.org, pol.err
	switch {
	case errors.Is(err, dmarc.ErrNoPolicy):
		out.Result = "none"
		return out
	case err != nil:
		out.Result = "temperror"
		return out
	}
	out.Policy = string(rec.Policy)
	if org && from != OrgDomain(from) && rec.SubdomainPolicy != "" {
		out.Policy = string(rec.SubdomainPolicy)
	}
	// RFC 7489 §4.2: pass if SPF or DKIM passes and is aligned.
	if s.Result == spf.Pass && aligned(s.Domain, from, rec.SPFAlignment) {
		out.Result, out.Reason = "pass", "spf aligned"
		return out
	}
	for _, d := range ds {
		if d.Result == "pass" && aligned(d.Domain, from, rec.DKIMAlignment) {
			out.Result, out.Reason = "pass", "dkim aligned"
			return out
		}
	}
	out.Result = "fail"
	out.Action = action(out.Policy, rec.Percent)
	return out
}

// action applies pct= (RFC 7489 §6.6.4): outside the sampled percentage,
// the next weaker policy applies.
func action(policy string, pct *int) Action {
	a := ActionNone
	switch policy {
	case dmarc.PolicyReject:
		a = ActionReject
	case dmarc.PolicyQuarantine:
		a = ActionQuarantine
	}
	if pct != nil && *pct < 100 && rand.IntN(100) >= *pct && a > ActionNone {
		a--
	}
	return a
}

// Header returns the Authentication-Results field (RFC 8601 §2.2) naming
// hostname as the authentication service, CRLF-terminated, ready to be
// prepended to the message. The results and their properties are built
// on the stack (authres.go formats them); the field is the one
// allocation.
func (r Result) Header(hostname string) string {
	var rbuf [8]resInfo
	var pbuf [12]resProp
	rs, ps := rbuf[:0], pbuf[:0]
	add := func(method, value, reason string, props ...resProp) {
		ps = append(ps, props...)
		rs = append(rs, resInfo{method: method, value: value, reason: reason, nprops: len(props)})
	}
	key := "smtp.mailfrom"
	if r.SPF.Identity == "helo" {
		key = "smtp.helo"
	}
	add("spf", string(r.SPF.Result), "", resProp{key, r.SPF.Domain})
	if len(r.DKIM) == 0 {
		add("dkim", "none", "")
	}
	for _, d := range r.DKIM {
		add("dkim", d.Result, "", resProp{"header.d", d.Domain}, resProp{"header.i", d.Identifier})
	}
	reason := ""
	if r.DMARC.Result == "fail" {
		reason = "p=" + r.DMARC.Policy
	}
	add("dmarc", r.DMARC.Result, reason, resProp{"header.from", r.DMARC.FromDomain})
	if a := r.ARC; a.Result != "" {
		// The two properties RFC 8617 §10.1 registers for arc=.
		// header.oldest-pass is "the instance id of the oldest
		// validating AMS or 0 if they all pass" (§5.2 step 5). It is
		// written only when an older AMS no longer verifies: 0 says
		// what the absence says, and go-msgauth's parser (ours in
		// Seal among them) rejects a 0.
		var ip, oldest string
		if a.RemoteIP != nil {
			ip = a.RemoteIP.String()
		}
		if a.OldestPass > 0 {
			oldest = strconv.Itoa(a.OldestPass)
		}
		add("arc", a.Result, "", resProp{"smtp.remote-ip", ip}, resProp{"header.oldest-pass", oldest})
	}
	var vb [512]byte
	return foldField(appendAuthResults(vb[:0], hostname, rs, ps))
}
