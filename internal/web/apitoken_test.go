package web

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"testing"

	"github.com/youju/youju/internal/maillog"
)

// fromAddr returns a copy of c whose connections come from local, another
// loopback address (Linux answers all of 127.0.0.0/8): another client IP
// for the throttle.
func fromAddr(t *testing.T, c *http.Client, local string) *http.Client {
	t.Helper()
	tr := c.Transport.(*http.Transport).Clone()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	tr.DialContext = d.DialContext
	cc := *c
	cc.Transport = tr
	return &cc
}

// TestAPITokenThrottle: bad bearer tokens count against the common
// sign-in throttle of the client's address. Once it closes (the test
// env's MaxFailuresPerIP is 5 distinct failures), the API answers 429
// with Retry-After, even to a good token from there, and the form
// sign-in from that address is refused too; a good token from another
// address still works; a repeated bad token counts once; each refusal is
// an auth_failed line of the mail log.
func TestAPITokenThrottle(t *testing.T) {
	events := NewEventLog(nil)
	maillog.SetLogger(slog.New(events))
	defer maillog.SetLogger(nil)
	e := newAdminEnv(t)
	good, _ := e.token(t, e.acct.ID, "ci")
	c := client(t, e.ts)
	for range 3 { // the same revoked token from a cron job counts once
		if got := e.call(t, c, "GET", "health", nil, nil, bearer(apiTokenPrefix+"revoked")...); got != 401 {
			t.Fatalf("a bad token: %d, want 401", got)
		}
	}
	for i := range 4 {
		if got := e.call(t, c, "GET", "health", nil, nil, bearer(fmt.Sprintf("%sguess-%d", apiTokenPrefix, i))...); got != 401 {
			t.Fatalf("bad token %d: %d, want 401", i, got)
		}
	}
	req, _ := http.NewRequest("GET", e.ts.URL+"/api/v1/health", nil)
	req.Header.Set("Authorization", "Bearer "+good)
	resp, _ := do(t, c, req)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a good token from the throttled address: %d, want 429", resp.StatusCode)
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || secs <= 0 {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	if resp, _ := signIn(t, client(t, e.ts), e.ts.URL, bobUser, bobPassword); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("form sign-in from the throttled address: %d, want 429", resp.StatusCode)
	}
	other := fromAddr(t, client(t, e.ts), "127.0.0.2")
	if got := e.call(t, other, "GET", "health", nil, nil, bearer(good)...); got != 200 {
		t.Fatalf("a good token from another address: %d, want 200", got)
	}
	var refused, throttled int
	for _, ev := range events.Recent(100, maillog.EventAuthFailed) {
		if ev.Fields["mech"] == "bearer" && ev.Fields["remote"] == "127.0.0.1" {
			refused++
			if ev.Fields["text"] == "throttled" {
				throttled++
			}
		}
	}
	if refused != 8 || throttled != 1 {
		t.Errorf("mail log: %d bearer refusals (%d throttled), want 8 (1)", refused, throttled)
	}
}
