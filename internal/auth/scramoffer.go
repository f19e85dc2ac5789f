package auth

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// scramRecheck is how long a decision to offer SCRAM or not is kept before
// the store is asked again: cheap enough (one count), soon enough that
// the last password given keys makes SCRAM appear within half a minute.
const scramRecheck = 30 * time.Second

// scramOffer caches whether SCRAM is offered at all. SCRAM is offered only
// once every password of the store has SCRAM keys: a client that picks the
// strongest mechanism it is offered (mutt and mbsync through Cyrus SASL,
// msmtp through GNU SASL) does not fall back to PLAIN when SCRAM fails, so
// offering SCRAM to an account whose password predates its keys would
// lock that client out after an upgrade of youju. Until then those
// clients use PLAIN, whose first success adds the keys (upgradeSCRAM).
type scramOffer struct {
	ready   atomic.Bool
	checked atomic.Int64 // Unix ns of the last answer from the store; 0: ask
	mu      sync.Mutex   // one caller asks the store at a time
}

// offerSCRAM reports whether SCRAM mechanisms are advertised now. Without
// an Options.SCRAMReady hook every password is taken to have keys.
func (a *Authenticator) offerSCRAM() bool {
	if a.opt.SCRAMReady == nil {
		return true
	}
	now := a.opt.Now().UnixNano()
	if c := a.scram.checked.Load(); c != 0 && now-c < int64(scramRecheck) {
		return a.scram.ready.Load()
	}
	if !a.scram.mu.TryLock() {
		return a.scram.ready.Load() // another connection is asking
	}
	defer a.scram.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if ok, err := a.opt.SCRAMReady(ctx); err == nil {
		a.scram.ready.Store(ok)
		a.scram.checked.Store(now)
	}
	return a.scram.ready.Load()
}

// scramChanged makes the next offerSCRAM ask the store again: a password
// just got its keys, and it may have been the last one without.
func (a *Authenticator) scramChanged() { a.scram.checked.Store(0) }
