package delivery

import (
	"context"
	"strings"

	"github.com/youju/youju/internal/store"
)

// SRSReverser is the Sender Rewriting Scheme as delivery uses it
// (internal/srs.Rewriter): Forward rewrites the envelope sender of mail an
// alias sends on to another domain, Reverse checks the SRS address a
// bounce comes back to and names where it goes.
type SRSReverser interface {
	Forward(sender string) string
	Reverse(addr string) (string, error)
}

// ARCSealer adds an ARC set (RFC 8617) to a message we forward
// (mailauth.Sealer): the next hop then sees what we verified, when SPF
// (our SRS sender) and DMARC no longer tell. An error means the message
// goes on unsealed.
type ARCSealer interface {
	Seal(msg []byte) ([]byte, error)
}

// seal is msg with our ARC set, or msg as it is when it cannot be sealed
// (no sealer, no verdict of ours to vouch for, a broken or full chain):
// forwarding never fails for want of a seal.
func (d *Deliverer) seal(env *Envelope, msg []byte) []byte {
	if d.ARC == nil {
		return msg
	}
	out, err := d.ARC.Seal(msg)
	if err != nil {
		d.log().Debug("forwarding without ARC seal", "id", env.ID, "err", err)
		return msg
	}
	return out
}

// ErrBadSRS: an SRS address of ours that is forged, altered or too old
// (RFC 3463 5.1.1: no such mailbox). Refusing at RCPT keeps us from being
// a relay for bounces nobody asked for (backscatter).
var ErrBadSRS = &Error{Code: 550, Enhanced: [3]int{5, 1, 1}, Msg: "Invalid or expired SRS address"}

// isSRSLocal reports whether a local part has the SRS0=/SRS1= form.
func isSRSLocal(local string) bool {
	if len(local) < 5 {
		return false
	}
	p := strings.ToUpper(local[:4])
	return (p == "SRS0" || p == "SRS1") && strings.ContainsRune("=+-", rune(local[4]))
}

// reverseSRS resolves an SRS address of a local domain: a valid one goes
// back to the address it stands for (remote, allowed without
// authentication, as an alias target is), an invalid one is refused. ok
// is false for an address that is not SRS.
func (r *Resolver) reverseSRS(ctx context.Context, addr Address) (Resolution, error, bool) {
	if r.SRS == nil || !isSRSLocal(addr.Local) {
		return Resolution{}, nil, false
	}
	orig, err := r.SRS.Reverse(addr.String())
	if err != nil {
		return Resolution{}, ErrBadSRS.with(err), true
	}
	o, err := ParseAddress(orig)
	if err != nil {
		return Resolution{}, ErrBadSRS.with(err), true
	}
	local, err := r.isLocal(ctx, o.Domain)
	if err != nil {
		return Resolution{}, err, true
	}
	if local {
		// We never sign our own senders, but a local address is
		// resolved as usual rather than sent out and back (by a walk,
		// not Resolve: an SRS address inside is not unwrapped again).
		w := walk{r: r, ctx: ctx, seen: map[string]bool{}, accts: map[store.AccountID]bool{}, remote: map[string]bool{}}
		if err := w.resolve(o, 0); err != nil {
			return Resolution{}, err, true
		}
		if len(w.res.Local) == 0 && len(w.res.Remote) == 0 {
			return Resolution{}, ErrUnknownUser, true
		}
		return w.res, nil, true
	}
	return Resolution{Remote: []string{o.String()}}, nil, true
}

// enqueueRemote hands the remote targets to the queue. Those reached
// through an alias of ours (forwarded, not addressed so by the sender)
// travel with an SRS envelope sender when the sender's domain is not
// ours, so that SPF at the next hop passes and bounces come back to us,
// and with our ARC seal on top; the message itself is not otherwise
// touched (DKIM stays valid).
func (d *Deliverer) enqueueRemote(ctx context.Context, env *Envelope, remote []string, msg []byte) error {
	srs := d.Resolver.SRS
	if srs == nil || env.From == "" || d.senderIsLocal(ctx, env.From) {
		return d.Queue.Enqueue(ctx, env.From, remote, msg, env.remoteDSN(remote))
	}
	var direct, forwarded []string
	for _, a := range remote {
		if env.addressed(a) {
			direct = append(direct, a)
		} else {
			forwarded = append(forwarded, a)
		}
	}
	if len(direct) > 0 {
		if err := d.Queue.Enqueue(ctx, env.From, direct, msg, env.remoteDSN(direct)); err != nil {
			return err
		}
	}
	if len(forwarded) > 0 {
		from := srs.Forward(env.From)
		d.log().Info("forwarding with SRS", "id", env.ID, "from", env.From, "srs", from, "rcpts", len(forwarded))
		return d.Queue.Enqueue(ctx, from, forwarded, d.seal(env, msg), env.remoteDSN(forwarded))
	}
	return nil
}

// addressed reports whether a remote address is itself one of env's
// recipients (relayed for an authenticated sender) rather than reached
// through an alias.
func (env *Envelope) addressed(a string) bool {
	for _, r := range env.Rcpts {
		if strings.EqualFold(r.Address, a) {
			return true
		}
	}
	return false
}

// senderIsLocal reports whether from is in one of our domains: our SPF
// covers it already, and a rewrite would only hide it.
func (d *Deliverer) senderIsLocal(ctx context.Context, from string) bool {
	a, err := ParseAddress(from)
	if err != nil {
		return false
	}
	ok, err := d.Resolver.isLocal(ctx, a.Domain)
	return err == nil && ok
}
