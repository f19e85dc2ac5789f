package mailauth

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/message"
)

// spfDNS publishes SPF records exercising every mechanism that asks DNS
// (RFC 7208 §5), all kept for an hour except where a case says not.
func spfDNS() *dnsresolver.Fake {
	f := fakeDNS()
	for n, v := range map[string]string{
		"inc.test":    "v=spf1 include:example.org ~all",
		"a.test":      "v=spf1 a -all",
		"mx.test":     "v=spf1 mx/24 -all",
		"redir.test":  "v=spf1 redirect=example.org",
		"exists.test": "v=spf1 exists:%{i}.ex.test -all",
		"ptr.test":    "v=spf1 ptr -all",
		"void.test":   "v=spf1 a:n1.void.test a:n2.void.test a:n3.void.test -all",
		"nokeep.test": "v=spf1 include:unkept.test -all",
		"unkept.test": "v=spf1 ip4:192.0.2.1 -all",
		"flaky2.test": "v=spf1 include:flaky.test -all",
	} {
		f.TXT[n] = []string{v}
	}
	f.TXT["two.test"] = []string{"v=spf1 -all", "v=spf1 +all"} // permerror (§4.5)
	f.MX = map[string][]*net.MX{"mx.test": {{Host: "mail.mx.test.", Pref: 10}}}
	f.IP = map[string][]net.IPAddr{
		"a.test":            {{IP: goodIP}},
		"ptr.test":          {{IP: goodIP}},
		"mail.mx.test":      {{IP: net.ParseIP("192.0.2.200")}},
		"192.0.2.1.ex.test": {{IP: net.ParseIP("127.0.0.2")}},
	}
	f.Addr = map[string][]string{goodIP.String(): {"ptr.test."}}
	f.Temp["flaky.test"] = true
	f.TTL = map[string]time.Duration{}
	for _, m := range []map[string][]string{f.TXT} {
		for n := range m {
			f.TTL[n] = time.Hour
		}
	}
	for _, n := range []string{"mail.mx.test", "192.0.2.1.ex.test", "198.51.100.7.ex.test",
		"nothere.test", "n1.void.test", "n2.void.test", "n3.void.test"} {
		f.TTL[n] = time.Hour
	}
	delete(f.TTL, "unkept.test")
	return f
}

// TestInlineSPFMatchesBackground: an SPF check whose answers are all in
// the cache runs inline and gives what the background check gives over
// the same records, and one that needs an answer the cache does not
// keep (a TTL of 0, a temporary failure, ptr's reverse lookup) still
// goes to the background, with the same result.
func TestInlineSPFMatchesBackground(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		ip       net.IP
		helo     string
		from     string
		inline   bool
		wantPass string
	}{
		{goodIP, "h.test", "a@example.org", true, "pass"},
		{badIP, "h.test", "a@example.org", true, "fail"},
		{goodIP, "h.test", "a@inc.test", true, "pass"},
		{badIP, "h.test", "a@inc.test", true, "softfail"},
		{goodIP, "h.test", "a@a.test", true, "pass"},
		{net.ParseIP("192.0.2.7"), "h.test", "a@mx.test", true, "pass"},
		{badIP, "h.test", "a@mx.test", true, "fail"},
		{goodIP, "h.test", "a@redir.test", true, "pass"},
		{goodIP, "h.test", "a@exists.test", true, "pass"},
		{badIP, "h.test", "a@exists.test", true, "fail"},
		{goodIP, "h.test", "a@nothere.test", true, "none"},
		{goodIP, "h.test", "a@two.test", true, "permerror"},
		{badIP, "h.test", "a@void.test", true, "permerror"},
		{goodIP, "mx.example.org", "", true, "pass"}, // null sender: HELO
		{goodIP, "h.test", "a@ptr.test", false, "pass"},
		{goodIP, "h.test", "a@nokeep.test", false, "pass"},
		{goodIP, "h.test", "a@flaky2.test", false, "temperror"},
	} {
		name := fmt.Sprintf("%s from %s", tc.ip, tc.from)
		f := spfDNS()
		want := StartSPF(ctx, f, tc.ip, tc.helo, tc.from).Wait(ctx) // no cache: background
		c := dnsresolver.NewCache(f)
		StartSPF(ctx, c, tc.ip, tc.helo, tc.from).Wait(ctx) // fills the cache
		check := StartSPF(ctx, c, tc.ip, tc.helo, tc.from)
		if inline := check.done == closed; inline != tc.inline {
			t.Errorf("%s: inline %v, want %v", name, inline, tc.inline)
		}
		got := check.Wait(ctx)
		if string(got.Result) != tc.wantPass || string(want.Result) != tc.wantPass {
			t.Errorf("%s: %s (%v), background %s (%v), want %s", name, got.Result, got.Err, want.Result, want.Err, tc.wantPass)
		}
		if got.Domain != want.Domain || got.Identity != want.Identity || fmt.Sprint(got.Err) != fmt.Sprint(want.Err) {
			t.Errorf("%s: %+v, background %+v", name, got, want)
		}
	}
}

