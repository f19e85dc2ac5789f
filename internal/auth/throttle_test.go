package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/youju/youju/internal/store"
)

// fakeClock is the clock of the throttling tests: Sleep advances it
// instead of waiting, and records each delay.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newClock() *fakeClock { return &fakeClock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	return ctx.Err()
}

// takeSleeps returns the delays since the last call.
func (c *fakeClock) takeSleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sleeps
	c.sleeps = nil
	return s
}

// fakeKnown is an in-memory store.KnownAddresses (the SQLite one is tested
// by internal/store/storetest).
type fakeKnown struct {
	mu   sync.Mutex
	last map[knownKey]time.Time
}

func (f *fakeKnown) RecordSignIn(_ context.Context, acct store.AccountID, p netip.Prefix, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last == nil {
		f.last = make(map[knownKey]time.Time)
	}
	f.last[knownKey{acct, p}] = at
	return nil
}

func (f *fakeKnown) KnownSince(_ context.Context, acct store.AccountID, p netip.Prefix, since time.Time) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.last[knownKey{acct, p}]
	return ok && !t.Before(since), nil
}

// cheapHash is an argon2id hash with test-sized parameters (8 KiB, one
// pass): VerifyPassword reads them from the string, so the tests that run
// thousands of verifications stay fast.
func cheapHash(t testing.TB, pw string) string {
	t.Helper()
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, 1, 8, 1, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=8,t=1,p=1$%s$%s", argon2.Version, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// office is three colleagues behind one NAT address.
func officeAccounts(t testing.TB) *fakeAccounts {
	f := &fakeAccounts{byAddr: map[string]store.Account{}, apps: map[store.AccountID][]store.AppPassword{}}
	users := []string{"director", "alice", "bob"}
	for i := range 24 {
		users = append(users, fmt.Sprint("newhire", i))
	}
	for i, u := range users {
		f.byAddr[u+"@example.test"] = store.Account{ID: store.AccountID(i + 1), Address: u + "@example.test",
			PasswordHash: cheapHash(t, u+"-pw"), AllowIMAP: true, AllowPOP3: true, AllowSMTP: true}
	}
	return f
}

func throttled(t *testing.T, clock *fakeClock, f *fakeAccounts, known *fakeKnown, opt Options) *Authenticator {
	opt.Now, opt.Sleep, opt.Known, opt.CacheTTL = clock.Now, clock.Sleep, known, -1
	return New(f, opt)
}

func login(a *Authenticator, user, pw string, from netip.Addr) error {
	_, err := a.Login(context.Background(), Request{Username: user + "@example.test", Password: pw, Remote: from})
	return err
}

// TestStalePhoneBehindNAT: a phone polling with the password its owner
// changed sends the same wrong password every minute for a day. It never
// gets locked out (the tarpit stays at its first step), and the rest of
// the office behind the same address, colleagues known there or new, is
// neither refused nor slowed down.
func TestStalePhoneBehindNAT(t *testing.T) {
	clock := newClock()
	a := throttled(t, clock, officeAccounts(t), &fakeKnown{}, Options{})
	nat := netip.MustParseAddr("203.0.113.10")
	for i := range 24 * 60 {
		if err := login(a, "alice", "alice-old-pw", nat); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("poll %d of the stale phone: %v", i, err)
		}
		for _, d := range clock.takeSleeps() {
			if d > time.Second {
				t.Fatalf("poll %d: delayed %s; a repeated password must not grow the tarpit", i, d)
			}
		}
		if i%60 == 0 {
			// Colleagues who signed in from the office before, and one
			// who never did (the address limits apply to her).
			for _, u := range []string{"director", "bob", fmt.Sprint("newhire", i/60)} {
				if err := login(a, u, u+"-pw", nat); err != nil {
					t.Fatalf("minute %d: %s behind the same NAT: %v", i, u, err)
				}
				if s := clock.takeSleeps(); len(s) != 0 {
					t.Fatalf("minute %d: %s was delayed %v", i, u, s)
				}
			}
		}
		clock.Advance(time.Minute)
	}
	// The owner fixes the phone: it signs in at once.
	if err := login(a, "alice", "alice-pw", nat); err != nil {
		t.Fatalf("the phone with the new password: %v", err)
	}
}

