package mailauth

import (
	"bytes"
	"context"
	"strings"
	"sync"

	"github.com/youju/youju/internal/message"
)

// Lookups are the DNS queries of one message, started while it is still
// arriving and then waited for by Verify, which asks nothing twice: a
// DKIM key as soon as its DKIM-Signature field is in (Field), the DMARC
// policies as soon as the From field is. The answers are held here for
// the message, so that they are not lost when the resolver's cache keeps
// nothing (a TTL of 0, a full cache). Its methods are safe for
// concurrent use.
type Lookups struct {
	parent context.Context
	r      bounded

	mu sync.Mutex
	// ctx and cancel bound the queries sent: made with the first one
	// (most answers are in the cache, cached.go), cancelled by Stop.
	ctx      context.Context
	cancel   context.CancelFunc
	stopped  bool
	m        map[string]*answer // TXT queries by lower-case name
	sigs     int                // DKIM-Signature fields seen
	fromSeen bool
	// fromValue and fromDomain: the first From field's value as it
	// arrived and its single domain ("" if none or several), so that
	// Verify need not parse the same addresses again.
	fromValue  []byte
	fromDomain string
}

type answer struct {
	done chan struct{}
	txt  []string
	err  error
}

// StartLookups returns an empty set of lookups through r; its queries
// run under ctx, each bounded by LookupTimeout. Stop must be called.
func StartLookups(ctx context.Context, r Resolver) *Lookups {
	return &Lookups{parent: ctx, r: bounded{r}, m: map[string]*answer{}}
}

// Stop abandons the queries still running (the message is done with).
func (l *Lookups) Stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	if l.cancel != nil {
		l.cancel()
	}
}

// queryCtx is the context of the queries sent, made with the first one.
// Called with mu held.
func (l *Lookups) queryCtx() context.Context {
	if l.ctx == nil {
		l.ctx, l.cancel = context.WithCancel(l.parent)
		if l.stopped {
			l.cancel()
		}
	}
	return l.ctx
}

// Field looks at one header field of a message that is still arriving
// (raw: the field's bytes, name to its CRLF, continuation lines
// included) and starts the queries it calls for: the key of the first
// maxSignatures DKIM-Signature fields (RFC 6376 §3.6.2.2), and the DMARC
// policy of the domain of the first From field (RFC 7489 §6.6.1,
// §6.6.3). Verify decides later whether they count (a second From makes
// the message have no DMARC identity); a query started for nothing costs
// one question to DNS.
func (l *Lookups) Field(raw []byte) {
	name, value, ok := bytes.Cut(raw, []byte(":"))
	if !ok {
		return
	}
	name = bytes.TrimRight(name, " \t")
	switch {
	case bytes.EqualFold(name, []byte("DKIM-Signature")):
		l.mu.Lock()
		l.sigs++
		n := l.sigs
		l.mu.Unlock()
		if n > maxSignatures {
			return
		}
		if q := keyQuery(sigTags(value)); q != "" {
			l.start(q)
		}
	case bytes.EqualFold(name, []byte("From")):
		l.mu.Lock()
		first := !l.fromSeen
		l.fromSeen = true
		l.mu.Unlock()
		if first {
			d, ok := simpleFromDomain(value)
			if !ok {
				d = singleDomain(message.ParseAddressList(message.UnfoldValue(value)))
			}
			l.mu.Lock()
			l.fromValue, l.fromDomain = bytes.Clone(value), d
			l.mu.Unlock()
			if d != "" {
				l.startPolicy(d)
			}
		}
	}
}

// simpleFromDomain is the lower-case domain of a From value of the plain
// forms "local@domain", "<local@domain>" and "Some Words <local@domain>"
// (no quotes, comments, folding, groups or non-ASCII): what singleDomain
// makes of message.ParseAddressList's parse (FuzzSimpleFromDomain), for
// the usual From field without lexing it into tokens. ok is false for
// any other value.
func simpleFromDomain(v []byte) (string, bool) {
	v = bytes.Trim(v, " \t\r\n")
	if len(v) == 0 || len(v) > 512 {
		return "", false
	}
	if v[len(v)-1] == '>' {
		lt := bytes.IndexByte(v, '<')
		if lt < 0 {
			return "", false
		}
		for _, c := range v[:lt] {
			if c != ' ' && c != '\t' && !plainAddrByte(c) {
				return "", false
			}
		}
		v = v[lt+1 : len(v)-1]
	}
	at := bytes.IndexByte(v, '@')
	if at <= 0 || at == len(v)-1 {
		return "", false
	}
	for i, c := range v {
		if i != at && !plainAddrByte(c) {
			return "", false
		}
	}
	return strings.ToLower(string(v[at+1:])), true
}

// plainAddrByte: printable ASCII that the address lexer takes into an
// atom (dots included), less "]" and "\\", which need no fast path.
func plainAddrByte(c byte) bool {
	return c > ' ' && c < 0x7f && strings.IndexByte(`()<>[]:;@\,"`, c) < 0
}

// knownFrom returns the domain Field found in a From field whose value
// was value, if it saw one.
func (l *Lookups) knownFrom(value []byte) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fromValue == nil || !bytes.Equal(l.fromValue, value) {
		return "", false
	}
	return l.fromDomain, true
}

// keyQuery is the name of the key record of a signature's tags (RFC 6376
// §3.6.2.1), "" if the signature cannot name one or is refused unread.
func keyQuery(tags sigInfo) string {
	if tags.d == "" || tags.s == "" || strings.Count(tags.h, ":") >= maxSignedFields {
		return ""
	}
	return tags.s + "._domainkey." + tags.d
}

// startPolicy asks for the DMARC records of domain and of its
// organizational domain at once (lookupPolicy reads them).
func (l *Lookups) startPolicy(domain string) {
	l.start("_dmarc." + domain)
	if od := OrgDomain(domain); od != domain {
		l.start("_dmarc." + od)
	}
}

func (l *Lookups) start(name string) *answer {
	name = strings.ToLower(name)
	l.mu.Lock()
	defer l.mu.Unlock()
	if a, ok := l.m[name]; ok {
		return a
	}
	a := &answer{}
	l.m[name] = a
	if txt, ok, err := l.r.cachedTXT(name); ok {
		// Kept by the resolver's cache: no goroutine to ask it.
		a.done, a.txt, a.err = closed, txt, err
		return a
	}
	a.done = make(chan struct{})
	ctx := l.queryCtx()
	go func() {
		defer close(a.done)
		a.txt, a.err = l.r.LookupTXT(ctx, name)
	}()
	return a
}

// LookupTXT returns the answer of the query for name, joining it if it
// was started already. The wait is bounded by LookupTimeout (and ctx).
func (l *Lookups) LookupTXT(ctx context.Context, name string) ([]string, error) {
	a := l.start(name)
	select {
	case <-a.done:
		return a.txt, a.err
	case <-ctx.Done():
		return nil, errTemp
	}
}

// lookup is LookupTXT in the form go-msgauth's verifier asks, bounded by
// the lookups' own context (Stop ends the wait).
func (l *Lookups) lookup(name string) ([]string, error) {
	a := l.start(name)
	select {
	case <-a.done:
		return a.txt, a.err
	default:
	}
	l.mu.Lock()
	ctx := l.queryCtx() // made by start: a query is running
	l.mu.Unlock()
	return l.LookupTXT(ctx, name)
}

// Started returns the names asked for so far (tests).
func (l *Lookups) Started() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.m))
	for n := range l.m {
		out = append(out, n)
	}
	return out
}
