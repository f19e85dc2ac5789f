package delivery

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/youju/youju/internal/store"
)

// Defaults of Resolver limits.
const (
	DefaultMaxAliasDepth = 10
	DefaultMaxTargets    = 1000
)

// Resolver maps a recipient address to local accounts and remote
// addresses, at RCPT time. It is safe for concurrent use.
type Resolver struct {
	Accounts store.Accounts
	// MaxAliasDepth bounds alias chains (default 10); deeper is a loop.
	MaxAliasDepth int
	// MaxTargets bounds what one address may expand to (default 1000).
	MaxTargets int
	// CacheTTL, if positive, remembers found domains and accounts that
	// long (never "not found": a new account works at once). The store
	// stays the authority: a stale entry for a deleted account fails at
	// delivery, and quota is enforced again by the store.
	CacheTTL time.Duration
	// Postmaster, if set, returns the address that gets postmaster@ and
	// abuse@ of every local domain without an account or alias of that
	// name (postmaster.go).
	Postmaster func(ctx context.Context) string
	// SRS, if set, turns a valid SRS address of ours back into the
	// original sender, for bounces to forwarded mail (srs.go).
	SRS SRSReverser

	cache posCache
}

// Local is one local account a recipient resolved to.
type Local struct {
	Account store.AccountID
	Address string // the account's canonical address
	// QuotaBytes and UsedBytes as of the lookup (QuotaBytes 0 = none):
	// enough to refuse at RCPT time and to skip quota queries for
	// unlimited accounts.
	QuotaBytes, UsedBytes int64
}

// Resolution is where one recipient's mail goes.
type Resolution struct {
	Local  []Local  // distinct accounts
	Remote []string // distinct addresses in non-local domains
	// Role: the recipient is postmaster@ or abuse@ of a local domain.
	Role bool
}

// Resolve resolves rcpt. A non-local rcpt is refused with ErrRelayDenied
// unless allowRelay (the client authenticated); remote targets reached
// through a local alias are always allowed, since an administrator set
// them up. Errors are *Error: ErrBadAddress, ErrUnknownUser,
// ErrRelayDenied, ErrAliasLoop, ErrTooManyTargets, or ErrTemporary when the
// store failed.
func (r *Resolver) Resolve(ctx context.Context, rcpt string, allowRelay bool) (Resolution, error) {
	addr, err := ParseAddress(rcpt)
	if err != nil {
		return Resolution{}, ErrBadAddress
	}
	local, err := r.isLocal(ctx, addr.Domain)
	if err != nil {
		return Resolution{}, err
	}
	if !local {
		if !allowRelay {
			return Resolution{}, ErrRelayDenied
		}
		return Resolution{Remote: []string{addr.String()}}, nil
	}
	if res, err, ok := r.reverseSRS(ctx, addr); ok {
		return res, err
	}
	w := walk{r: r, ctx: ctx, seen: map[string]bool{}, accts: map[store.AccountID]bool{}, remote: map[string]bool{}}
	err = w.resolve(addr, 0)
	if err == nil && len(w.res.Local) == 0 && len(w.res.Remote) == 0 {
		err = ErrUnknownUser
		if w.looped {
			err = ErrAliasLoop
		}
	}
	if res, ferr, ok := r.roleFallback(ctx, addr, err); ok {
		return res, ferr
	}
	if err != nil {
		return Resolution{}, err
	}
	w.res.Role = IsRole(addr.Local)
	return w.res, nil
}

func (r *Resolver) isLocal(ctx context.Context, domain string) (bool, error) {
	if _, ok := r.cache.get("d:"+domain, r.CacheTTL); ok {
		return true, nil
	}
	ok, err := r.Accounts.IsLocalDomain(ctx, domain)
	if err != nil {
		return false, temporary(err)
	}
	if ok {
		r.cache.put("d:"+domain, store.Account{}, r.CacheTTL)
	}
	return ok, nil
}

// account looks an account up, through the cache.
func (r *Resolver) account(ctx context.Context, key string) (store.Account, error) {
	if a, ok := r.cache.get("a:"+key, r.CacheTTL); ok {
		return a, nil
	}
	a, err := r.Accounts.Account(ctx, key)
	if err == nil {
		r.cache.put("a:"+key, a, r.CacheTTL)
	}
	return a, err
}

func (r *Resolver) maxDepth() int {
	if r.MaxAliasDepth > 0 {
		return r.MaxAliasDepth
	}
	return DefaultMaxAliasDepth
}

func (r *Resolver) maxTargets() int {
	if r.MaxTargets > 0 {
		return r.MaxTargets
	}
	return DefaultMaxTargets
}

// walk is the state of one alias expansion.
type walk struct {
	r      *Resolver
	ctx    context.Context
	seen   map[string]bool // addresses already expanded: cycles end here
	accts  map[store.AccountID]bool
	remote map[string]bool
	looped bool
	res    Resolution
}