// TestInlineVerdictMatchesBackground: the whole inbound check of signed
// and unsigned messages gives the same verdict and the same
// Authentication-Results field with every answer in the cache (no
// goroutine) as through a resolver that keeps nothing.
func TestInlineVerdictMatchesBackground(t *testing.T) {
	ctx := context.Background()
	f := spfDNS()
	f.TXT["_dmarc.sub.example.org"] = []string{"v=DMARC1; p=quarantine"}
	var msgs [][]byte
	for _, from := range []string{"a@example.org", "a@quar.test", "a@strict.test", "a@sub.example.org",
		"a@nodmarc.test", "a@mail.example.co.uk", "a@flaky.test", "a@x.test, b@y.test"} {
		msgs = append(msgs, msg(from), signed(t, f, "example.org", msg(from)))
	}
	for n := range f.TXT {
		if !f.Temp[n] {
			f.TTL[n] = time.Hour
		}
	}
	for _, n := range []string{"_dmarc.sub.example.org", "_dmarc.mail.example.co.uk", "_dmarc.nodmarc.test", "_dmarc.strict.test",
		"_dmarc.quar.test", "_dmarc.x.test", "_dmarc.y.test"} {
		if _, ok := f.TTL[n]; !ok {
			f.TTL[n] = time.Hour // NXDOMAIN kept too
		}
	}
	c := dnsresolver.NewCache(f)
	run := func(r Resolver, ip net.IP, m []byte) (Verdict, *Lookups) {
		spf := StartSPF(ctx, r, ip, "h.test", "a@example.org")
		lk := StartLookups(ctx, r)
		defer lk.Stop()
		hdr, err := message.ReadHeader(m, message.HeaderLimits{})
		if err != nil {
			t.Fatal(err)
		}
		for _, fl := range hdr.Fields {
			lk.Field(fl.Raw)
		}
		_, v := InboundVerify(ctx, "mx.youju.test", PolicyEnforce, spf, lk, hdr, m)
		return v, lk
	}
	for i, m := range msgs {
		for _, ip := range []net.IP{goodIP, badIP} {
			want, _ := run(f, ip, m)
			run(c, ip, m) // fills the cache
			got, lk := run(c, ip, m)
			if got.Field != want.Field || got.Reject != want.Reject || got.Junk != want.Junk {
				t.Errorf("message %d from %s: cached\n%s%+v\nkeeping nothing\n%s%+v", i, ip, got.Field, got.DMARC, want.Field, want.DMARC)
			}
			for name, a := range lk.m {
				if a.done != closed && !strings.Contains(name, "flaky") {
					t.Errorf("message %d: %s was asked in the background, though kept", i, name)
				}
			}
		}
	}
}

// heldDNS is a Fake whose every TXT query waits for release or for its
// context, and records the deadline and the end of that context. It is
// a cache (cacheResolver) that never has the answer.
type heldDNS struct {
	*dnsresolver.Fake
	release chan struct{}

	mu        sync.Mutex
	deadlines []time.Duration // from the query's start
	cancelled int
}

func (h *heldDNS) hold(ctx context.Context) error {
	d, ok := ctx.Deadline()
	h.mu.Lock()
	if ok {
		h.deadlines = append(h.deadlines, time.Until(d))
	} else {
		h.deadlines = append(h.deadlines, -1)
	}
	h.mu.Unlock()
	select {
	case <-h.release:
		return nil
	case <-ctx.Done():
		h.mu.Lock()
		h.cancelled++
		h.mu.Unlock()
		return ctx.Err()
	}
}

