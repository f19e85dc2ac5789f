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

// Request is one login attempt.
type Request struct {
	Username string // "user@domain", or "user" for the default domain
	Password string // the account password or one of its app passwords
	Service  store.Service
	Remote   netip.Addr // for throttling; zero if unknown
}

// Options configure an Authenticator. Zero fields take the defaults.
type Options struct {
	// DefaultDomain completes a username without "@".
	DefaultDomain string
	// MaxFailuresPerIP failures from one address within Window block that
	// address until the window has passed (default 10).
	MaxFailuresPerIP int
	// MaxFailuresPerAccount failures against one account within Window
	// block logins to it from everywhere (default 30: higher than per IP,
	// so that one attacker cannot easily lock a user out).
	MaxFailuresPerAccount int
	// Window of the failure counters (default 5 minutes).
	Window time.Duration
	// CacheTTL is how long a successful verification is remembered so that
	// clients polling every minute do not cost an argon2id run each time
	// (default 10 minutes; negative disables the cache).
	CacheTTL time.Duration
	// Now is the clock (tests).
	Now func() time.Time
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
	accts  store.Accounts
	opt    Options
	perIP  *throttle
	perAcc *throttle

	mu    sync.Mutex
	cache map[[32]byte]time.Time // verified (address, hash, password) -> expiry

	// upgradeMu serializes upgradeSCRAM per account (striped by account
	// id), so that an account's keys share one salt while the burst of
	// logins after an upgrade of youju does not queue on one lock.
	upgradeMu [64]sync.Mutex

	scram scramOffer // whether SCRAM is advertised (scramoffer.go)
}

const maxCache = 10_000

// New returns an Authenticator over accts.
func New(accts store.Accounts, opt Options) *Authenticator {
	if opt.MaxFailuresPerIP <= 0 {
		opt.MaxFailuresPerIP = 10
	}
	if opt.MaxFailuresPerAccount <= 0 {
		opt.MaxFailuresPerAccount = 30
	}
	if opt.Window <= 0 {
		opt.Window = 5 * time.Minute
	}
	if opt.CacheTTL == 0 {
		opt.CacheTTL = 10 * time.Minute
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Authenticator{
		accts:  accts,
		opt:    opt,
		perIP:  newThrottle(opt.MaxFailuresPerIP, opt.Window, opt.Now),
		perAcc: newThrottle(opt.MaxFailuresPerAccount, opt.Window, opt.Now),
		cache:  make(map[[32]byte]time.Time),
	}
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

// Login checks r and returns the account. Failures are counted per remote
// address and per account; a throttled attempt is refused before any
// password is checked, so throttling also bounds the CPU an attacker costs.
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
	ipKey, accKey := "ip:"+r.Remote.String(), "acct:"+addr
	if r.Remote.IsValid() && a.perIP.blocked(ipKey) || a.perAcc.blocked(accKey) {
		return store.Account{}, ErrThrottled
	}
	acct, err := a.accts.Account(ctx, addr)
	if errors.Is(err, store.ErrNotFound) {
		// Spend the same time as a real check so that timing does not tell
		// which accounts exist.
		VerifyPassword(dummyHash, r.Password)
		a.failed(r.Remote, ipKey, accKey)
		return store.Account{}, ErrInvalidCredentials
	}
	if err != nil {
		return store.Account{}, fmt.Errorf("auth: looking up account: %w", err)
	}
	ok, appID, noSCRAM := a.verify(ctx, acct, r.Password)
	if !ok {
		a.failed(r.Remote, ipKey, accKey)
		return store.Account{}, ErrInvalidCredentials
	}
	if noSCRAM {
		a.upgradeSCRAM(ctx, acct.ID, appID, r.Password)
	}
	if err := a.verified(ctx, acct, appID, r.Service, ipKey); err != nil {
		return store.Account{}, err
	}
	return acct, nil
}

// verified follows a right password (appID: the app password's, 0 for the
// account's), for every mechanism: it clears the address's failures and
// says whether the account may use the service.
func (a *Authenticator) verified(ctx context.Context, acct store.Account, appID int64, svc store.Service, ipKey string) error {
	a.perIP.succeed(ipKey)
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
	return nil
}

func (a *Authenticator) failed(remote netip.Addr, ipKey, accKey string) {
	if remote.IsValid() {
		a.perIP.fail(ipKey)
	}
	a.perAcc.fail(accKey)
}

// verify checks the account password, then each app password. It returns
// the id of the app password that matched (0 for the account password) and
// whether that password lacks SCRAM keys.
func (a *Authenticator) verify(ctx context.Context, acct store.Account, pw string) (ok bool, appID int64, noSCRAM bool) {
	if pw == "" {
		return false, 0, false
	}
	if a.check(acct.Address, acct.PasswordHash, pw) {
		return true, 0, acct.SCRAM == ""
	}
	apps, err := a.accts.AppPasswords(ctx, acct.ID)
	if err != nil {
		return false, 0, false
	}
	for _, p := range apps {
		if a.check(acct.Address, p.Hash, pw) {
			return true, p.ID, p.SCRAM == ""
		}
	}
	return false, 0, false
}

// check verifies pw against hash, through the cache of recent successes.
// The cache key covers the stored hash, so a password change or a revoked
// app password is never served from the cache.
func (a *Authenticator) check(address, hash, pw string) bool {
	if hash == "" {
		return false
	}
	if a.opt.CacheTTL < 0 {
		return VerifyPassword(hash, pw)
	}
	key := sha256.Sum256([]byte(address + "\x00" + hash + "\x00" + pw))
	now := a.opt.Now()
	a.mu.Lock()
	exp, ok := a.cache[key]
	a.mu.Unlock()
	if ok && now.Before(exp) {
		return true
	}
	if !VerifyPassword(hash, pw) {
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
