// Package auth checks passwords: argon2id hashes, app passwords, per-service
// switches, disabled accounts and failed-login throttling. Protocol
// front-ends call Login (directly, or through the SASL servers of SASL) and
// never look at hashes themselves.
package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/youju/youju/internal/metrics"
	"github.com/youju/youju/internal/store"
)

// Errors of Login. Front-ends map them to protocol replies; the text sent
// to clients never says whether the account exists.
var (
	ErrInvalidCredentials = errors.New("auth: invalid credentials")
	ErrThrottled          = errors.New("auth: too many failed logins, try later")
	ErrServiceDisabled    = errors.New("auth: service disabled for this account")
	ErrAccountDisabled    = errors.New("auth: account disabled")
)

// LoginError is a failed SASL login that carries the name tried, so that
// the mail log can say whose login failed even though the name travelled
// inside the SASL exchange, unseen by the front-end. It unwraps to the
// reason (ErrInvalidCredentials, ErrThrottled, a *SCRAMError...).
type LoginError struct {
	User string // the name the client tried, canonicalised
	Err  error
}

func (e *LoginError) Error() string { return e.Err.Error() }

func (e *LoginError) Unwrap() error { return e.Err }

// FailedUser returns the name a failed login tried, when err says it.
func FailedUser(err error) string {
	var le *LoginError
	if errors.As(err, &le) {
		return le.User
	}
	return ""
}

// withUser wraps a failed login's error with the name it tried.
func withUser(user string, err error) error {
	if err == nil || user == "" {
		return err
	}
	return &LoginError{User: user, Err: err}
}

// Request is one login attempt.
type Request struct {
	Username string // "user@domain", or "user" for the default domain
	Password string // the account password or one of its app passwords
	Service  store.Service
	Remote   netip.Addr // for throttling; zero if unknown
}

// Options configure an Authenticator. Zero fields take the defaults. The
// throttling fields are explained in throttle.go; docs/configuration.md
// states the guarantees they give.
type Options struct {
	// DefaultDomain completes a username without "@".
	DefaultDomain string
	// MaxFailuresPerIP distinct wrong passwords from one address (IPv4
	// address or IPv6 /64) within Window refuse that address's attempts
	// at accounts not known there (default 20).
	MaxFailuresPerIP int
	// MaxFailuresPerPair distinct wrong passwords for one account from
	// one address within Window refuse that pair (default 10).
	MaxFailuresPerPair int
	// AccountGuessesPerHour and AccountBurst bound the attempts at one
	// account from networks it is not known at, from the whole internet:
	// at most AccountBurst + AccountGuessesPerHour × hours (defaults 100
	// and 10).
	AccountGuessesPerHour int
	AccountBurst          int
	// Window: a counter forgets its failures after Window without a new
	// one (default 15 minutes).
	Window time.Duration
	// MaxDelay caps the tarpit, the delay of the answer to a failure and
	// of the next attempt: 1 s, 2 s, 4 s, ... (default 15 s; negative: no
	// delay, for tests).
	MaxDelay time.Duration
	// KnownFor is how long a network where an account signed in stays
	// known: the account-wide and per-address limits never apply there
	// (default 30 days).
	KnownFor time.Duration
	// Known keeps the known networks; nil: accts if it implements
	// store.KnownAddresses (a wrapped store hides it; pass the backend).
	Known store.KnownAddresses
	// Shared, if set, shares the failure counters with other nodes
	// (shared.go); nil: accts's, if it is a store that has them.
	Shared store.ThrottleCounters
	// MaxVerifications bounds the argon2id runs in flight (default
	// max(2, NumCPU), at most 256 MiB of them); MaxVerificationsPerIP
	// those of one address (default 2).
	MaxVerifications      int
	MaxVerificationsPerIP int
	// CacheTTL is how long a successful verification is remembered so that
	// clients polling every minute do not cost an argon2id run each time
	// (default 10 minutes; negative disables the cache).
	CacheTTL time.Duration
	// Now is the clock, and Sleep waits d or until ctx ends (tests make
	// both fake; Sleep's default is a timer).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// OnVerify, if set, is called with +1 before and -1 after each
	// argon2id run (tests count the runs in flight).
	OnVerify func(delta int)
	// SetSCRAM, if set, stores SCRAM keys for a password that has none
	// (set before youju kept them) at its first successful login with the
	// password in hand: store.Accounts has no such conditional write, the
	// SQLite store does (sqlite.Store.SetSCRAM). See upgradeSCRAM.
	SetSCRAM func(ctx context.Context, acct store.AccountID, appID int64, hash, scram string) error
	// SCRAMReady, if set, reports whether every password of the store (of
	// accounts and app passwords) has SCRAM keys; until it does, SCRAM is
	// not advertised (see scramOffer). The SQLite store answers it in one
	// query (sqlite.Store.SCRAMReady). Nil: every password has keys.
	SCRAMReady func(ctx context.Context) (bool, error)
}