// resolve adds the destinations of a local-domain address. The order is:
// an account of that exact name, an alias of that exact name, the same two
// without a "+tag", then the domain's catch-all "@domain".
func (w *walk) resolve(addr Address, depth int) error {
	key := addr.Key()
	if w.seen[key] {
		w.looped = true
		return nil
	}
	w.seen[key] = true
	for _, local := range w.candidates(addr.Local) {
		cand := Address{Local: local, Domain: addr.Domain}
		done, err := w.account(cand)
		if errors.Is(err, ErrMailboxDisabled) && depth > 0 {
			// A disabled account behind an alias: the alias's other
			// targets still get the mail.
			return nil
		}
		if done || err != nil {
			return err
		}
		done, err = w.alias(cand.Key(), addr, depth)
		if done || err != nil {
			return err
		}
	}
	done, err := w.alias("@"+addr.Domain, addr, depth)
	if err != nil {
		return err
	}
	if !done && depth > 0 {
		// A dangling alias target: skip it, the other targets still
		// get the mail; Resolve reports ErrUnknownUser if none is left.
		return nil
	}
	if !done {
		return ErrUnknownUser
	}
	return nil
}

// candidates are the local parts to try: as given, then without "+tag".
func (w *walk) candidates(local string) []string {
	if base, ok := stripPlus(local); ok {
		return []string{local, base}
	}
	return []string{local}
}

// account adds the account named addr, if there is one.
func (w *walk) account(addr Address) (bool, error) {
	a, err := w.r.account(w.ctx, addr.Key())
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, temporary(err)
	}
	if a.Disabled {
		return true, ErrMailboxDisabled
	}
	if !w.accts[a.ID] {
		w.accts[a.ID] = true
		w.res.Local = append(w.res.Local, Local{Account: a.ID, Address: a.Address, QuotaBytes: a.QuotaBytes, UsedBytes: a.UsedBytes})
		if err := w.checkSize(); err != nil {
			return true, err
		}
	}
	return true, nil
}

// alias expands the alias named name, if there is one. orig is the address
// being resolved: a target "@other" (domain alias) means orig's local part
// at "other".
func (w *walk) alias(name string, orig Address, depth int) (bool, error) {
	al, err := w.r.Accounts.Alias(w.ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, temporary(err)
	}
	if depth+1 > w.r.maxDepth() {
		return true, ErrAliasLoop
	}
	for _, t := range al.Targets {
		t = strings.TrimSpace(t)
		if strings.HasPrefix(t, "@") {
			t = orig.Local + t
		}
		if err := w.target(t, depth+1); err != nil {
			return true, err
		}
	}
	return true, nil
}

// target adds one alias target, local or remote.
func (w *walk) target(t string, depth int) error {
	addr, err := ParseAddress(t)
	if err != nil {
		return nil // a broken alias target is skipped, not fatal
	}
	local, err := w.r.isLocal(w.ctx, addr.Domain)
	if err != nil {
		return err
	}
	if local {
		return w.resolve(addr, depth)
	}
	s := addr.String()
	if !w.remote[strings.ToLower(s)] {
		w.remote[strings.ToLower(s)] = true
		w.res.Remote = append(w.res.Remote, s)
	}
	return w.checkSize()
}

func (w *walk) checkSize() error {
	if len(w.res.Local)+len(w.res.Remote) > w.r.maxTargets() {
		return ErrTooManyTargets
	}
	return nil
}

// MaySendAs reports whether acct may use addr as envelope sender or From:
// (submission, RFC 6409 §8 leaves the policy to us): its own address, with
// or without a "+tag", or an alias (exact, not catch-all) that lists the
// account among its targets.
func (r *Resolver) MaySendAs(ctx context.Context, acct store.Account, addr string) (bool, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return false, nil
	}
	own := strings.ToLower(acct.Address)
	names := []string{a.Key()}
	if base, ok := stripPlus(a.Local); ok {
		names = append(names, Address{Local: base, Domain: a.Domain}.Key())
	}
	for _, n := range names {
		if n == own {
			return true, nil
		}
	}
	for _, n := range names {
		al, err := r.Accounts.Alias(ctx, n)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, temporary(err)
		}
		for _, t := range al.Targets {
			if strings.EqualFold(strings.TrimSpace(t), own) {
				return true, nil
			}
		}
	}
	return false, nil
}

// posCache remembers positive lookups for a short time.
type posCache struct {
	mu sync.Mutex
	m  map[string]cached
}

type cached struct {
	a   store.Account
	exp time.Time
}

// maxCached bounds the cache; when full it starts over.
const maxCached = 10000

func (c *posCache) get(k string, ttl time.Duration) (store.Account, bool) {
	if ttl <= 0 {
		return store.Account{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || time.Now().After(e.exp) {
		return store.Account{}, false
	}
	return e.a, true
}

func (c *posCache) put(k string, a store.Account, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCached {
		c.m = make(map[string]cached)
	}
	c.m[k] = cached{a: a, exp: time.Now().Add(ttl)}
}
