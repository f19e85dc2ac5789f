package mailauth

import (
	"context"
	"net"
	"slices"
	"strings"

	"github.com/youju/youju/internal/message"
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
	// Field is our Authentication-Results field (Result.Header), to be
	// prepended to the message.
	Field string
}

// Inbound is the whole check for a message received on port 25: it
// removes forged Authentication-Results fields claiming hostname, runs
// Check, prepends our Authentication-Results field, and applies the
// DMARC policy per policy (PolicyEnforce, PolicyJunk, PolicyOff; "" is
// PolicyEnforce). The returned message is what to store.
func Inbound(ctx context.Context, r Resolver, hostname, policy string, remoteIP net.IP, helo, mailFrom string, msg []byte) ([]byte, Verdict) {
	spf := StartSPF(ctx, r, remoteIP, helo, mailFrom)
	hdr, err := message.ReadHeader(msg, message.HeaderLimits{})
	if err != nil {
		v := Verdict{Result: Result{SPF: spf.Wait(ctx), DKIM: []DKIMResult{{Result: "permerror", Err: err}},
			DMARC: DMARCResult{Result: "none", Reason: "header section over the limits"}}}
		return prepend(finish(hostname, policy, v, StripForged(msg, hostname)))
	}
	lk := StartLookups(ctx, r)
	defer lk.Stop()
	return prepend(InboundVerify(ctx, hostname, policy, spf, lk, hdr, msg))
}

// prepend puts v.Field on top of msg.
func prepend(msg []byte, v Verdict) ([]byte, Verdict) {
	out := make([]byte, 0, len(v.Field)+len(msg))
	return append(append(out, v.Field...), msg...), v
}

// InboundVerify is Inbound for a message whose header the caller parsed
// (message.ReadHeader), whose SPF check it started at MAIL FROM and
// whose other queries it started with lk as the header arrived. The
// message it returns is msg without the forged fields (msg itself if
// there were none): the caller prepends v.Field when it adds its trace
// fields, so that the message is copied once.
func InboundVerify(ctx context.Context, hostname, policy string, spf *SPFCheck, lk *Lookups, hdr *message.Header, msg []byte) ([]byte, Verdict) {
	hdr, msg = stripForgedFields(hdr, msg, hostname)
	return finish(hostname, policy, Verdict{Result: verify(ctx, lk, spf, hdr, msg)}, msg)
}

func finish(hostname, policy string, v Verdict, msg []byte) ([]byte, Verdict) {
	switch policy {
	case PolicyOff:
	case PolicyJunk:
		v.Junk = v.DMARC.Action != ActionNone
	default:
		v.Reject = v.DMARC.Action == ActionReject
		v.Junk = v.DMARC.Action == ActionQuarantine
	}
	v.Field = v.Header(hostname)
	return msg, v
}

// stripForgedFields is StripForged on a parsed header: it returns the
// header without the forged fields and the message rebuilt from it.
func stripForgedFields(hdr *message.Header, msg []byte, hostname string) (*message.Header, []byte) {
	forged := func(f message.HeaderField) bool {
		return isAuthResults(f.Raw) && strings.EqualFold(authservID(f.Raw), hostname)
	}
	first := slices.IndexFunc(hdr.Fields, forged)
	if first < 0 {
		return hdr, msg // the usual case: nothing copied
	}
	keep := append(make([]message.HeaderField, 0, len(hdr.Fields)-1), hdr.Fields[:first]...)
	var out []byte
	for _, f := range hdr.Fields[first+1:] {
		if !forged(f) {
			keep = append(keep, f)
		}
	}
	end := headerEnd(hdr.Fields)
	for _, f := range keep {
		out = append(out, f.Raw...)
	}
	removed := end - len(out)
	out = append(out, msg[end:]...)
	return &message.Header{Fields: keep, Size: hdr.Size - removed, Continuations: hdr.Continuations}, out
}
