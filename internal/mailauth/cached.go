package mailauth

import (
	"context"
	"net"
)

// Answers already in the cache.
//
// In a burst from a few senders nearly every question SPF, DKIM and DMARC
// ask is answered by the resolver's cache (dnsresolver.Cache). A
// goroutine per check, to overlap queries with the rest of the
// transaction, then only adds a creation, a wake-up and a wait in the
// run queue of a busy server to work that is immediate. So a check whose
// every answer is kept runs inline, and only one that needs a real query
// goes to the background as before: the verdicts are the same, since
// both read the same kept answers (TestInlineSPFMatchesBackground).

// cacheResolver is the optional side of a Resolver that hands out kept
// answers without asking or waiting (dnsresolver.Cache, which smtpd puts
// in front of its resolver).
type cacheResolver interface {
	CachedTXT(name string) ([]string, bool, error)
	CachedMX(name string) ([]*net.MX, bool, error)
	CachedIPAddr(host string) ([]net.IPAddr, bool, error)
}

// cacheOnly is a resolver that answers from the cache alone. A question
// it cannot answer there fails as a temporary error and is noted in
// missed: the evaluation that asked it is then thrown away and run again
// with real queries.
type cacheOnly struct {
	c      cacheResolver
	missed bool
}

// errNotCached stands for the answer of a question cacheOnly could not
// answer; nobody sees it (the evaluation is run again).
var errNotCached = &net.DNSError{Err: "not in the cache", IsTemporary: true}

func (o *cacheOnly) LookupTXT(_ context.Context, name string) ([]string, error) {
	txt, ok, err := o.c.CachedTXT(name)
	if !ok {
		o.missed = true
		return nil, errNotCached
	}
	return txt, err
}

func (o *cacheOnly) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	mx, ok, err := o.c.CachedMX(name)
	if !ok {
		o.missed = true
		return nil, errNotCached
	}
	return mx, err
}

func (o *cacheOnly) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	ips, ok, err := o.c.CachedIPAddr(host)
	if !ok {
		o.missed = true
		return nil, errNotCached
	}
	return ips, err
}

// LookupAddr (SPF's ptr mechanism, RFC 7208 §5.5) is never kept.
func (o *cacheOnly) LookupAddr(context.Context, string) ([]string, error) {
	o.missed = true
	return nil, errNotCached
}

// cachedSPF evaluates SPF from the answers r has kept, if r keeps
// answers and has every one the evaluation asks for; ok is false
// otherwise, and the evaluation must be run the usual way.
func cachedSPF(ctx context.Context, r Resolver, ip net.IP, helo, mailFrom string) (res SPFResult, ok bool) {
	c, ok := r.(cacheResolver)
	if !ok {
		return SPFResult{}, false
	}
	o := &cacheOnly{c: c}
	res = checkSPF(ctx, o, ip, helo, mailFrom)
	return res, !o.missed
}

// closed is the done channel of checks and answers that were complete
// when they were started.
var closed = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func noCancel() {}
