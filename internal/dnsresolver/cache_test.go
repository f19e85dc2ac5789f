package dnsresolver

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// counting counts the queries that reach the Fake, and can hold them.
type counting struct {
	*Fake
	n    atomic.Int32
	hold chan struct{} // if set, every query waits for it
}

func (c *counting) LookupTXTTTL(ctx context.Context, name string) ([]string, time.Duration, error) {
	c.n.Add(1)
	if c.hold != nil {
		<-c.hold
	}
	return c.Fake.LookupTXTTTL(ctx, name)
}

func TestCacheTTL(t *testing.T) {
	ctx := context.Background()
	f := &counting{Fake: &Fake{
		TXT: map[string][]string{"a.test": {"v=spf1 -all"}, "short.test": {"x"}, "nottl.test": {"y"}},
		TTL: map[string]time.Duration{"a.test": 300 * time.Second, "short.test": time.Second,
			"gone.test": 60 * time.Second},
		Temp: map[string]bool{"flaky.test": true},
	}}
	now := time.Unix(1e9, 0)
	c := NewCache(f)
	c.now = func() time.Time { return now }
	ask := func(name string, wantQueries int32) {
		t.Helper()
		f.n.Store(0)
		c.LookupTXT(ctx, name)
		if got := f.n.Load(); got != wantQueries {
			t.Errorf("%s at %v: %d queries, want %d", name, now.Unix()-1e9, got, wantQueries)
		}
	}
	ask("a.test", 1)
	ask("A.test.", 0) // same name
	now = now.Add(299 * time.Second)
	ask("a.test", 0)
	now = now.Add(2 * time.Second)
	ask("a.test", 1) // expired
	ask("short.test", 1)
	now = now.Add(2 * time.Second)
	ask("short.test", 1)
	ask("nottl.test", 1) // TTL 0: never kept
	ask("nottl.test", 1)
	ask("gone.test", 1) // NXDOMAIN kept for its negative TTL
	if _, err := c.LookupTXT(ctx, "gone.test"); !IsNotFound(err) {
		t.Errorf("cached NXDOMAIN: %v", err)
	}
	ask("gone.test", 0)
	f.TTL["flaky.test"] = time.Hour
	ask("flaky.test", 1) // temporary failures are not kept
	ask("flaky.test", 1)
}

func TestCacheSharesAndBounds(t *testing.T) {
	ctx := context.Background()
	f := &counting{Fake: &Fake{TXT: map[string][]string{"same.test": {"x"}},
		TTL: map[string]time.Duration{"same.test": time.Hour}}, hold: make(chan struct{})}
	c := &Cache{Resolver: f, MaxEntries: 50}
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.LookupTXT(ctx, "same.test")
		}()
	}
	// A caller that gives up does not fail the others.
	short, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.LookupTXT(short, "same.test"); err == nil || IsNotFound(err) {
		t.Errorf("cancelled caller: %v", err)
	}
	close(f.hold)
	wg.Wait()
	if n := f.n.Load(); n != 1 {
		t.Errorf("10 concurrent lookups of one name sent %d queries", n)
	}
	f.hold = nil
	for i := range 500 {
		name := fmt.Sprintf("n%d.test", i)
		f.TXT[name] = []string{"x"}
		f.TTL[name] = time.Hour
		c.LookupTXT(ctx, name)
	}
	c.mu.Lock()
	n := len(c.entries)
	c.mu.Unlock()
	if n > 50 {
		t.Errorf("cache holds %d entries, bound 50", n)
	}
}

// TestCacheTLSAPassesThrough: a validating resolver behind a Cache keeps
// answering TLSA with its AD bit; a plain one answers "not secure".
func TestCacheTLSAPassesThrough(t *testing.T) {
	rec := TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: []byte{1, 2, 3}}
	f := &Fake{TLSA: map[string][]TLSA{"_25._tcp.mx.example.org": {rec}},
		Secure: map[string]bool{"_25._tcp.mx.example.org": true}}
	recs, secure, err := NewCache(f).LookupTLSA(context.Background(), "_25._tcp.mx.example.org")
	if err != nil || !secure || len(recs) != 1 || recs[0].Usage != 3 {
		t.Fatalf("through cache: %v %v %v", recs, secure, err)
	}
	plain := struct{ Resolver }{f} // hides LookupTLSA: not declared validating
	recs, secure, err = NewCache(plain).LookupTLSA(context.Background(), "_25._tcp.mx.example.org")
	if err != nil || secure || len(recs) != 0 {
		t.Fatalf("plain resolver: %v %v %v", recs, secure, err)
	}
}

