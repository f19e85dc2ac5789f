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

// Allow reports whether acct may send one more message to rcpts (remote
// addresses); if not, the reason names the limit reached.
func (l *SendLimits) Allow(acct int64, rcpts []string) (bool, string) {
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
	return l.verdict(acct, sendCounts{countSince(s.sent, hour), len(s.sent), countSince(s.fresh, hour), len(s.fresh)}, fresh, nil)
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

// Sent records a message acct sent to rcpts.
func (l *SendLimits) Sent(acct int64, rcpts []string) {
	if l.State != nil {
		l.sentShared(acct, rcpts)
		return
	}
	now := l.now()
	l.mu.Lock()
	s := l.state(acct)
	s.sent = append(s.sent, now)
	lines := []string{journalLine('S', acct, now, "")}
	for _, r := range rcpts {
		r = strings.ToLower(r)
		if t, ok := s.known[r]; !ok || now.Sub(t) > knownFor {
			s.fresh = append(s.fresh, now)
			lines = append(lines, journalLine('F', acct, now, ""))
		}
		s.known[r] = now
		if !strings.ContainsAny(r, " \r\n") && len(r) < maxJournalLine/2 {
			lines = append(lines, journalLine('K', acct, now, r))
		}
	}
	l.mu.Unlock()
	l.journalErr(l.record(lines))
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
