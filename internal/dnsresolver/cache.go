package dnsresolver

import (
	"context"
	"net"
	"strings"
	"sync"
	"time"
)

// TTLResolver is a Resolver that also says how long its answers may be
// kept (the records' TTL, RFC 1035 §3.2.1; for "not found", the negative
// TTL of RFC 2308 §5). A TTL of 0 means "do not cache".
type TTLResolver interface {
	Resolver
	LookupTXTTTL(ctx context.Context, name string) ([]string, time.Duration, error)
	LookupMXTTL(ctx context.Context, name string) ([]*net.MX, time.Duration, error)
	LookupIPAddrTTL(ctx context.Context, host string) ([]net.IPAddr, time.Duration, error)
}

// Cache defaults.
const (
	// DefaultCacheEntries bounds the answers kept.
	DefaultCacheEntries = 10000
	// DefaultTTL is used for resolvers that do not report TTLs (the
	// system resolver): short enough to stay under nearly every
	// published TTL of SPF, DKIM and DMARC records.
	DefaultTTL = time.Minute
	// DefaultMaxTTL caps any TTL (a record can ask for a week).
	DefaultMaxTTL = time.Hour
	// DefaultLookupTimeout bounds one query the cache sends.
	DefaultLookupTimeout = 5 * time.Second
)

// Cache is a Resolver that keeps TXT, MX and address answers, positive
// and "not found", for their TTL, and sends one query for concurrent
// identical lookups. Temporary failures are not kept. The other lookups
// pass through.
type Cache struct {
	Resolver
	// MaxEntries bounds the answers kept (DefaultCacheEntries if 0).
	MaxEntries int
	// MaxTTL caps TTLs (DefaultMaxTTL if 0).
	MaxTTL time.Duration
	// Timeout bounds each query sent (DefaultLookupTimeout if 0); it
	// runs detached from the caller so that one caller giving up does
	// not fail the others waiting for the same answer.
	Timeout time.Duration

	now     func() time.Time // for tests
	mu      sync.Mutex
	entries map[cacheKey]*cacheEntry
}

// NewCache returns a cache in front of r.
func NewCache(r Resolver) *Cache { return &Cache{Resolver: r} }

type cacheKey struct {
	qtype uint8
	name  string
}

const (
	qTXT = iota
	qMX
	qIP
)

type cacheEntry struct {
	done    chan struct{} // closed when the answer is in
	val     any
	err     error
	expires time.Time
}

func (c *Cache) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// lookup returns the cached answer for k, or asks q once for all callers.
func (c *Cache) lookup(ctx context.Context, k cacheKey, q func(context.Context) (any, time.Duration, error)) (any, error) {
	k.name = key(k.name)
	now := c.clock()
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[cacheKey]*cacheEntry{}
	}
	e, ok := c.entries[k]
	if ok && !e.expires.IsZero() && now.After(e.expires) {
		delete(c.entries, k)
		ok = false
	}
	if !ok {
		c.evict(now)
		e = &cacheEntry{done: make(chan struct{})}
		c.entries[k] = e
		go c.fill(ctx, k, e, q)
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		return e.val, e.err
	case <-ctx.Done():
		return nil, &net.DNSError{Err: ctx.Err().Error(), Name: k.name, IsTimeout: true, IsTemporary: true}
	}
}

// CachedTXT returns the kept answer to a TXT query for name, without
// asking or waiting; ok is false when there is none ready (never asked,
// expired, or still being asked). A caller that bounds each query with a
// context of its own (mailauth) need not make one for an answer that is
// already here, nor a goroutine to overlap it with other work.
func (c *Cache) CachedTXT(name string) (txt []string, ok bool, err error) {
	v, ok, err := c.cached(cacheKey{qTXT, name})
	if !ok {
		return nil, false, nil
	}
	t, _ := v.([]string)
	return append([]string(nil), t...), true, err // callers may change theirs
}

// CachedMX is CachedTXT for an MX query: the answer LookupMX would give
// now, if it would give it without asking.
func (c *Cache) CachedMX(name string) (mx []*net.MX, ok bool, err error) {
	v, ok, err := c.cached(cacheKey{qMX, name})
	if !ok {
		return nil, false, nil
	}
	return copyMX(v), true, err
}

// CachedIPAddr is CachedTXT for an address query. A literal address is
// not kept (LookupIPAddr hands it to the resolver behind): ok is false.
func (c *Cache) CachedIPAddr(host string) (ips []net.IPAddr, ok bool, err error) {
	v, ok, err := c.cached(cacheKey{qIP, host})
	if !ok {
		return nil, false, nil
	}
	a, _ := v.([]net.IPAddr)
	return append([]net.IPAddr(nil), a...), true, err
}