// TestCachedTXT: a kept answer is handed out without a query; nothing is
// while the answer is still being asked for, once it expired, or for a
// temporary failure (not kept).
func TestCachedTXT(t *testing.T) {
	ctx := context.Background()
	f := &counting{Fake: &Fake{
		TXT:  map[string][]string{"a.test": {"v=spf1 -all"}},
		TTL:  map[string]time.Duration{"a.test": 300 * time.Second, "gone.test": 60 * time.Second},
		Temp: map[string]bool{"flaky.test": true},
	}, hold: make(chan struct{})}
	now := time.Unix(1e9, 0)
	c := NewCache(f)
	c.now = func() time.Time { return now }
	if _, ok, _ := c.CachedTXT("a.test"); ok {
		t.Fatal("answer before any query")
	}
	done := make(chan struct{})
	go func() { c.LookupTXT(ctx, "a.test"); close(done) }()
	for f.n.Load() == 0 {
		time.Sleep(time.Millisecond) // until the query is being asked
	}
	if _, ok, _ := c.CachedTXT("a.test"); ok {
		t.Error("answer while the query runs")
	}
	close(f.hold)
	<-done
	txt, ok, err := c.CachedTXT("A.test.")
	if !ok || err != nil || len(txt) != 1 || txt[0] != "v=spf1 -all" {
		t.Errorf("kept answer: %v %v %v", txt, ok, err)
	}
	txt[0] = "changed"
	if again, _, _ := c.CachedTXT("a.test"); again[0] != "v=spf1 -all" {
		t.Error("the caller's copy is the cache's")
	}
	c.LookupTXT(ctx, "gone.test")
	if _, ok, err := c.CachedTXT("gone.test"); !ok || !IsNotFound(err) {
		t.Errorf("kept NXDOMAIN: %v %v", ok, err)
	}
	c.LookupTXT(ctx, "flaky.test")
	if _, ok, _ := c.CachedTXT("flaky.test"); ok {
		t.Error("temporary failure handed out")
	}
	now = now.Add(301 * time.Second)
	if _, ok, _ := c.CachedTXT("a.test"); ok {
		t.Error("expired answer handed out")
	}
	if n := f.n.Load(); n != 3 {
		t.Errorf("%d queries, want 3 (CachedTXT never asks)", n)
	}
}

// TestCachedMXAndIPAddr: CachedMX and CachedIPAddr hand out what LookupMX
// and LookupIPAddr would answer now from the cache, as copies, and
// nothing for a query not made, expired, or of a literal address (never
// kept). The query types are kept apart.
func TestCachedMXAndIPAddr(t *testing.T) {
	ctx := context.Background()
	f := &Fake{
		MX:  map[string][]*net.MX{"a.test": {{Host: "mx.a.test.", Pref: 10}}},
		IP:  map[string][]net.IPAddr{"mx.a.test": {{IP: net.ParseIP("192.0.2.1")}}},
		TTL: map[string]time.Duration{"a.test": time.Minute, "mx.a.test": time.Minute, "none.test": time.Minute},
	}
	now := time.Unix(1e9, 0)
	c := NewCache(f)
	c.now = func() time.Time { return now }
	if _, ok, _ := c.CachedMX("a.test"); ok {
		t.Fatal("MX answer before any query")
	}
	c.LookupMX(ctx, "a.test")
	c.LookupIPAddr(ctx, "mx.a.test")
	c.LookupIPAddr(ctx, "none.test")
	c.LookupIPAddr(ctx, "192.0.2.9")
	mx, ok, err := c.CachedMX("A.test.")
	if !ok || err != nil || len(mx) != 1 || mx[0].Host != "mx.a.test." {
		t.Fatalf("kept MX: %v %v %v", mx, ok, err)
	}
	mx[0].Host = "changed"
	if again, _, _ := c.CachedMX("a.test"); again[0].Host != "mx.a.test." {
		t.Error("the caller's MX copy is the cache's")
	}
	ips, ok, err := c.CachedIPAddr("mx.a.test")
	if !ok || err != nil || len(ips) != 1 || !ips[0].IP.Equal(net.ParseIP("192.0.2.1")) {
		t.Fatalf("kept addresses: %v %v %v", ips, ok, err)
	}
	if _, ok, err := c.CachedIPAddr("none.test"); !ok || !IsNotFound(err) {
		t.Errorf("kept NXDOMAIN: %v %v", ok, err)
	}
	if _, ok, _ := c.CachedIPAddr("192.0.2.9"); ok {
		t.Error("a literal address handed out as kept")
	}
	if _, ok, _ := c.CachedIPAddr("a.test"); ok {
		t.Error("the MX answer handed out for an address query")
	}
	if _, ok, _ := c.CachedTXT("mx.a.test"); ok {
		t.Error("the address answer handed out for a TXT query")
	}
	now = now.Add(2 * time.Minute)
	if _, ok, _ := c.CachedMX("a.test"); ok {
		t.Error("expired MX handed out")
	}
}
