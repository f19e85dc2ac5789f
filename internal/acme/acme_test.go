package acme

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

// testLogger writes the manager's log into the test's.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlog struct{ t *testing.T }

func (w tlog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func TestRenewAt(t *testing.T) {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got, want := RenewAt(nb, nb.Add(90*24*time.Hour)), nb.Add(60*24*time.Hour); !got.Equal(want) {
		t.Errorf("90-day certificate renewed at %v, want %v", got, want)
	}
	if got, want := RenewAt(nb, nb.Add(6*24*time.Hour)), nb.Add(4*24*time.Hour); !got.Equal(want) {
		t.Errorf("6-day certificate renewed at %v, want %v", got, want)
	}
}

func TestBackoff(t *testing.T) {
	lo, hi := 10*time.Minute, 8*time.Hour
	prev := time.Duration(0)
	for n := 1; n <= 12; n++ {
		d := Backoff(n, lo, hi)
		want := min(lo<<(n-1), hi)
		if d > want || d < want-want/10 {
			t.Errorf("failure %d: wait %v, want %v less at most a tenth", n, d, want)
		}
		if n > 1 && n < 7 && d <= prev {
			t.Errorf("failure %d: wait %v did not grow from %v", n, d, prev)
		}
		prev = d
	}
}

func TestNames(t *testing.T) {
	got := strings.Join(Names("Mail.Example.org.", []string{"example.org", "b.example"}), " ")
	want := "mail.example.org autoconfig.example.org autodiscover.example.org mta-sts.example.org autoconfig.b.example autodiscover.b.example mta-sts.b.example"
	if got != want {
		t.Errorf("Names = %s\nwant    %s", got, want)
	}
}

func TestPublicName(t *testing.T) {
	for name, want := range map[string]bool{
		"mail.youju.dev": true, "mx.qq.com": true, "mail.example.cn.": true,
		"localhost": false, "mail": false, "127.0.0.1": false, "::1": false,
		"mail.example.test": false, "a.localhost": false, "mail.example.com": false, "printer.local": false,
	} {
		if got, why := PublicName(name); got != want {
			t.Errorf("PublicName(%q) = %v (%s), want %v", name, got, why, want)
		}
	}
}