// TestRepeatedPasswordCountsOnce: the same wrong password again and again
// counts as one failure; each new one counts and grows the tarpit (1 s,
// 2 s, 4 s, ... MaxDelay), until the (address, account) pair is refused.
func TestRepeatedPasswordCountsOnce(t *testing.T) {
	clock := newClock()
	a := throttled(t, clock, officeAccounts(t), &fakeKnown{}, Options{MaxFailuresPerPair: 6, MaxDelay: 5 * time.Second})
	from := netip.MustParseAddr("198.51.100.7")
	for range 20 {
		if err := login(a, "alice", "same-wrong", from); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("repeated password: %v", err)
		}
	}
	clock.takeSleeps()
	var delays []time.Duration
	for i := 2; i <= 6; i++ {
		if err := login(a, "alice", fmt.Sprint("guess", i), from); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("distinct password %d: %v", i, err)
		}
		delays = append(delays, clock.takeSleeps()...)
	}
	want := []time.Duration{2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second}
	if fmt.Sprint(delays) != fmt.Sprint(want) {
		t.Errorf("tarpit delays %v, want %v", delays, want)
	}
	// Six distinct failures: the pair is refused, even with the right
	// password, without a verification.
	if err := login(a, "alice", "alice-pw", from); !errors.Is(err, ErrThrottled) {
		t.Fatalf("after 6 distinct failures: %v", err)
	}
	// Other accounts from the address, and the account from elsewhere,
	// are not.
	if err := login(a, "bob", "bob-pw", from); err != nil {
		t.Fatalf("another account from the address: %v", err)
	}
	if err := login(a, "alice", "alice-pw", netip.MustParseAddr("192.0.2.50")); err != nil {
		t.Fatalf("the account from another address: %v", err)
	}
	clock.Advance(15 * time.Minute) // the default Window
	if err := login(a, "alice", "alice-pw", from); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// TestDistributedGuessing: a botnet tries one account from a new address
// for every guess, every 2 seconds for 5 hours (9,000 guesses). The
// password is verified at most AccountBurst + AccountGuessesPerHour × 5
// times: the rate stated in docs/configuration.md.
func TestDistributedGuessing(t *testing.T) {
	clock := newClock()
	var verified atomic.Int64
	a := throttled(t, clock, officeAccounts(t), &fakeKnown{}, Options{MaxDelay: -1, OnVerify: func(d int) {
		if d > 0 {
			verified.Add(1)
		}
	}})
	const hours = 5
	refused := 0
	for i := range hours * 3600 / 2 {
		bot := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		err := login(a, "director", fmt.Sprint("guess", i), bot)
		switch {
		case errors.Is(err, ErrThrottled):
			refused++
		case !errors.Is(err, ErrInvalidCredentials):
			t.Fatalf("guess %d: %v", i, err)
		}
		clock.Advance(2 * time.Second)
	}
	limit := int64(10 + 100*hours)
	if n := verified.Load(); n > limit || n < limit-20 {
		t.Fatalf("%d guesses verified in %d hours (%d refused), want at most %d and about as many", n, hours, refused, limit)
	}
}

