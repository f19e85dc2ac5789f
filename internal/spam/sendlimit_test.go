package spam

import (
	"fmt"
	"testing"
	"time"
)

// send is a message that passes the limits and goes out: Allow, then
// Sent with its grant.
func send(t testing.TB, l *SendLimits, acct int64, rcpts ...string) {
	t.Helper()
	g, ok, why := l.Allow(acct, rcpts)
	if !ok {
		t.Fatalf("account %d to %v: %s", acct, rcpts, why)
	}
	l.Sent(g, rcpts)
}

// refused reports the limit that refuses acct's next message to rcpts
// ("" if it passes, and then it is given back).
func refused(l *SendLimits, acct int64, rcpts ...string) string {
	g, ok, why := l.Allow(acct, rcpts)
	if ok {
		l.Cancel(g)
	}
	return why
}

func TestSendLimits(t *testing.T) {
	testSendLimits(t, func(l *SendLimits) *SendLimits { return l })
	// Unlimited.
	u := &SendLimits{MessagesHour: -1, MessagesDay: -1, NewRcptsHour: -1, NewRcptsDay: -1}
	for i := 0; i < 2000; i++ {
		send(t, u, 3, fmt.Sprint(i, "@x.example"))
	}
	if why := refused(u, 3, "new@x.example"); why != "" {
		t.Fatalf("negative limits limit: %s", why)
	}
}

// testSendLimits runs the limits' rules on the SendLimits that with
// makes of l (in memory, or with a shared store).
func testSendLimits(t *testing.T, with func(*SendLimits) *SendLimits) {
	now := time.Now().Add(-3 * 24 * time.Hour).Truncate(time.Second)
	l := with(&SendLimits{MessagesHour: 5, NewRcptsHour: 3, NewRcptsDay: 4, Now: func() time.Time { return now }})
	// Known correspondents: messages count, new recipients do not.
	for range 5 {
		send(t, l, 1, "a@x.example")
	}
	if why := refused(l, 1, "a@x.example"); why != "messages per hour" {
		t.Fatalf("6th message: %q", why)
	}
	if why := refused(l, 2, "a@x.example"); why != "" {
		t.Fatalf("another account is limited: %s", why)
	}
	now = now.Add(61 * time.Minute)
	// A burst to new recipients.
	send(t, l, 1, "b@x.example", "c@x.example", "d@x.example")
	if why := refused(l, 1, "e@x.example"); why != "new recipients per hour" {
		t.Fatalf("4th new: %q", why)
	}
	if why := refused(l, 1, "B@x.example"); why != "" {
		t.Fatalf("a known recipient refused: %s", why)
	}
	// A message that was counted and then not sent (its delivery
	// failed) is given back: the 3 new of the hour stand, not more.
	g, ok, _ := l.Allow(1, []string{"b@x.example"})
	if !ok {
		t.Fatal("known recipient refused")
	}
	l.Cancel(g)
	now = now.Add(61 * time.Minute)
	// a (the first message) and b, c, d: 4 new recipients today.
	if why := refused(l, 1, "e@x.example"); why != "new recipients per day" {
		t.Fatalf("5th new in a day: %q", why)
	}
	// A day and a minute later (the shared store counts by the minute).
	now = now.Add(24*time.Hour + time.Minute)
	send(t, l, 1, "e@x.example", "f@x.example")
	// The postmaster is alerted once an hour at most.
	if !l.ShouldAlert(1) || l.ShouldAlert(1) {
		t.Fatal("alert: want once")
	}
	now = now.Add(time.Hour)
	if !l.ShouldAlert(1) {
		t.Fatal("alert: want again after an hour")
	}
	if !l.Knows(1, "B@x.example") || l.Knows(1, "nobody@x.example") || l.Knows(2, "b@x.example") {
		t.Fatal("known correspondents")
	}
}

func TestSendLimitFile(t *testing.T) {
	path := t.TempDir() + "/spam/sendlimits.json"
	if err := SetSendLimit(path, 5, 1, 10); err != nil {
		t.Fatal(err)
	}
	f := &SendLimitFile{Path: path}
	l := &SendLimits{Override: f.Lookup}
	send(t, l, 5, "a@x.example")
	if why := refused(l, 5, "a@x.example"); why != "messages per hour" {
		t.Fatalf("own limit: %q", why)
	}
	send(t, l, 6, "a@x.example")
	if why := refused(l, 6, "a@x.example"); why != "" {
		t.Fatalf("another account got the override: %s", why)
	}
	if err := SetSendLimit(path, 5, 0, 0); err != nil {
		t.Fatal(err)
	}
	if m, _ := readSendLimits(path); len(m) != 0 {
		t.Fatalf("removed: %v", m)
	}
}
