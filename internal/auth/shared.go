package auth

import (
	"context"
	"net/netip"
	"time"

	"github.com/youju/youju/internal/store"
)

// Login-failure counters shared by several nodes (issue 13). Behind a load
// balancer, a guesser's attempts are spread over the nodes; with counters
// in each process alone it would get MaxFailuresPerPair guesses per node.
// When the store shares counters (store.ThrottleCounters, PostgreSQL), the
// doors of throttle.go — MaxFailuresPerPair per (network, account) and
// MaxFailuresPerIP per network — also count the failures of the other
// nodes. What stays per node: the tarpit's timing, the account-wide token
// bucket, attempts in flight and the repeated-password fingerprints (a
// keyed hash whose key never leaves the process). A failure is added to
// the shared counters only when the local limiter counted it (a new wrong
// password), so the rule "a phone retrying a stale password counts once"
// holds within a node; across nodes the same stale password may count
// once per node.

// sharedTimeout bounds one query of the shared counters; a store that does
// not answer in time leaves the decision to the local counters.
const sharedTimeout = 2 * time.Second

// sharedKeys are the keys of a (network, account) pair and of the network.
func sharedKeys(remote netip.Addr, acct string) []string {
	n := throttleNet(remote).String()
	return []string{"pair " + n + " " + acct, "net " + n}
}

// sharedRefused reports whether the other nodes' failures close a door on
// the attempt. An error leaves it open: the local limiter still applies.
func (l *limiter) sharedRefused(remote netip.Addr, acct string, known bool) bool {
	if l.opt.Shared == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	c, err := l.opt.Shared.Failures(ctx, sharedKeys(remote, acct), l.opt.Window)
	if err != nil || len(c) != 2 {
		return false
	}
	return c[0] >= l.opt.MaxFailuresPerPair || !known && c[1] >= l.opt.MaxFailuresPerIP
}

// sharedFinish adds a counted failure to the shared counters, or forgets
// the pair's after a success (the address's stay, as locally).
func (l *limiter) sharedFinish(remote netip.Addr, acct string, ok, counted bool) {
	if l.opt.Shared == nil || !ok && !counted {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	keys := sharedKeys(remote, acct)
	if ok {
		_ = l.opt.Shared.ResetFailures(ctx, keys[:1])
		return
	}
	_, _ = l.opt.Shared.AddFailures(ctx, keys, l.opt.Window)
}

// sharedCounters finds the shared counters of accts, if it is a store
// that has them (through wrappers such as store.Metered).
func sharedCounters(accts store.Accounts) store.ThrottleCounters {
	s, ok := accts.(store.Store)
	if !ok {
		return nil
	}
	tc, _ := store.As[store.ThrottleCounters](s)
	return tc
}
