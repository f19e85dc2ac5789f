package auth

import (
	"context"
	"net/netip"
	"time"
)

// Bearer tokens of the admin API (internal/web, docs/api.md) hold 256
// random bits: nobody guesses one. Their failures still count against
// the common throttle, per client address, because a client sending bad
// tokens is a scanner or a script with a revoked token, and an address
// that sends them is one that guesses: its failures close its door to
// password sign-ins as theirs close its door to tokens. The per-account
// bucket is not charged (no account is named; charging one shared name
// would let anyone stop every token), so a good token from another
// address keeps working.

// tokenAccount is the name token failures count under in the pair
// counters: not an address, so no account's counters share it.
const tokenAccount = "(api token)"

// CheckToken runs check, which looks a bearer token up and reports
// whether it is good, under the throttle of remote: ErrThrottled (check
// not run) once the address has failed too often, ErrInvalidCredentials
// when check says no (after the tarpit's delay, as a failed sign-in),
// check's error when the lookup itself failed (counted as nothing). A
// repeated bad token counts once, as a repeated wrong password does.
func (a *Authenticator) CheckToken(ctx context.Context, remote netip.Addr, token string, check func(context.Context) (bool, error)) error {
	err := a.checkToken(ctx, remote, token, check)
	countLogin("", err)
	return err
}

func (a *Authenticator) checkToken(ctx context.Context, remote netip.Addr, token string, check func(context.Context) (bool, error)) error {
	t, err := a.lim.reserveCharged(remote, tokenAccount, false, false, a.lim.fingerprint(tokenAccount, token), true)
	if err != nil {
		return err
	}
	if err := a.wait(ctx, t.wait); err != nil {
		t.cancel()
		return gaveUp(err)
	}
	ok, err := check(ctx)
	if err != nil {
		t.cancel()
		return err
	}
	if !ok {
		_ = a.wait(ctx, t.finish(false))
		return ErrInvalidCredentials
	}
	t.finish(true)
	return nil
}

// RetryAfter is how long a throttled client should wait before it tries
// again: the throttle's window, after which a quiet counter forgets.
func (a *Authenticator) RetryAfter() time.Duration { return a.opt.Window }
