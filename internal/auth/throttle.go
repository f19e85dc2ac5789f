package auth

import (
	"sync"
	"time"
)

// throttle counts failures per key within a sliding window. Keys are remote
// addresses ("ip:...") and accounts ("acct:..."), so that both a scanner
// trying many accounts and a botnet trying one account are slowed down.
type throttle struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]*failures
	swept   time.Time
}

type failures struct {
	count int
	first time.Time
}

// maxEntries bounds the memory an address-spraying attacker can make us use.
const maxEntries = 100_000

func newThrottle(max int, window time.Duration, now func() time.Time) *throttle {
	return &throttle{max: max, window: window, now: now, entries: make(map[string]*failures)}
}

// blocked reports whether any key is over its limit.
func (t *throttle) blocked(keys ...string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, k := range keys {
		if f, ok := t.entries[k]; ok {
			if now.Sub(f.first) >= t.window {
				delete(t.entries, k)
				continue
			}
			if f.count >= t.max {
				return true
			}
		}
	}
	return false
}

// fail records a failure for every key.
func (t *throttle) fail(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.sweep(now)
	for _, k := range keys {
		f, ok := t.entries[k]
		if !ok || now.Sub(f.first) >= t.window {
			if len(t.entries) >= maxEntries {
				continue
			}
			t.entries[k] = &failures{count: 1, first: now}
			continue
		}
		f.count++
	}
}

// succeed forgets the failures of the remote address, so that a user who
// mistyped once is not held back; the account counter stays, so that a
// success from one address does not reset a spray against the account.
func (t *throttle) succeed(key string) {
	t.mu.Lock()
	delete(t.entries, key)
	t.mu.Unlock()
}

// sweep drops expired entries at most once per window.
func (t *throttle) sweep(now time.Time) {
	if now.Sub(t.swept) < t.window {
		return
	}
	t.swept = now
	for k, f := range t.entries {
		if now.Sub(f.first) >= t.window {
			delete(t.entries, k)
		}
	}
}
