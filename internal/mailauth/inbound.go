package mailauth

import (
	"context"
	"net"
)

// Policies for Inbound, as in the config's outbound.dmarc_policy.
const (
	PolicyEnforce = "enforce" // p=reject: refuse (550 5.7.1); p=quarantine: Junk
	PolicyJunk    = "junk"    // both to Junk
	PolicyOff     = "off"     // header only
)

// Verdict is what Inbound decided.
type Verdict struct {
	Result
	Reject bool // answer 550 5.7.1 and do not deliver
	Junk   bool // deliver to the recipients' Junk mailbox
}

// Inbound is the whole check for a message received on port 25: it
// removes forged Authentication-Results fields claiming hostname, runs
// Check, prepends our Authentication-Results field, and applies the
// DMARC policy per policy (PolicyEnforce, PolicyJunk, PolicyOff; "" is
// PolicyEnforce). The returned message is what to store.
func Inbound(ctx context.Context, r Resolver, hostname, policy string, remoteIP net.IP, helo, mailFrom string, msg []byte) ([]byte, Verdict) {
	msg = StripForged(msg, hostname)
	v := Verdict{Result: Check(ctx, r, remoteIP, helo, mailFrom, msg)}
	switch policy {
	case PolicyOff:
	case PolicyJunk:
		v.Junk = v.DMARC.Action != ActionNone
	default:
		v.Reject = v.DMARC.Action == ActionReject
		v.Junk = v.DMARC.Action == ActionQuarantine
	}
	h := v.Header(hostname)
	out := make([]byte, 0, len(h)+len(msg))
	return append(append(out, h...), msg...), v
}
