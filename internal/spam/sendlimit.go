package spam

import (
	"strings"
	"sync"
	"time"

	"github.com/youju/youju/internal/store"
)

// SendLimits bound what one account sends to other domains, so that a
// phished password cannot make the whole domain a spam source: messages
// and distinct new recipients (addresses the account has not written to
// in the last 30 days, as far as this process knows) per hour and per
// day. Zero is the default; negative, no limit. The defaults are far
// above what a person sends.
type SendLimits struct {
	MessagesHour, MessagesDay int // default 200, 1000
	NewRcptsHour, NewRcptsDay int // default 100, 300

	Now func() time.Time // tests; nil is time.Now
	// Override, if set, gives an account's own message limits (per hour,
	// per day) when it has some (youju user set --send-limit).
	Override func(acct int64) (hour, day int, ok bool)

	// OnError, if set, hears of a failure to journal the counters
	// (sendstate.go); the counts in memory stand.
	OnError func(error)
	// State, if set, keeps the counters and known recipients in the store
	// shared by every node (sendshared.go) instead of the journal: an
	// account is limited by what it sent through all of them.
	State store.StateStore

	mu      sync.Mutex
	accts   map[int64]*sendState
	journal *sendJournal // nil: the counters live in memory only
}

type sendState struct {
	alerted time.Time            // the last alert to the postmaster
	sent    []time.Time          // one per message, the last day
	fresh   []time.Time          // one per new recipient, the last day
	known   map[string]time.Time // recipient -> last sent, 30 days, bounded
}

const (
	knownFor      = 30 * 24 * time.Hour
	maxKnownRcpts = 5000
)

