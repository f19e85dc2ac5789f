package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"sync"
	"time"
)

// Login throttling, after Dovecot's auth_penalty and what large providers
// do: slow guessing down without letting anyone lock a user out.
//
//   - Counters are kept per (address, account) ("pair") and per address.
//     An address is an IPv4 address or an IPv6 /64: one IPv6 host usually
//     owns a whole /64, so counting /128s would cost an attacker nothing.
//   - Only distinct wrong passwords count: a phone retrying the password
//     its owner just changed sends the same one each time, and that must
//     not slow down (or lock out) the colleagues behind the same NAT.
//   - A failure delays its own answer and the next attempt of the pair by
//     1 s, 2 s, 4 s, ... up to MaxDelay (a tarpit) rather than shutting a
//     door; a door (ErrThrottled) only closes on the pair after
//     MaxFailuresPerPair distinct failures, and on the address after
//     MaxFailuresPerIP, and the address door never closes for an account
//     that signed in from that network in the last KnownFor.
//   - The account-wide limit, a token bucket of AccountGuessesPerHour with
//     a burst of AccountBurst, counts only attempts from networks the
//     account is not known at, so that guesses from the whole internet
//     stay under the rate while the owner's known networks keep working.
//   - Every attempt is reserved (counted as pending) before its password is
//     verified, so that concurrent attempts see each other, and at most
//     MaxVerificationsPerIP argon2id runs per address and MaxVerifications
//     in all run at once (see verifySlots).
//
// Counters forget after Window without a new failure.
type limiter struct {
	opt    *Options
	secret [32]byte // keys the password fingerprints; never leaves the process

	mu    sync.Mutex
	pairs map[pairKey]*counter
	addrs map[netip.Prefix]*counter
	accts map[string]time.Time // account -> token bucket's theoretical arrival time (GCRA)
	swept time.Time
}

type pairKey struct {
	net  netip.Prefix
	acct string // canonical address
}

// recentPasswords is how many wrong-password fingerprints a pair keeps.
const recentPasswords = 8

type counter struct {
	fails   int       // distinct failures since the counter was last quiet for Window
	pending int       // attempts reserved and not yet finished
	last    time.Time // last counted failure
	next    time.Time // the next attempt waits until then (the tarpit)
	recent  [recentPasswords]uint64
	nrecent int
}

// maxEntries bounds the memory an address-spraying attacker can make each
// map use. A full map refuses attempts that would need a new entry from
// unknown networks (fail closed) and lets known ones through uncounted.
const maxEntries = 100_000

func newLimiter(opt *Options) *limiter {
	l := &limiter{opt: opt, pairs: make(map[pairKey]*counter), addrs: make(map[netip.Prefix]*counter), accts: make(map[string]time.Time)}
	if _, err := rand.Read(l.secret[:]); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	return l
}

// throttleNet is the network counted as one address: the IPv4 address, or
// the IPv6 /64. The zero Addr (remote unknown) gives the zero Prefix, one
// shared counter.
func throttleNet(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	switch {
	case a.Is4():
		return netip.PrefixFrom(a, 32)
	case a.Is6():
		p, _ := a.Prefix(64)
		return p
	}
	return netip.Prefix{}
}

// knownNet is the network remembered as the place an account signed in
// from: the IPv4 /24 or the IPv6 /64. Carrier-grade and office NAT pools
// hand a client a different address of the same /24 from one connection to
// the next, and privacy addresses rotate within the /64; a /24 is still
// small enough that an attacker rarely shares it with the victim, and even
// then only the account-wide bucket is waived, not the pair and address
// counters.
func knownNet(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	switch {
	case a.Is4():
		p, _ := a.Prefix(24)
		return p
	case a.Is6():
		p, _ := a.Prefix(64)
		return p
	}
	return netip.Prefix{}
}

// fingerprint is a keyed hash of a password tried against an account,
// truncated to 64 bits: enough to tell a repeated password from a new one,
// useless to anyone reading the process's memory without the secret, and
// never the password itself.
func (l *limiter) fingerprint(acct, pw string) uint64 {
	m := hmac.New(sha256.New, l.secret[:])
	m.Write([]byte(acct))
	m.Write([]byte{0})
	m.Write([]byte(pw))
	return binary.BigEndian.Uint64(m.Sum(nil))
}

