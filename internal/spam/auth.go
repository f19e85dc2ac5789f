package spam

import (
	"strings"

	"github.com/youju/youju/internal/mailauth"
)

// Scores of the authentication results (RFC 7208, RFC 6376, RFC 7489).
// An aligned pass is worth something; a failure adds to the suspicion
// (DMARC's own policy is applied by mailauth, not here).
const (
	ScoreSPFFail     = 2.0
	ScoreSPFSoftfail = 1.0
	ScoreDKIMFail    = 1.0
	ScoreDMARCPass   = -2.0
	ScoreDMARCFail   = 3.0
	ScoreSPFOrDKIMOK = -0.5
)

// AuthScore scores the results of mailauth.
func AuthScore(r mailauth.Result) Score {
	var s Score
	switch r.SPF.Result {
	case "fail":
		s.Add("SPF_FAIL", ScoreSPFFail)
	case "softfail":
		s.Add("SPF_SOFTFAIL", ScoreSPFSoftfail)
	}
	dkimPass := false
	for _, d := range r.DKIM {
		switch d.Result {
		case "pass":
			dkimPass = true
		case "fail":
			s.Add("DKIM_FAIL", ScoreDKIMFail)
		}
	}
	switch r.DMARC.Result {
	case "pass":
		s.Add("DMARC_PASS", ScoreDMARCPass)
	case "fail":
		s.Add("DMARC_FAIL", ScoreDMARCFail)
	default:
		if r.SPF.Result == "pass" || dkimPass {
			s.Add("AUTH_PASS", ScoreSPFOrDKIMOK)
		}
	}
	return s
}

// Authenticated reports whether the sender's domain is vouched for: SPF
// passed for the MAIL FROM domain, or a DKIM signature of that domain
// verified.
func Authenticated(r mailauth.Result, from string) bool {
	dom := senderDomain(from)
	if dom == "" {
		return false
	}
	if r.SPF.Result == "pass" && strings.EqualFold(r.SPF.Domain, dom) && r.SPF.Identity != "helo" {
		return true
	}
	for _, d := range r.DKIM {
		if d.Result == "pass" && strings.EqualFold(d.Domain, dom) {
			return true
		}
	}
	return false
}
