package spam

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/youju/youju/internal/store"
)

// Send limits in the shared store (SendLimits.State), so that an
// attacker cannot send N times the limit through N nodes. Keys:
//
//	send/ACCOUNT/w          the account's sending window (sendwindow.go):
//	                        messages and new recipients per minute, the
//	                        last day
//	send/ACCOUNT/k/ADDRESS  a known recipient: the Unix second last
//	                        written to, expiring after 30 days
//	send/ACCOUNT/alert      the Unix second of the last alert
//	send/ACCOUNT/limit      the account's own message limits, "HOUR/DAY"
//	                        (youju user set --send-limit); they replace
//	                        Override
//
// Allow checks and counts in one step: it reads the window with its
// version, applies the limits, and writes the window back with the
// message added only if the version is still the one read (PutState's
// compare-and-swap); a node that lost the race reads again. So
// simultaneous messages on several nodes never pass the limit together.
// A store that cannot be reached lets the message go and reports the
// error (OnError): the limits are a safeguard, and without the store no
// mail moves anyway.

func sendKey(acct int64, rest string) string {
	return "send/" + strconv.FormatInt(acct, 10) + "/" + rest
}

func (l *SendLimits) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), sharedTimeout)
}

// knownShared returns the recipients of rcpts (lower-cased) acct wrote
// to within knownFor, with when it last did, and the account's own
// limits if it has some (read in the same step).
func (l *SendLimits) knownShared(ctx context.Context, acct int64, rcpts []string, now time.Time) (map[string]time.Time, *[2]int, error) {
	keys := make([]string, len(rcpts), len(rcpts)+1)
	for i, r := range rcpts {
		keys[i] = sendKey(acct, "k/"+strings.ToLower(r))
	}
	got, err := l.State.GetState(ctx, append(keys, sendKey(acct, "limit"))...)
	if err != nil {
		return nil, nil, err
	}
	var own *[2]int
	if e, ok := got[sendKey(acct, "limit")]; ok {
		h, d, ok := strings.Cut(string(e.Value), "/")
		hour, err1 := strconv.Atoi(h)
		day, err2 := strconv.Atoi(d)
		if ok && err1 == nil && err2 == nil {
			own = &[2]int{hour, day}
		}
	}
	out := map[string]time.Time{}
	for i, r := range rcpts {
		if e, ok := got[keys[i]]; ok {
			sec, _ := strconv.ParseInt(string(e.Value), 10, 64)
			if t := time.Unix(sec, 0); now.Sub(t) <= knownFor {
				out[strings.ToLower(r)] = t
			}
		}
	}
	return out, own, nil
}

// SetSharedSendLimit sets (or with 0, 0 removes) acct's own message
// limits in the shared store, read by every node at its next Allow.
func SetSharedSendLimit(ctx context.Context, st store.StateStore, acct int64, hour, day int) error {
	if hour == 0 && day == 0 {
		return st.DeleteState(ctx, sendKey(acct, "limit"))
	}
	_, err := st.PutState(ctx, sendKey(acct, "limit"), []byte(strconv.Itoa(hour)+"/"+strconv.Itoa(day)), -1, 0)
	return err
}

func (l *SendLimits) allowShared(acct int64, rcpts []string) (*Grant, bool, string) {
	ctx, cancel := l.ctx()
	defer cancel()
	now := l.now()
	known, own, err := l.knownShared(ctx, acct, rcpts, now)
	if err != nil {
		l.journalErr(err)
		return &Grant{none: true}, true, ""
	}
	fresh := 0
	for _, r := range rcpts {
		if _, ok := known[strings.ToLower(r)]; !ok {
			fresh++
		}
	}
	why := ""
	err = l.updateWindow(ctx, acct, now, func(w sendWindow) (sendWindow, bool) {
		var ok bool
		if ok, why = l.verdict(acct, w.counts(now), fresh, own); !ok {
			return w, false
		}
		return w.add(now, 1, int64(fresh)), true
	})
	switch {
	case err != nil:
		l.journalErr(err)
		return &Grant{none: true}, true, ""
	case why != "":
		return nil, false, why
	}
	return &Grant{acct: acct, at: now, fresh: fresh}, true, ""
}

// updateWindow applies change to acct's window until its
// compare-and-swap wins: change returns the new window, or false to
// leave it as it is.
func (l *SendLimits) updateWindow(ctx context.Context, acct int64, now time.Time, change func(sendWindow) (sendWindow, bool)) error {
	key := sendKey(acct, "w")
	for try := 0; ; try++ {
		got, err := l.State.GetState(ctx, key)
		if err != nil {
			return err
		}
		e := got[key]
		w, write := change(parseSendWindow(e.Value).prune(now))
		if !write {
			return nil
		}
		ok, err := l.State.PutState(ctx, key, w.encode(), e.Version, sendWindowTTL)
		if err != nil || ok {
			return err
		}
		// Another message of the account came first: read its count.
		// The wait grows and is random, so that many writers spread.
		d := time.Duration(rand.Int64N(int64(time.Millisecond) << min(try, 6)))
		select {
		case <-ctx.Done():
			return fmt.Errorf("spam: send window of account %d: %w", acct, ctx.Err())
		case <-time.After(d):
		}
	}
}

func (l *SendLimits) sentShared(g *Grant, rcpts []string) {
	ctx, cancel := l.ctx()
	defer cancel()
	now := l.now()
	known, _, err := l.knownShared(ctx, g.acct, rcpts, now)
	if err != nil {
		l.journalErr(err)
		return
	}
	stamp := []byte(strconv.FormatInt(now.Unix(), 10))
	for _, r := range rcpts {
		r = strings.ToLower(r)
		// A known recipient's stamp is renewed at most daily: a write
		// per recipient per day, not per message.
		if t, ok := known[r]; !ok || now.Sub(t) > 24*time.Hour {
			if _, err := l.State.PutState(ctx, sendKey(g.acct, "k/"+r), stamp, -1, knownFor); err != nil {
				l.journalErr(err)
			}
			known[r] = now
		}
	}
}

func (l *SendLimits) cancelShared(g *Grant) {
	ctx, cancel := l.ctx()
	defer cancel()
	l.journalErr(l.updateWindow(ctx, g.acct, l.now(), func(w sendWindow) (sendWindow, bool) {
		return w.add(g.at, -1, -int64(g.fresh)), true
	}))
}

func (l *SendLimits) alertShared(acct int64) bool {
	ctx, cancel := l.ctx()
	defer cancel()
	now := l.now()
	key := sendKey(acct, "alert")
	got, err := l.State.GetState(ctx, key)
	if err != nil {
		l.journalErr(err)
		return false
	}
	e := got[key]
	if sec, err := strconv.ParseInt(string(e.Value), 10, 64); err == nil && now.Sub(time.Unix(sec, 0)) < time.Hour {
		return false
	}
	// The version read: of two nodes alerting at once, one does.
	ok, err := l.State.PutState(ctx, key, []byte(strconv.FormatInt(now.Unix(), 10)), e.Version, 0)
	l.journalErr(err)
	return ok
}

func (l *SendLimits) knowsShared(acct int64, addr string) bool {
	ctx, cancel := l.ctx()
	defer cancel()
	known, _, err := l.knownShared(ctx, acct, []string{addr}, l.now())
	if err != nil {
		l.journalErr(err)
		return false
	}
	_, ok := known[addr]
	return ok
}
