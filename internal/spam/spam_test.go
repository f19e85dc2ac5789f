package spam

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/mailauth"
)

func TestDNSBLQuery(t *testing.T) {
	for _, c := range []struct{ ip, want string }{
		{"192.0.2.99", "99.2.0.192.zen.example"},
		{"::ffff:192.0.2.99", "99.2.0.192.zen.example"},
		// RFC 5782 §2.4's example.
		{"2001:db8:1:2:3:4:567:89ab", "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.zen.example"},
	} {
		if got := DNSBLQuery(netip.MustParseAddr(c.ip), "zen.example."); got != c.want {
			t.Errorf("%s: %s, want %s", c.ip, got, c.want)
		}
	}
}

func ips(s ...string) []net.IPAddr {
	var r []net.IPAddr
	for _, x := range s {
		r = append(r, net.IPAddr{IP: net.ParseIP(x)})
	}
	return r
}

func TestLookupDNSBL(t *testing.T) {
	f := &dnsresolver.Fake{IP: map[string][]net.IPAddr{
		"2.0.0.127.bl.example": ips("127.0.0.2"),
		"3.0.0.127.bl.example": ips("127.255.255.254"), // query refused
		"4.0.0.127.bl.example": ips("192.0.2.1"),       // wildcard resolver
		"5.0.0.127.bl.example": ips("127.0.0.1"),
		"6.0.0.127.bl.example": ips("127.255.255.252", "127.0.0.4"),
		"7.0.0.127.bl.example": ips("127.0.1.2"), // domain-list style code
		"1.0.0.10.tmp.example": ips("127.0.0.2"),
	}, Temp: map[string]bool{"8.0.0.127.bl.example": true}}
	for _, c := range []struct {
		ip, want string
	}{
		{"127.0.0.2", Listed}, {"127.0.0.3", Refused}, {"127.0.0.4", Bogus}, {"127.0.0.5", Bogus},
		{"127.0.0.6", Listed}, {"127.0.0.7", Listed}, {"127.0.0.8", Error}, {"127.0.0.9", NotListed},
	} {
		got, _ := LookupDNSBL(context.Background(), f, netip.MustParseAddr(c.ip), "bl.example")
		if got != c.want {
			t.Errorf("%s: %s, want %s", c.ip, got, c.want)
		}
	}
}

func TestConnChecks(t *testing.T) {
	f := &dnsresolver.Fake{
		IP: map[string][]net.IPAddr{
			"9.2.0.192.bl.example": ips("127.0.0.2"),
			"mail.good.example":    ips("192.0.2.10"),
			"liar.example":         ips("198.51.100.1"),
		},
		Addr: map[string][]string{
			"192.0.2.10": {"mail.good.example."},
			"192.0.2.11": {"liar.example."},
		},
	}
	c := &Checker{DNS: f, Config: Config{DNSBLs: []string{"bl.example"}, FCrDNS: true}}
	ctx := context.Background()
	check := func(ip string) (Score, string) {
		return c.Start(ctx, netip.MustParseAddr(ip)).Wait(ctx)
	}
	if s, z := check("192.0.2.10"); s.Total != 0 || z != "" {
		t.Errorf("good host: %v %q", s, z)
	}
	if s, _ := check("192.0.2.11"); s.Total != ScoreNoFCrDNS {
		t.Errorf("liar: %v", s)
	}
	if s, _ := check("192.0.2.12"); s.Total != ScoreNoPTR {
		t.Errorf("no PTR: %v", s)
	}
	c.DNSBLReject = true
	if _, z := check("192.0.2.9"); z != "bl.example" {
		t.Errorf("listed: zone %q", z)
	}
	c.DNSBLReject = false
	if s, z := check("192.0.2.9"); z != "bl.example" || !strings.Contains(s.String(), "DNSBL_bl.example") {
		t.Errorf("listed, scored: %v %q", s, z)
	}
	cc := c.Start(ctx, netip.MustParseAddr("192.0.2.10"))
	cc.SetPregreet()
	if s, _ := cc.Wait(ctx); s.Total != ScorePregreet {
		t.Errorf("pregreet: %v", s)
	}
}

