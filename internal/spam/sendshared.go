package spam

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/youju/youju/internal/store"
)

// Send limits in the shared store (SendLimits.State), so that an
// attacker cannot send N times the limit through N nodes. Keys:
//
//	send/ACCOUNT/m          events: one per message sent, kept a day
//	send/ACCOUNT/f          events: one per new recipient, kept a day
//	send/ACCOUNT/k/ADDRESS  a known recipient: the Unix second last
//	                        written to, expiring after 30 days
//	send/ACCOUNT/alert      the Unix second of the last alert
//	send/ACCOUNT/limit      the account's own message limits, "HOUR/DAY"
//	                        (youju user set --send-limit); they replace
//	                        Override
//
// Allow and Sent are two steps, as on one node: messages accepted at the
// same moment on several nodes may each pass at the limit's last unit
// (at most one extra message per node at once). A store that cannot be
// reached lets the message go and reports the error (OnError): the
// limits are a safeguard, and without the store no mail moves anyway.

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

func (l *SendLimits) allowShared(acct int64, rcpts []string) (bool, string) {
	ctx, cancel := l.ctx()
	defer cancel()
	now := l.now()
	known, own, err := l.knownShared(ctx, acct, rcpts, now)
	if err != nil {
		l.journalErr(err)
		return true, ""
	}
	fresh := 0
	for _, r := range rcpts {
		if _, ok := known[strings.ToLower(r)]; !ok {
			fresh++
		}
	}
	keys := []string{sendKey(acct, "m"), sendKey(acct, "f")}
	h, err := l.State.CountEvents(ctx, keys, now.Add(-time.Hour))
	if err != nil {
		l.journalErr(err)
		return true, ""
	}
	d, err := l.State.CountEvents(ctx, keys, now.Add(-24*time.Hour))
	if err != nil {
		l.journalErr(err)
		return true, ""
	}
	return l.verdict(acct, sendCounts{int(h[0]), int(d[0]), int(h[1]), int(d[1])}, fresh, own)
}

func (l *SendLimits) sentShared(acct int64, rcpts []string) {
	ctx, cancel := l.ctx()
	defer cancel()
	now := l.now()
	known, _, err := l.knownShared(ctx, acct, rcpts, now)
	if err != nil {
		l.journalErr(err)
		return
	}
	fresh := int64(0)
	stamp := []byte(strconv.FormatInt(now.Unix(), 10))
	for _, r := range rcpts {
		r = strings.ToLower(r)
		t, ok := known[r]
		if !ok {
			fresh++
		}
		// A known recipient's stamp is renewed at most daily: a write
		// per recipient per day, not per message.
		if !ok || now.Sub(t) > 24*time.Hour {
			if _, err := l.State.PutState(ctx, sendKey(acct, "k/"+r), stamp, -1, knownFor); err != nil {
				l.journalErr(err)
			}
			known[r] = now
		}
	}
	l.journalErr(l.State.AddEvent(ctx, sendKey(acct, "m"), 1, now, 24*time.Hour))
	if fresh > 0 {
		l.journalErr(l.State.AddEvent(ctx, sendKey(acct, "f"), fresh, now, 24*time.Hour))
	}
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