// tarpit is the delay after n counted failures: 0, 1 s, 2 s, 4 s, ... up
// to MaxDelay.
func (l *limiter) tarpit(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	if n > 30 {
		return l.opt.MaxDelay
	}
	return min(time.Second<<(n-1), l.opt.MaxDelay)
}

// ticket is one reserved attempt; finish or cancel it exactly once.
type ticket struct {
	l       *limiter
	pair    pairKey
	addr    netip.Prefix
	known   bool
	fp      uint64
	hasFP   bool
	charged bool          // took a token of the account's bucket
	wait    time.Duration // how long to wait before verifying
	remote  netip.Addr
	counted bool // finish counted a failure (shared.go adds it for the other nodes)
}

// reserve books an attempt by acct (canonical) from remote, or refuses it
// with ErrThrottled. known says whether acct signed in from remote's
// network lately. fp is the password's fingerprint when there is one
// (hasFP).
func (l *limiter) reserve(remote netip.Addr, acct string, known bool, fp uint64, hasFP bool) (*ticket, error) {
	return l.reserveCharged(remote, acct, known, !known, fp, hasFP)
}

// reserveCharged is reserve where charge says whether the attempt takes
// a token of acct's bucket (reserve: when not known).
func (l *limiter) reserveCharged(remote netip.Addr, acct string, known, charge bool, fp uint64, hasFP bool) (*ticket, error) {
	if l.sharedRefused(remote, acct, known) {
		return nil, ErrThrottled // the other nodes' failures (shared.go)
	}
	now := l.opt.Now()
	t := &ticket{l: l, pair: pairKey{throttleNet(remote), acct}, addr: throttleNet(remote), known: known, fp: fp, hasFP: hasFP, remote: remote}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	p, a := entry(l.pairs, t.pair, now, l.opt.Window), entry(l.addrs, t.addr, now, l.opt.Window)
	if (p == nil || a == nil) && !known {
		return nil, ErrThrottled // maps full: see maxEntries
	}
	if p != nil && p.fails+p.pending >= l.opt.MaxFailuresPerPair {
		return nil, ErrThrottled
	}
	if !known && a.fails+a.pending >= l.opt.MaxFailuresPerIP {
		return nil, ErrThrottled
	}
	if charge {
		if !l.take(acct, now) {
			return nil, ErrThrottled
		}
		t.charged = true
	}
	if p != nil {
		p.pending++
		t.wait = max(t.wait, p.next.Sub(now))
	}
	if a != nil {
		a.pending++
		if !known {
			t.wait = max(t.wait, a.next.Sub(now))
		}
	}
	return t, nil
}

// entry returns m's entry for k, creating it, or nil if m is full.
func entry[K comparable](m map[K]*counter, k K, now time.Time, window time.Duration) *counter {
	c, ok := m[k]
	if !ok {
		if len(m) >= maxEntries {
			return nil
		}
		c = &counter{}
		m[k] = c
	}
	c.expire(now, window)
	return c
}

// expire resets a counter quiet for window, so that a door opens after
// window whenever sweep last ran.
func (c *counter) expire(now time.Time, window time.Duration) {
	if c.quiet(now, window) {
		*c = counter{}
	}
}

// take takes a token from acct's bucket (GCRA: tat is when the bucket
// would be full again), or reports that it is empty.
func (l *limiter) take(acct string, now time.Time) bool {
	interval := time.Hour / time.Duration(l.opt.AccountGuessesPerHour)
	tat, ok := l.accts[acct]
	if !ok && len(l.accts) >= maxEntries {
		return false
	}
	tat = later(tat, now).Add(interval)
	if tat.Sub(now) > time.Duration(l.opt.AccountBurst)*interval {
		return false
	}
	l.accts[acct] = tat
	return true
}