func TestHELOScore(t *testing.T) {
	c := &Checker{Config: Config{HELO: true}, Local: func(n string) bool { return n == "mx.example.com" || n == "example.com" }}
	ip := netip.MustParseAddr("192.0.2.1")
	for helo, want := range map[string]float64{
		"mail.sender.example": 0, "[192.0.2.1]": 0, "[192.0.2.2]": ScoreHELOLiteral,
		"localhost": ScoreHELOBare, "192.0.2.1": ScoreHELOBare, "MX.example.com.": ScoreHELOOurs,
		"bad..name": ScoreHELOBare, "under_score.example": 0,
	} {
		if got := c.HELOScore(helo, ip).Total; got != want {
			t.Errorf("%q: %v, want %v", helo, got, want)
		}
	}
	c.HELO = false
	if got := c.HELOScore("localhost", ip).Total; got != 0 {
		t.Errorf("switched off: %v", got)
	}
}

func TestVerdictAndHeader(t *testing.T) {
	c := &Checker{}
	var s Score
	s.Add("A", 3)
	if v := c.Verdict(s); v != Deliver {
		t.Error(v)
	}
	s.Add("B", 2.5)
	if v := c.Verdict(s); v != Junk {
		t.Error(v)
	}
	for i := 0; i < 20; i++ {
		s.Add("SOME_LONG_REASON_NAME", 0.25)
	}
	if v := c.Verdict(s); v != Reject {
		t.Error(v)
	}
	h := Header(Reject, s)
	if !strings.HasPrefix(h, "X-Youju-Spam: reject; score=10.5; A(+3.0) B(+2.5)") || !strings.HasSuffix(h, "\r\n") {
		t.Errorf("%q", h)
	}
	for _, l := range strings.Split(strings.TrimSuffix(h, "\r\n"), "\r\n") {
		if len(l) > 78 {
			t.Errorf("line of %d: %q", len(l), l)
		}
	}
}

func TestAuthScore(t *testing.T) {
	r := mailauth.Result{SPF: mailauth.SPFResult{Result: "pass", Domain: "a.example", Identity: "mailfrom"},
		DMARC: mailauth.DMARCResult{Result: "pass"}}
	if s := AuthScore(r); s.Total != ScoreDMARCPass {
		t.Error(s)
	}
	if !Authenticated(r, "x@A.example") || Authenticated(r, "x@b.example") || Authenticated(r, "") {
		t.Error("Authenticated")
	}
	r = mailauth.Result{SPF: mailauth.SPFResult{Result: "fail"}, DKIM: []mailauth.DKIMResult{{Result: "pass", Domain: "b.example"}},
		DMARC: mailauth.DMARCResult{Result: "fail"}}
	if s := AuthScore(r); s.Total != ScoreSPFFail+ScoreDMARCFail {
		t.Error(s)
	}
	if !Authenticated(r, "x@b.example") {
		t.Error("DKIM d= of the sender's domain")
	}
}

func TestGreylist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spam", "greylist.json")
	testGreylist(t, func() *Greylist {
		g, err := OpenGreylist(path)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}, func(g *Greylist) {
		if err := g.Save(); err != nil {
			t.Fatal(err)
		}
	})
}