func (l *SendLimits) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func limit(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func countSince(ts []time.Time, t time.Time) int {
	n := 0
	for i := len(ts) - 1; i >= 0 && ts[i].After(t); i-- {
		n++
	}
	return n
}

func (l *SendLimits) state(acct int64) *sendState {
	if l.accts == nil {
		l.accts = map[int64]*sendState{}
	}
	s := l.accts[acct]
	if s == nil {
		s = &sendState{known: map[string]time.Time{}}
		l.accts[acct] = s
	}
	return s
}

// A Grant is one message that Allow counted against its account's
// limits: Sent confirms it once the message is accepted, Cancel gives
// it back when it is not. Checking and counting are one step, so that
// simultaneous messages (one node's sessions, or several nodes) cannot
// each pass at the limit's last unit.
type Grant struct {
	acct  int64
	at    time.Time
	fresh int  // new recipients counted
	none  bool // not counted (the shared store could not be reached)
}

// Allow reports whether acct may send one more message to rcpts (remote
// addresses) and, if so, counts it at once (the returned Grant, for
// Sent or Cancel); if not, the reason names the limit reached.
func (l *SendLimits) Allow(acct int64, rcpts []string) (*Grant, bool, string) {
	if l.State != nil {
		return l.allowShared(acct, rcpts)
	}
	now := l.now()
	hour, day := now.Add(-time.Hour), now.Add(-24*time.Hour)
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.state(acct)
	s.prune(day, now)
	fresh := 0
	for _, r := range rcpts {
		if t, ok := s.known[strings.ToLower(r)]; !ok || now.Sub(t) > knownFor {
			fresh++
		}
	}
	ok, why := l.verdict(acct, sendCounts{countSince(s.sent, hour), len(s.sent), countSince(s.fresh, hour), len(s.fresh)}, fresh, nil)
	if !ok {
		return nil, false, why
	}
	s.sent = insertTime(s.sent, now)
	for range fresh {
		s.fresh = insertTime(s.fresh, now)
	}
	return &Grant{acct: acct, at: now, fresh: fresh}, true, ""
}

// sendCounts is what an account sent: messages and new recipients in
// the last hour and the last day.
type sendCounts struct {
	msgHour, msgDay, freshHour, freshDay int
}

// verdict applies the limits to what acct sent plus one message to
// fresh new recipients; own, if not nil, are the account's own message
// limits (else Override gives them).
func (l *SendLimits) verdict(acct int64, c sendCounts, fresh int, own *[2]int) (bool, string) {
	mh, md := limit(l.MessagesHour, 200), limit(l.MessagesDay, 1000)
	if own != nil {
		mh, md = own[0], own[1]
	} else if l.Override != nil {
		if h, d, ok := l.Override(acct); ok {
			mh, md = h, d
		}
	}
	check := func(n, lim int, what string) string {
		if lim > 0 && n > lim {
			return what
		}
		return ""
	}
	for _, why := range []string{
		check(c.msgHour+1, mh, "messages per hour"),
		check(c.msgDay+1, md, "messages per day"),
		check(c.freshHour+fresh, limit(l.NewRcptsHour, 100), "new recipients per hour"),
		check(c.freshDay+fresh, limit(l.NewRcptsDay, 300), "new recipients per day"),
	} {
		if why != "" {
			return false, why
		}
	}
	return true, ""
}

// Sent records that the message of g went out to rcpts: they become
// known correspondents, and the journal keeps the counts (fsynced before
// the message is acknowledged).
func (l *SendLimits) Sent(g *Grant, rcpts []string) {
	if g == nil || g.none {
		return
	}
	if l.State != nil {
		l.sentShared(g, rcpts)
		return
	}
	now := l.now()
	lines := []string{journalLine('S', g.acct, g.at, "")}
	for range g.fresh {
		lines = append(lines, journalLine('F', g.acct, g.at, ""))
	}
	l.mu.Lock()
	s := l.state(g.acct)
	for _, r := range rcpts {
		r = strings.ToLower(r)
		s.known[r] = now
		if !strings.ContainsAny(r, " \r\n") && len(r) < maxJournalLine/2 {
			lines = append(lines, journalLine('K', g.acct, now, r))
		}
	}
	l.mu.Unlock()
	l.journalErr(l.record(lines))
}

// Cancel gives back the count of g, whose message was not accepted
// after all (its delivery failed): the client will send it again.
func (l *SendLimits) Cancel(g *Grant) {
	if g == nil || g.none {
		return
	}
	if l.State != nil {
		l.cancelShared(g)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.state(g.acct)
	s.sent = removeTime(s.sent, g.at, 1)
	s.fresh = removeTime(s.fresh, g.at, g.fresh)
}

// removeTime removes n entries equal to t from the sorted ts.
func removeTime(ts []time.Time, t time.Time, n int) []time.Time {
	for i := len(ts) - 1; i >= 0 && n > 0 && !ts[i].Before(t); i-- {
		if ts[i].Equal(t) {
			ts = append(ts[:i], ts[i+1:]...)
			n--
		}
	}
	return ts
}

// prune drops what is older than a day (known recipients: 30 days, and
// the oldest beyond maxKnownRcpts).
func (s *sendState) prune(day, now time.Time) {
	drop := func(ts []time.Time) []time.Time {
		i := 0
		for i < len(ts) && !ts[i].After(day) {
			i++
		}
		return ts[i:]
	}
	s.sent, s.fresh = drop(s.sent), drop(s.fresh)
	if len(s.known) > maxKnownRcpts {
		for r, t := range s.known {
			if now.Sub(t) > knownFor || len(s.known) > maxKnownRcpts {
				delete(s.known, r)
			}
		}
	}
}

// ShouldAlert reports whether the postmaster is to be told that acct
// reached a limit: once an hour at most.
func (l *SendLimits) ShouldAlert(acct int64) bool {
	if l.State != nil {
		return l.alertShared(acct)
	}
	now := l.now()
	l.mu.Lock()
	s := l.state(acct)
	if now.Sub(s.alerted) < time.Hour {
		l.mu.Unlock()
		return false
	}
	s.alerted = now
	l.mu.Unlock()
	l.journalErr(l.record([]string{journalLine('A', acct, now, "")}))
	return true
}