// Authenticator checks logins against the accounts of a store. It is safe
// for concurrent use.
type Authenticator struct {
	accts store.Accounts
	opt   Options
	lim   *limiter
	slots *verifySlots

	mu       sync.Mutex
	cache    map[[32]byte]time.Time // verified (address, hash, password) -> expiry
	recorded map[knownKey]time.Time // sign-ins written to opt.Known lately

	// upgradeMu serializes upgradeSCRAM per account (striped by account
	// id), so that an account's keys share one salt while the burst of
	// logins after an upgrade of youju does not queue on one lock.
	upgradeMu [64]sync.Mutex

	scram scramOffer // whether SCRAM is advertised (scramoffer.go)
}

type knownKey struct {
	acct store.AccountID
	net  netip.Prefix
}

const maxCache = 10_000

// New returns an Authenticator over accts.
func New(accts store.Accounts, opt Options) *Authenticator {
	setDefault(&opt.MaxFailuresPerIP, 20)
	setDefault(&opt.MaxFailuresPerPair, 10)
	setDefault(&opt.AccountGuessesPerHour, 100)
	setDefault(&opt.AccountBurst, 10)
	setDefault(&opt.Window, 15*time.Minute)
	setDefault(&opt.KnownFor, 30*24*time.Hour)
	setDefault(&opt.MaxVerifications, defaultMaxVerifications())
	setDefault(&opt.MaxVerificationsPerIP, 2)
	if opt.MaxDelay == 0 {
		opt.MaxDelay = 15 * time.Second
	}
	opt.MaxDelay = max(opt.MaxDelay, 0)
	if opt.CacheTTL == 0 {
		opt.CacheTTL = 10 * time.Minute
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Sleep == nil {
		opt.Sleep = sleep
	}
	if opt.Known == nil {
		opt.Known, _ = accts.(store.KnownAddresses)
	}
	if opt.Shared == nil {
		opt.Shared = sharedCounters(accts)
	}
	a := &Authenticator{
		accts:    accts,
		opt:      opt,
		slots:    newVerifySlots(opt.MaxVerifications, opt.MaxVerificationsPerIP),
		cache:    make(map[[32]byte]time.Time),
		recorded: make(map[knownKey]time.Time),
	}
	a.lim = newLimiter(&a.opt)
	return a
}

func setDefault[T int | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait is Sleep for d > 0.
func (a *Authenticator) wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	return a.opt.Sleep(ctx, d)
}

// gaveUp is the error of an attempt whose connection went away (or whose
// server shut down) while it waited: a temporary failure.
func gaveUp(err error) error {
	return fmt.Errorf("%w: %w", ErrThrottled, err)
}

// CanonicalAddress lower-cases an address and completes a bare local part
// with the default domain.
func (a *Authenticator) CanonicalAddress(username string) string {
	u := strings.ToLower(strings.TrimSpace(username))
	if !strings.Contains(u, "@") && a.opt.DefaultDomain != "" {
		u += "@" + strings.ToLower(a.opt.DefaultDomain)
	}
	return u
}

// Login checks r and returns the account. Attempts are throttled as
// throttle.go describes; a refused attempt is refused before any password
// is checked, so throttling also bounds the CPU and memory an attacker
// costs. ctx is the connection's: the tarpit's waits end with it.
func (a *Authenticator) Login(ctx context.Context, r Request) (store.Account, error) {
	acct, err := a.login(ctx, r)
	countLogin(r.Service, err)
	return acct, err
}

// countLogin records the outcome of a login in the metrics.
func countLogin(svc store.Service, err error) {
	proto := string(svc)
	if proto == "" {
		proto = metrics.ProtoHTTP
	}
	result := metrics.LoginOK
	switch {
	case errors.Is(err, ErrThrottled):
		result = metrics.LoginThrottled
	case err != nil:
		result = metrics.LoginFailed
	}
	metrics.Logins.With(proto, result).Inc()
}

func (a *Authenticator) login(ctx context.Context, r Request) (store.Account, error) {
	addr := a.CanonicalAddress(r.Username)
	acct, err := a.accts.Account(ctx, addr)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Account{}, fmt.Errorf("auth: looking up account: %w", err)
	}
	known := exists && a.known(ctx, acct.ID, r.Remote)
	// Reserve before verifying: concurrent attempts see this one.
	t, err := a.lim.reserve(r.Remote, addr, known, a.lim.fingerprint(addr, r.Password), true)
	if err != nil {
		return store.Account{}, err
	}
	if err := a.wait(ctx, t.wait); err != nil {
		t.cancel()
		return store.Account{}, gaveUp(err)
	}
	v := &verifier{a: a, ctx: ctx, remote: r.Remote}
	var ok, noSCRAM bool
	var appID int64
	if exists {
		ok, appID, noSCRAM = a.verify(ctx, v, acct, r.Password)
	} else {
		// Spend the same time as a real check so that timing does not tell
		// which accounts exist.
		v.verify(dummyHash, r.Password)
	}
	v.done()
	if v.err != nil {
		t.cancel()
		return store.Account{}, gaveUp(v.err)
	}
	if !ok {
		// The answer waits, in no lock and no verification slot; an
		// error means the connection is gone and the answer moot.
		_ = a.wait(ctx, t.finish(false))
		return store.Account{}, ErrInvalidCredentials
	}
	t.finish(true)
	if noSCRAM {
		a.upgradeSCRAM(ctx, acct.ID, appID, r.Password)
	}
	if err := a.verified(ctx, acct, appID, r.Service, r.Remote); err != nil {
		return store.Account{}, err
	}
	return acct, nil
}