// refund gives the token back: the attempt taught the guesser nothing (a
// repeated password) or was the owner's.
func (l *limiter) refund(acct string) {
	if tat, ok := l.accts[acct]; ok {
		l.accts[acct] = tat.Add(-time.Hour / time.Duration(l.opt.AccountGuessesPerHour))
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// cancel releases an attempt that was never answered (the connection went
// away while it waited): it counts as nothing.
func (t *ticket) cancel() {
	l := t.l
	l.mu.Lock()
	defer l.mu.Unlock()
	t.release()
	if t.charged {
		l.refund(t.pair.acct)
	}
}

func (t *ticket) release() {
	if p := t.l.pairs[t.pair]; p != nil {
		p.pending--
	}
	if a := t.l.addrs[t.addr]; a != nil {
		a.pending--
	}
}

// finish records the outcome and returns how long to delay the answer.
// A success forgets the pair's failures; the address's stay, so that a
// scanner cannot clear them by signing in to an account of its own. A
// wrong password already tried by the pair counts nothing more. The
// shared counters, if any, learn the outcome after the local ones.
func (t *ticket) finish(ok bool) time.Duration {
	d := t.finishLocal(ok)
	t.l.sharedFinish(t.remote, t.pair.acct, ok, t.counted)
	return d
}

func (t *ticket) finishLocal(ok bool) time.Duration {
	l := t.l
	now := l.opt.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	t.release()
	p, a := l.pairs[t.pair], l.addrs[t.addr]
	if ok {
		if p != nil {
			// Reset rather than delete: concurrent attempts of the pair
			// still count as its pending ones.
			p.fails, p.nrecent, p.last, p.next = 0, 0, time.Time{}, time.Time{}
		}
		if t.charged {
			l.refund(t.pair.acct)
		}
		return 0
	}
	if p == nil || a == nil {
		t.counted = true
		return l.tarpit(1) // not tracked (maps full): still slow it down
	}
	if t.hasFP && p.seen(t.fp) {
		// Counts nothing, but keeps the pair (and its fingerprints)
		// alive: a phone polling with a stale password keeps counting
		// as one failure for as long as it polls.
		p.last = later(p.last, now)
		if t.charged {
			l.refund(t.pair.acct)
		}
		return l.tarpit(p.fails)
	}
	if t.hasFP {
		p.remember(t.fp)
	}
	t.counted = true
	p.fails++
	p.last, p.next = now, now.Add(l.tarpit(p.fails))
	a.fails++
	a.last = now
	if d := l.tarpit(a.fails - addressGrace); d > 0 {
		a.next = now.Add(d)
	}
	return l.tarpit(p.fails)
}

// addressGrace is how many distinct failures an address has before its
// counter adds a delay of its own (for accounts not known there): an
// office's users mistype too.
const addressGrace = 5

func (c *counter) seen(fp uint64) bool {
	for _, x := range c.recent[:min(c.nrecent, recentPasswords)] {
		if x == fp {
			return true
		}
	}
	return false
}

func (c *counter) remember(fp uint64) {
	c.recent[c.nrecent%recentPasswords] = fp
	c.nrecent++
}

// sweep forgets counters quiet for Window, and full buckets, at most once
// per Window (once a second while a map is full: each sweep walks them
// all). A counter with attempts in flight stays.
func (l *limiter) sweep(now time.Time) {
	every := l.opt.Window
	if len(l.pairs) >= maxEntries || len(l.addrs) >= maxEntries || len(l.accts) >= maxEntries {
		every = min(every, time.Second) // full: try sooner, but not at every attempt
	}
	if now.Sub(l.swept) < every {
		return
	}
	l.swept = now
	for k, c := range l.pairs {
		if c.quiet(now, l.opt.Window) {
			delete(l.pairs, k)
		}
	}
	for k, c := range l.addrs {
		if c.quiet(now, l.opt.Window) {
			delete(l.addrs, k)
		}
	}
	for k, tat := range l.accts {
		if !tat.After(now) {
			delete(l.accts, k)
		}
	}
}

func (c *counter) quiet(now time.Time, window time.Duration) bool {
	return c.pending == 0 && now.Sub(c.last) >= window && !c.next.After(now)
}

// peek reports whether an attempt would be refused now, without reserving
// it: SCRAM refuses before its server-first-message.
func (l *limiter) peek(remote netip.Addr, acct string, known bool) bool {
	if l.sharedRefused(remote, acct, known) {
		return true
	}
	now := l.opt.Now()
	n := throttleNet(remote)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	if p := l.pairs[pairKey{n, acct}]; p != nil && !p.quiet(now, l.opt.Window) && p.fails+p.pending >= l.opt.MaxFailuresPerPair {
		return true
	}
	if known {
		return false
	}
	if a := l.addrs[n]; a != nil && !a.quiet(now, l.opt.Window) && a.fails+a.pending >= l.opt.MaxFailuresPerIP {
		return true
	}
	interval := time.Hour / time.Duration(l.opt.AccountGuessesPerHour)
	tat, ok := l.accts[acct]
	return ok && later(tat, now).Add(interval).Sub(now) > time.Duration(l.opt.AccountBurst)*interval
}