// TestKnownAddressKeepsWorking: while a botnet has used up the account's
// guesses, its owner still signs in from the office where she signed in
// last week, from another address of the office's /24 (the NAT pool
// rotates), and after a restart of the server (the networks are in the
// store). From a network she never used she has to wait, like the
// botnet: the price of not locking her out anywhere else.
func TestKnownAddressKeepsWorking(t *testing.T) {
	clock := newClock()
	f, known := officeAccounts(t), &fakeKnown{}
	a := throttled(t, clock, f, known, Options{})
	office := netip.MustParseAddr("198.51.100.20")
	if err := login(a, "director", "director-pw", office); err != nil {
		t.Fatal(err)
	}
	clock.Advance(7 * 24 * time.Hour)
	for i := range 500 {
		bot := netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)})
		login(a, "director", fmt.Sprint("guess", i), bot)
	}
	if err := login(a, "director", "director-pw", netip.MustParseAddr("192.0.2.99")); !errors.Is(err, ErrThrottled) {
		t.Fatalf("the account is not under the rate limit after 500 guesses (%v): the test shows nothing", err)
	}
	a = throttled(t, clock, f, known, Options{}) // restart: the counters are gone, the known networks are not
	for i := range 500 {
		login(a, "director", fmt.Sprint("again", i), netip.AddrFrom4([4]byte{10, 8, byte(i >> 8), byte(i)}))
	}
	clock.takeSleeps()
	for i, ip := range []string{"198.51.100.20", "198.51.100.77", "198.51.100.20"} {
		if err := login(a, "director", "director-pw", netip.MustParseAddr(ip)); err != nil {
			t.Fatalf("sign-in %d from the office (%s) under attack: %v", i, ip, err)
		}
	}
	if s := clock.takeSleeps(); len(s) != 0 {
		t.Errorf("the office's sign-ins were delayed %v", s)
	}
	// Her typo from the office is not refused either, only tarpitted.
	if err := login(a, "director", "director-typo", office); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("a typo from the office: %v", err)
	}
	// 30 days without signing in from the office: it is unknown again.
	clock.Advance(31 * 24 * time.Hour)
	for i := range 20 {
		login(a, "director", fmt.Sprint("later", i), netip.AddrFrom4([4]byte{10, 7, 0, byte(i)}))
	}
	if err := login(a, "director", "director-pw", office); !errors.Is(err, ErrThrottled) {
		t.Fatalf("an office unused for 31 days is still trusted: %v", err)
	}
}

// TestWaitEndsWithConnection: a tarpitted attempt whose connection goes
// away returns at once (no goroutine sleeps on for a gone client), as a
// temporary failure, and counts nothing; so does one waiting for a
// verification slot.
func TestWaitEndsWithConnection(t *testing.T) {
	clock := newClock()
	a := New(officeAccounts(t), Options{MaxDelay: time.Hour, MaxFailuresPerPair: 100, AccountBurst: 100, CacheTTL: -1, Now: clock.Now,
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}) // the clock stands still
	from := netip.MustParseAddr("198.51.100.7")
	for i := range 12 {
		if err := login(a, "alice", fmt.Sprint("g", i), from); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	// Now the real Sleep: a wait that did not end with the context would
	// hang the test.
	a.opt.Sleep = sleep
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	// The next attempt would wait about 34 minutes.
	_, err := a.Login(gone, Request{Username: "alice@example.test", Password: "alice-pw", Remote: from})
	if !errors.Is(err, ErrThrottled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("attempt of a closed connection: %v", err)
	}
	p := a.lim.pairs[pairKey{throttleNet(from), "alice@example.test"}]
	if p.pending != 0 {
		t.Fatalf("%d attempts still pending", p.pending)
	}

	v := newVerifySlots(1, 1)
	release, err := v.acquire(context.Background(), from)
	if err != nil {
		t.Fatal(err)
	}
	other := netip.MustParseAddr("192.0.2.1")
	if _, err := v.acquire(gone, other); !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting for the global slot: %v", err)
	}
	if _, err := v.acquire(gone, from); !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting for the address's slot: %v", err)
	}
	release()
	release, err = v.acquire(context.Background(), other)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if len(v.addrs) != 0 {
		t.Fatalf("%d addresses left in the slot map", len(v.addrs))
	}
}

// TestPendingBalanced: a success resets its pair while other attempts of
// the pair are in flight; they, and attempts reserved after it, still
// leave nothing pending.
func TestPendingBalanced(t *testing.T) {
	clock := newClock()
	a := throttled(t, clock, officeAccounts(t), &fakeKnown{}, Options{})
	from := netip.MustParseAddr("198.51.100.7")
	reserve := func() *ticket {
		t.Helper()
		tk, err := a.lim.reserve(from, "alice@example.test", false, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	t1, t2 := reserve(), reserve()
	t1.finish(true)
	t3 := reserve()
	t2.finish(false)
	t3.finish(false)
	t4 := reserve()
	t4.cancel()
	p := a.lim.pairs[pairKey{throttleNet(from), "alice@example.test"}]
	if p.pending != 0 || p.fails != 2 {
		t.Fatalf("pair: %d pending, %d failures; want 0 and 2", p.pending, p.fails)
	}
	if ad := a.lim.addrs[throttleNet(from)]; ad.pending != 0 || ad.fails != 2 {
		t.Fatalf("address: %d pending, %d failures; want 0 and 2", ad.pending, ad.fails)
	}
}
