package spam

import (
	"context"
	"encoding/json"
	"time"
)

// Greylisting in the shared store (Greylist.State). Keys:
//
//	grey/t/NETWORK SENDER RECIPIENT   a triplet (JSON), expiring after
//	                                  Window until it passed, Expire after
//	grey/w/NETWORK DOMAIN             a whitelisted sender domain, Expire
//
// Two nodes judging one triplet at once write with the version they read,
// so one write wins; the other attempt's verdict stands (both were
// refusals or both passes of the same triplet). A store that cannot be
// reached lets mail through (greylisting is a filter, not a gate worth
// losing mail for) and logs it.

// sharedTimeout bounds one greylisting look-up in the shared store.
const sharedTimeout = 5 * time.Second

// touchEvery: a known triplet's last pass is written again at most this
// often, so that a steady correspondent costs a read, not a write, per
// message.
const touchEvery = time.Hour

func (g *Greylist) checkShared(now time.Time, key, white string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	tk, wk := "grey/t/"+key, "grey/w/"+white
	keys := []string{tk}
	if white != "" {
		keys = append(keys, wk)
	}
	got, err := g.State.GetState(ctx, keys...)
	if err != nil {
		g.sharedErr(err)
		return true
	}
	if _, ok := got[wk]; white != "" && ok {
		Checks.With("greylist", "whitelisted").Inc()
		return true
	}
	e, seen := got[tk]
	var t *triplet
	if seen {
		t = &triplet{}
		if json.Unmarshal(e.Value, t) != nil {
			t = nil // damaged: judged as new, overwritten at its version
		}
	}
	what, next := g.judge(t, now)
	Checks.With("greylist", what).Inc()
	if next == nil || what == "known" && now.Sub(t.Passed) < touchEvery {
		return next != nil
	}
	ttl := dflt(g.Window, 24*time.Hour)
	if !next.Passed.IsZero() {
		ttl = dflt(g.Expire, 36*24*time.Hour)
	}
	b, _ := json.Marshal(next)
	if _, err := g.State.PutState(ctx, tk, b, e.Version, ttl); err != nil {
		g.sharedErr(err)
	}
	return !next.Passed.IsZero()
}

func (g *Greylist) whitelistShared(white string) {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	// Written once per Expire/10 at most from each node: the entry's
	// expiry is all that matters.
	g.mu.Lock()
	if g.recentWhite == nil || len(g.recentWhite) > 10000 {
		g.recentWhite = map[string]time.Time{}
	}
	now := g.clock()
	if t, ok := g.recentWhite[white]; ok && now.Sub(t) < dflt(g.Expire, 36*24*time.Hour)/10 {
		g.mu.Unlock()
		return
	}
	g.recentWhite[white] = now
	g.mu.Unlock()
	if _, err := g.State.PutState(ctx, "grey/w/"+white, nil, -1, dflt(g.Expire, 36*24*time.Hour)); err != nil {
		g.sharedErr(err)
	}
}

func (g *Greylist) sharedErr(err error) {
	Checks.With("greylist", "error").Inc()
	if g.Logger != nil {
		g.Logger.Warn("greylist: shared store", "err", err)
	}
}