func (h *heldDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if err := h.hold(ctx); err != nil {
		return nil, &net.DNSError{Err: err.Error(), Name: name, IsTimeout: true, IsTemporary: true}
	}
	return h.Fake.LookupTXT(ctx, name)
}

func (h *heldDNS) CachedTXT(string) ([]string, bool, error)        { return nil, false, nil }
func (h *heldDNS) CachedMX(string) ([]*net.MX, bool, error)        { return nil, false, nil }
func (h *heldDNS) CachedIPAddr(string) ([]net.IPAddr, bool, error) { return nil, false, nil }

// TestUncachedStillInBackground: answers that are not in the cache are
// asked in the background as before: StartSPF and Field return at once
// while DNS does not answer, each query is bounded by LookupTimeout, and
// Stop and the end of Wait's context end the ones still running.
func TestUncachedStillInBackground(t *testing.T) {
	ctx := context.Background()
	h := &heldDNS{Fake: fakeDNS(), release: make(chan struct{})}
	var c Resolver = h
	returned := make(chan struct{})
	var spf *SPFCheck
	var lk *Lookups
	go func() {
		spf = StartSPF(ctx, c, goodIP, "h.test", "a@example.org")
		lk = StartLookups(ctx, c)
		lk.Field([]byte("From: <a@example.org>\r\n"))
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("StartSPF or Field waited for DNS")
	}
	if spf.done == closed || lk.m["_dmarc.example.org"].done == closed {
		t.Fatal("a check that was not cached ran inline")
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if res := spf.Wait(short); res.Result != "temperror" {
		t.Errorf("SPF with DNS not answering: %s (%v), want temperror", res.Result, res.Err)
	}
	lk.Stop()
	// Well before LookupTimeout would end them anyway.
	deadline := time.Now().Add(LookupTimeout / 2)
	for {
		h.mu.Lock()
		n, ds := h.cancelled, append([]time.Duration(nil), h.deadlines...)
		h.mu.Unlock()
		if n == 2 {
			for _, d := range ds {
				if d <= 0 || d > LookupTimeout {
					t.Errorf("a query ran with %v left, want at most LookupTimeout (%v)", d, LookupTimeout)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 2 queries ended after Wait and Stop gave up (deadlines %v)", n, ds)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSimpleFromDomain: the usual From values take the fast path, and
// the others are left to the address parser.
func TestSimpleFromDomain(t *testing.T) {
	for v, want := range map[string]string{
		" <load@Bench.Invalid>\r\n":           "bench.invalid",
		" a.b+c@example.org\r\n":              "example.org",
		" Some One <a@mail.example.org>\r\n":  "mail.example.org",
		" J. R. Doe\t<x_y@EXAMPLE.co.uk>\r\n": "example.co.uk",
		" \"Quoted\" <a@example.org>\r\n":     "",
		" a@example.org (comment)\r\n":        "",
		" a@x.test, b@y.test\r\n":             "",
		" Folded\r\n <a@example.org>\r\n":     "",
		" g: a@example.org;\r\n":              "",
		" <a@[192.0.2.1]>\r\n":                "",
		" <@a.test:x@example.org>\r\n":        "",
		" <a@example.org> trailing\r\n":       "",
		" <x@\xc3\xa9xample.org>\r\n":         "",
		" <@example.org>\r\n":                 "",
		" <a@>\r\n":                           "",
		" <a@example.org\r\n":                 "",
		" a@example.org>\r\n":                 "",
	} {
		got, ok := simpleFromDomain([]byte(v))
		if got != want || ok != (want != "") {
			t.Errorf("%q: %q %v, want %q", v, got, ok, want)
		}
	}
}

// FuzzSimpleFromDomain: whenever the fast path answers, its domain is
// the one the address parser finds.
func FuzzSimpleFromDomain(f *testing.F) {
	for _, s := range []string{" <load@bench.invalid>\r\n", " Name <a@B.c>", "a@b", "a.@b..", " x <y@z>\r\n", "<a@b.c>>", "a <b <c@d>"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		got, ok := simpleFromDomain(v)
		if !ok {
			return
		}
		if want := singleDomain(message.ParseAddressList(message.UnfoldValue(v))); got != want {
			t.Fatalf("%q: fast path %q, parser %q", v, got, want)
		}
	})
}