// testGreylist runs the greylisting rules on open's greylists: the
// second one opened is the first reopened after save (a restart, or
// another node of a cluster).
func testGreylist(t *testing.T, open func() *Greylist, save func(*Greylist)) {
	g := open()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g.Now = func() time.Time { return now }
	ip := netip.MustParseAddr("192.0.2.1")
	neighbour := netip.MustParseAddr("192.0.2.200")
	if g.Check(ip, "a@s.example", "u@example.com") {
		t.Fatal("new triplet passed")
	}
	now = now.Add(time.Minute)
	if g.Check(neighbour, "a@s.example", "u@example.com") {
		t.Fatal("retry too early passed")
	}
	if g.Check(ip, "a@s.example", "v@example.com") {
		t.Fatal("another recipient is another triplet")
	}
	now = now.Add(5 * time.Minute)
	if !g.Check(neighbour, "A@s.example", "u@example.com") {
		t.Fatal("retry from the same /24 after the delay refused")
	}
	save(g)
	// Reopened: the passed triplet is known.
	g2 := open()
	g2.Now = func() time.Time { return now.Add(10 * 24 * time.Hour) }
	if !g2.Check(ip, "a@s.example", "u@example.com") {
		t.Fatal("known triplet refused after reopening")
	}
	// A retry after the window starts over.
	if g2.Check(ip, "a@s.example", "v@example.com") {
		t.Fatal("a triplet retried after the window passed")
	}
	// Auto-whitelist: any recipient, same network and sender domain.
	g2.Whitelist(ip, "b@auth.example")
	if !g2.Check(neighbour, "c@auth.example", "w@example.com") {
		t.Fatal("whitelisted sender refused")
	}
	if g2.Check(netip.MustParseAddr("198.51.100.1"), "c@auth.example", "w@example.com") {
		t.Fatal("whitelist applies to another network")
	}
}

func TestGreylistBounded(t *testing.T) {
	g, _ := OpenGreylist("")
	g.MaxEntries = 100
	for i := 0; i < 1000; i++ {
		g.Check(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), "a@b", "c@d")
	}
	if n := len(g.state.Triplets); n > 100 {
		t.Fatalf("%d entries", n)
	}
}

func TestNetwork(t *testing.T) {
	if n := Network(netip.MustParseAddr("2001:db8:1:2:3:4:5:6")); n != "2001:db8:1:2::/64" {
		t.Error(n)
	}
	if n := Network(netip.MustParseAddr("::ffff:192.0.2.7")); n != "192.0.2.0/24" {
		t.Error(n)
	}
}

// fmtScoreString is Score.String as it was written with fmt and sort:
// the reference for the buffer-built one.
func fmtScoreString(s Score) string {
	rs := append([]Reason(nil), s.Reasons...)
	sort.SliceStable(rs, func(i, j int) bool { return abs(rs[i].Score) > abs(rs[j].Score) })
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%s(%+.1f)", r.Name, r.Score)
	}
	return strings.Join(parts, " ")
}

// TestScoreStringMatchesFmt: the same text as fmt's %+.1f and a stable
// sort by size, for signs, zeros, rounding, ties and more reasons than
// the stack buffer holds.
func TestScoreStringMatchesFmt(t *testing.T) {
	values := []float64{0, math.Copysign(0, -1), 1.5, -2, 6, 0.05, 0.15, 0.25, -0.04, 1.25, 2.75, 123456.789, -1e-9, math.Inf(1), math.Inf(-1)}
	var all Score
	for i, v := range values {
		all.Reasons = append(all.Reasons, Reason{Name: fmt.Sprintf("R%d", i), Score: v})
		one := Score{Reasons: []Reason{{Name: "ONE", Score: v}}}
		if got, want := one.String(), fmtScoreString(one); got != want {
			t.Errorf("%v: %q, want %q", v, got, want)
		}
	}
	for _, s := range []Score{{}, all, {Reasons: all.Reasons[:3]}, {Reasons: []Reason{{"A", 1}, {"B", -1}, {"C", 1}, {"D", 2}}}} {
		if got, want := s.String(), fmtScoreString(s); got != want {
			t.Errorf("%+v:\n got %q\nwant %q", s, got, want)
		}
	}
}

func BenchmarkScoreString(b *testing.B) {
	s := Score{Reasons: []Reason{{"NO_PTR", 1.5}, {"DMARC_PASS", -2}, {"HELO_NOT_FQDN", 1}, {"BAYES", 6.5}}}
	b.Run("buffer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = s.String()
		}
	})
	b.Run("fmt", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = fmtScoreString(s)
		}
	})
}