// verified follows a right password (appID: the app password's, 0 for the
// account's), for every mechanism: it says whether the account may use the
// service and, if so, remembers the network it signed in from.
func (a *Authenticator) verified(ctx context.Context, acct store.Account, appID int64, svc store.Service, remote netip.Addr) error {
	if appID != 0 {
		// Best effort: "last used" is information for the user, not a gate.
		_ = a.accts.TouchAppPassword(ctx, appID, a.opt.Now())
	}
	// The password was right: now it is safe to say why access is refused.
	if acct.Disabled {
		return ErrAccountDisabled
	}
	if svc != "" && !acct.Allows(svc) {
		return ErrServiceDisabled
	}
	a.remember(ctx, acct.ID, remote)
	return nil
}

// known reports whether acct signed in from remote's network (knownNet)
// within KnownFor. Without a store for it, or if it fails, nothing is
// known: the stricter limits apply.
func (a *Authenticator) known(ctx context.Context, acct store.AccountID, remote netip.Addr) bool {
	if a.opt.Known == nil || !remote.IsValid() {
		return false
	}
	ok, err := a.opt.Known.KnownSince(ctx, acct, knownNet(remote), a.opt.Now().Add(-a.opt.KnownFor))
	return err == nil && ok
}

// remember writes a successful sign-in's network to the store, at most
// once an hour per (account, network): phones poll every few minutes.
func (a *Authenticator) remember(ctx context.Context, acct store.AccountID, remote netip.Addr) {
	if a.opt.Known == nil || !remote.IsValid() {
		return
	}
	k, now := knownKey{acct, knownNet(remote)}, a.opt.Now()
	a.mu.Lock()
	last, ok := a.recorded[k]
	if ok && now.Sub(last) < time.Hour {
		a.mu.Unlock()
		return
	}
	if len(a.recorded) >= maxCache {
		clear(a.recorded)
	}
	a.recorded[k] = now
	a.mu.Unlock()
	// Best effort: a failed write only means stricter limits later.
	_ = a.opt.Known.RecordSignIn(ctx, acct, k.net, now)
}

// verify checks the account password, then each app password. It returns
// the id of the app password that matched (0 for the account password) and
// whether that password lacks SCRAM keys.
func (a *Authenticator) verify(ctx context.Context, v *verifier, acct store.Account, pw string) (ok bool, appID int64, noSCRAM bool) {
	if pw == "" {
		return false, 0, false
	}
	if a.check(v, acct.Address, acct.PasswordHash, pw) {
		return true, 0, acct.SCRAM == ""
	}
	apps, err := a.accts.AppPasswords(ctx, acct.ID)
	if err != nil {
		return false, 0, false
	}
	for _, p := range apps {
		if v.err != nil {
			break // no slot: the context ended
		}
		if a.check(v, acct.Address, p.Hash, pw) {
			return true, p.ID, p.SCRAM == ""
		}
	}
	return false, 0, false
}

// check verifies pw against hash, through the cache of recent successes.
// The cache key covers the stored hash, so a password change or a revoked
// app password is never served from the cache.
func (a *Authenticator) check(v *verifier, address, hash, pw string) bool {
	if hash == "" {
		return false
	}
	if a.opt.CacheTTL < 0 {
		return v.verify(hash, pw)
	}
	key := sha256.Sum256([]byte(address + "\x00" + hash + "\x00" + pw))
	now := a.opt.Now()
	a.mu.Lock()
	exp, ok := a.cache[key]
	a.mu.Unlock()
	if ok && now.Before(exp) {
		return true
	}
	if !v.verify(hash, pw) {
		return false
	}
	a.mu.Lock()
	if len(a.cache) >= maxCache {
		clear(a.cache) // rare; simpler and safer than an LRU
	}
	a.cache[key] = now.Add(a.opt.CacheTTL)
	a.mu.Unlock()
	return true
}

// dummyHash is a valid hash of a random password, checked for unknown users.
var dummyHash = func() string {
	h, err := HashPassword(GeneratePassword(24))
	if err != nil {
		panic(err)
	}
	return h
}()