// cached returns the kept answer for k without asking or waiting.
func (c *Cache) cached(k cacheKey) (any, bool, error) {
	k.name = key(k.name)
	now := c.clock()
	c.mu.Lock()
	e, ok := c.entries[k]
	c.mu.Unlock()
	if !ok {
		return nil, false, nil
	}
	select {
	case <-e.done:
	default:
		return nil, false, nil // being asked: the caller waits the usual way
	}
	// The answer and expires were written before done was closed.
	if !e.expires.IsZero() && now.After(e.expires) {
		return nil, false, nil
	}
	return e.val, true, e.err
}

// fill runs one query and keeps its answer for its TTL.
func (c *Cache) fill(ctx context.Context, k cacheKey, e *cacheEntry, q func(context.Context) (any, time.Duration, error)) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pickDur(c.Timeout, DefaultLookupTimeout))
	defer cancel()
	val, ttl, err := q(ctx)
	ttl = min(ttl, pickDur(c.MaxTTL, DefaultMaxTTL))
	c.mu.Lock()
	defer c.mu.Unlock()
	e.val, e.err = val, err
	if (err == nil || IsNotFound(err)) && ttl > 0 {
		e.expires = c.clock().Add(ttl)
	} else if c.entries[k] == e {
		delete(c.entries, k) // not kept: the next lookup asks again
	}
	close(e.done)
}

// evict makes room for one entry: expired ones go first, then any (the
// map's order), never one still being looked up. Called with mu held.
func (c *Cache) evict(now time.Time) {
	limit := c.MaxEntries
	if limit <= 0 {
		limit = DefaultCacheEntries
	}
	if len(c.entries) < limit {
		return
	}
	for k, e := range c.entries {
		if !e.expires.IsZero() && now.After(e.expires) {
			delete(c.entries, k)
		}
	}
	for k, e := range c.entries {
		if len(c.entries) < limit {
			return
		}
		if !e.expires.IsZero() {
			delete(c.entries, k)
		}
	}
}

func pickDur(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

// withTTL asks r for an answer and its TTL; DefaultTTL if r cannot say.
func withTTL[T any](plain func(context.Context, string) (T, error), ttl func(context.Context, string) (T, time.Duration, error), name string) func(context.Context) (any, time.Duration, error) {
	return func(ctx context.Context) (any, time.Duration, error) {
		if ttl != nil {
			return ttl(ctx, name)
		}
		v, err := plain(ctx, name)
		return v, DefaultTTL, err
	}
}

// LookupTXT implements Resolver.
func (c *Cache) LookupTXT(ctx context.Context, name string) ([]string, error) {
	var ttl func(context.Context, string) ([]string, time.Duration, error)
	if t, ok := c.Resolver.(TTLResolver); ok {
		ttl = t.LookupTXTTTL
	}
	v, err := c.lookup(ctx, cacheKey{qTXT, name}, withTTL(c.Resolver.LookupTXT, ttl, name))
	txt, _ := v.([]string)
	return append([]string(nil), txt...), err // callers may change theirs
}

// LookupMX implements Resolver.
func (c *Cache) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	var ttl func(context.Context, string) ([]*net.MX, time.Duration, error)
	if t, ok := c.Resolver.(TTLResolver); ok {
		ttl = t.LookupMXTTL
	}
	v, err := c.lookup(ctx, cacheKey{qMX, name}, withTTL(c.Resolver.LookupMX, ttl, name))
	return copyMX(v), err
}

// copyMX copies a kept MX answer: callers may change theirs.
func copyMX(v any) []*net.MX {
	mx, _ := v.([]*net.MX)
	out := make([]*net.MX, len(mx))
	for i, m := range mx {
		c := *m
		out[i] = &c
	}
	return out
}

// LookupIPAddr implements Resolver.
func (c *Cache) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if strings.ContainsAny(host, ":") || net.ParseIP(host) != nil {
		return c.Resolver.LookupIPAddr(ctx, host) // a literal: nothing to ask
	}
	var ttl func(context.Context, string) ([]net.IPAddr, time.Duration, error)
	if t, ok := c.Resolver.(TTLResolver); ok {
		ttl = t.LookupIPAddrTTL
	}
	v, err := c.lookup(ctx, cacheKey{qIP, host}, withTTL(c.Resolver.LookupIPAddr, ttl, host))
	ips, _ := v.([]net.IPAddr)
	return append([]net.IPAddr(nil), ips...), err
}

var _ TLSAResolver = (*Cache)(nil)

// LookupTLSA passes TLSA lookups through uncached to a validating resolver
// behind the cache, so that wrapping one in a Cache does not turn DANE off.
// In front of any other resolver it answers "no secure records", the same
// as that resolver not being TLSA-capable (RFC 7672 §2.2: no DANE).
func (c *Cache) LookupTLSA(ctx context.Context, name string) ([]TLSA, bool, error) {
	tr, ok := c.Resolver.(TLSAResolver)
	if !ok {
		return nil, false, nil
	}
	return tr.LookupTLSA(ctx, name)
}
