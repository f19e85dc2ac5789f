package spam

import (
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/youju/youju/internal/fsutil"
	"github.com/youju/youju/internal/store"
)

// Greylist is RFC 6647 greylisting: the first delivery attempt of an
// unknown (client network, sender, recipient) triplet is refused
// temporarily; a real MTA retries (RFC 5321 §4.5.4.1), and a retry after
// Delay and within Window passes, as do later ones for Expire. A sender
// domain whose mail passed SPF or DKIM from a network is whitelisted for
// that network (RFC 6647 §4.3: auto-whitelisting).
//
// The state is a JSON file (written atomically, at most every few
// seconds and on Close), bounded to MaxEntries: the oldest go first.
type Greylist struct {
	Path       string        // the state file; "" keeps it in memory
	Delay      time.Duration // minimum wait before a retry passes (default 5m, RFC 6647 §4.2)
	Window     time.Duration // a retry later than this starts over (default 24h)
	Expire     time.Duration // a passed triplet or whitelist entry lives this long (default 36 days)
	MaxEntries int           // default 200000
	Logger     *slog.Logger
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
	// State, if set, keeps the triplets and the whitelist in the store
	// shared by every node (greyshared.go) instead of Path: a sender
	// deferred by node A passes its retry on node B.
	State store.StateStore

	mu          sync.Mutex
	state       greyState
	dirty       bool
	recentWhite map[string]time.Time // with State: whitelist writes of this node
}

type greyState struct {
	// Triplets: key -> first seen and, once passed, last passed.
	Triplets map[string]*triplet `json:"triplets"`
	// White: network + " " + sender domain -> last confirmed.
	White map[string]time.Time `json:"white"`
}

type triplet struct {
	First  time.Time `json:"first"`
	Passed time.Time `json:"passed,omitzero"`
}

// OpenGreylist loads the state at path (a missing file is an empty
// state).
func OpenGreylist(path string) (*Greylist, error) {
	g := &Greylist{Path: path}
	g.state = greyState{Triplets: map[string]*triplet{}, White: map[string]time.Time{}}
	if path == "" {
		return g, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return g, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &g.state); err != nil {
		return nil, err
	}
	if g.state.Triplets == nil {
		g.state.Triplets = map[string]*triplet{}
	}
	if g.state.White == nil {
		g.state.White = map[string]time.Time{}
	}
	for k, t := range g.state.Triplets {
		if t == nil { // a damaged file: forget the entry
			delete(g.state.Triplets, k)
		}
	}
	return g, nil
}

func (g *Greylist) clock() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func dflt(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Network is the client's network as greylisting keys it: a /24 for IPv4
// (RFC 6647 §4.1: pools of sending hosts retry from a neighbour), a /64
// for IPv6.
func Network(ip netip.Addr) string {
	ip = ip.Unmap()
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return ip.String()
	}
	return p.String()
}

func senderDomain(from string) string {
	if i := strings.LastIndexByte(from, '@'); i >= 0 {
		return strings.ToLower(from[i+1:])
	}
	return strings.ToLower(from)
}

// Check reports whether a delivery attempt passes (true) or is to be
// refused temporarily (false).
func (g *Greylist) Check(ip netip.Addr, from, rcpt string) bool {
	now := g.clock()
	netw := Network(ip)
	key := netw + " " + strings.ToLower(from) + " " + strings.ToLower(rcpt)
	white := ""
	if from != "" {
		white = netw + " " + senderDomain(from)
	}
	if g.State != nil {
		return g.checkShared(now, key, white)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if t, ok := g.state.White[white]; white != "" && ok && now.Sub(t) < dflt(g.Expire, 36*24*time.Hour) {
		Checks.With("greylist", "whitelisted").Inc()
		return true
	}
	t := g.state.Triplets[key]
	what, next := g.judge(t, now)
	Checks.With("greylist", what).Inc()
	if next != nil {
		g.state.Triplets[key] = next
		g.dirty = true
		if t == nil {
			g.bound()
		}
	}
	return next != nil && !next.Passed.IsZero()
}

// judge applies RFC 6647 §4.2 to the triplet t (nil: never seen) at
// now: what happened (for the metrics) and the triplet to store, nil to
// leave it as it is. The attempt passes if the new triplet has passed.
func (g *Greylist) judge(t *triplet, now time.Time) (string, *triplet) {
	switch {
	case t != nil && !t.Passed.IsZero() && now.Sub(t.Passed) < dflt(g.Expire, 36*24*time.Hour):
		return "known", &triplet{First: t.First, Passed: now}
	case t != nil && now.Sub(t.First) >= dflt(g.Delay, 5*time.Minute) && now.Sub(t.First) <= dflt(g.Window, 24*time.Hour):
		return "retried", &triplet{First: t.First, Passed: now}
	case t != nil && now.Sub(t.First) < dflt(g.Delay, 5*time.Minute):
		return "early", nil // too early: the first-seen time stays
	}
	return "new", &triplet{First: now}
}

// Whitelist records that mail from sender's domain passed SPF or DKIM
// from ip's network.
func (g *Greylist) Whitelist(ip netip.Addr, from string) {
	if from == "" {
		return
	}
	if g.State != nil {
		g.whitelistShared(Network(ip) + " " + senderDomain(from))
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.state.White[Network(ip)+" "+senderDomain(from)] = g.clock()
	g.dirty = true
	g.bound()
}

// bound drops expired entries, then the oldest, past MaxEntries. g.mu
// is held.
func (g *Greylist) bound() {
	max := g.MaxEntries
	if max <= 0 {
		max = 200000
	}
	if len(g.state.Triplets)+len(g.state.White) <= max {
		return
	}
	now := g.clock()
	expire, window := dflt(g.Expire, 36*24*time.Hour), dflt(g.Window, 24*time.Hour)
	for k, t := range g.state.Triplets {
		if (t.Passed.IsZero() && now.Sub(t.First) > window) || (!t.Passed.IsZero() && now.Sub(t.Passed) > expire) {
			delete(g.state.Triplets, k)
		}
	}
	for k, t := range g.state.White {
		if now.Sub(t) > expire {
			delete(g.state.White, k)
		}
	}
	// Still full: drop triplets, least recently seen first, down to
	// 90 % (one sort, so that a flood costs n log n once per 10 %).
	over := len(g.state.Triplets) + len(g.state.White) - max*9/10
	if over <= 0 {
		return
	}
	type aged struct {
		k    string
		last time.Time
	}
	all := make([]aged, 0, len(g.state.Triplets))
	for k, t := range g.state.Triplets {
		last := t.First
		if t.Passed.After(last) {
			last = t.Passed
		}
		all = append(all, aged{k, last})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].last.Before(all[j].last) })
	for i := 0; i < over && i < len(all); i++ {
		delete(g.state.Triplets, all[i].k)
	}
}

// Save writes the state if it changed.
func (g *Greylist) Save() error {
	if g.Path == "" {
		return nil
	}
	g.mu.Lock()
	if !g.dirty {
		g.mu.Unlock()
		return nil
	}
	b, err := json.Marshal(&g.state)
	g.dirty = false
	g.mu.Unlock()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(g.Path), 0o700); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(g.Path, b, 0o600)
}
