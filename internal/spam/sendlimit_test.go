package spam

import (
	"fmt"
	"testing"
	"time"
)

func TestSendLimits(t *testing.T) {
	testSendLimits(t, func(l *SendLimits) *SendLimits { return l })
	// Unlimited.
	u := &SendLimits{MessagesHour: -1, MessagesDay: -1, NewRcptsHour: -1, NewRcptsDay: -1}
	for i := 0; i < 2000; i++ {
		u.Sent(3, []string{fmt.Sprint(i, "@x.example")})
	}
	if ok, _ := u.Allow(3, []string{"new@x.example"}); !ok {
		t.Fatal("negative limits limit")
	}
}

// testSendLimits runs the limits' rules on the SendLimits that with
// makes of l (in memory, or with a shared store).
func testSendLimits(t *testing.T, with func(*SendLimits) *SendLimits) {
	now := time.Now().Add(-3 * 24 * time.Hour).Truncate(time.Second)
	l := with(&SendLimits{MessagesHour: 5, NewRcptsHour: 3, NewRcptsDay: 4, Now: func() time.Time { return now }})
	// Known correspondents: messages count, new recipients do not.
	for i := 0; i < 5; i++ {
		if ok, why := l.Allow(1, []string{"a@x.example"}); !ok {
			t.Fatalf("message %d: %s", i, why)
		}
		l.Sent(1, []string{"a@x.example"})
	}
	if ok, why := l.Allow(1, []string{"a@x.example"}); ok || why != "messages per hour" {
		t.Fatalf("6th message: %v %q", ok, why)
	}
	if ok, _ := l.Allow(2, []string{"a@x.example"}); !ok {
		t.Fatal("another account is limited")
	}
	now = now.Add(61 * time.Minute)
	// A burst to new recipients.
	if ok, why := l.Allow(1, []string{"b@x.example", "c@x.example", "d@x.example"}); !ok {
		t.Fatalf("3 new: %s", why)
	}
	l.Sent(1, []string{"b@x.example", "c@x.example", "d@x.example"})
	if ok, why := l.Allow(1, []string{"e@x.example"}); ok || why != "new recipients per hour" {
		t.Fatalf("4th new: %v %q", ok, why)
	}
	if ok, _ := l.Allow(1, []string{"B@x.example"}); !ok {
		t.Fatal("a known recipient refused")
	}
	now = now.Add(61 * time.Minute)
	l.Sent(1, []string{"e@x.example"})
	if ok, why := l.Allow(1, []string{"f@x.example"}); ok || why != "new recipients per day" {
		t.Fatalf("5th new in a day: %v %q", ok, why)
	}
	now = now.Add(24 * time.Hour)
	if ok, why := l.Allow(1, []string{"f@x.example"}); !ok {
		t.Fatalf("next day: %s", why)
	}
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
	l.Sent(5, []string{"a@x.example"})
	if ok, why := l.Allow(5, []string{"a@x.example"}); ok || why != "messages per hour" {
		t.Fatalf("own limit: %v %q", ok, why)
	}
	l.Sent(6, []string{"a@x.example"})
	if ok, _ := l.Allow(6, []string{"a@x.example"}); !ok {
		t.Fatal("another account got the override")
	}
	if err := SetSendLimit(path, 5, 0, 0); err != nil {
		t.Fatal(err)
	}
	if m, _ := readSendLimits(path); len(m) != 0 {
		t.Fatalf("removed: %v", m)
	}
}
