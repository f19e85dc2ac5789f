package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/store"
)

func TestChangePassword(t *testing.T) {
	e := newEnv(t, nil)
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	_, body := signIn(t, c, ts.URL, testUser, testPassword)
	other := client(t, ts) // a second browser, signed out by the change
	signIn(t, other, ts.URL, testUser, testPassword)
	csrf := csrfOf(t, body)
	for _, tc := range []struct {
		form   url.Values
		status int
		text   string
	}{
		{url.Values{"old": {"wrong one!"}, "new": {"a brand new passphrase"}, "again": {"a brand new passphrase"}}, 403, "current password is wrong"},
		{url.Values{"old": {testPassword}, "new": {"a brand new passphrase"}, "again": {"another passphrase"}}, 400, "differ"},
		{url.Values{"old": {testPassword}, "new": {"short"}, "again": {"short"}}, 400, "at least 10"},
		{url.Values{"old": {testPassword}, "new": {"1qaz2wsx3edc"}, "again": {"1qaz2wsx3edc"}}, 400, "most common"},
		{url.Values{"old": {testPassword}, "new": {"a brand new passphrase"}, "again": {"a brand new passphrase"}, "csrf": {"forged"}}, 403, "form expired"},
	} {
		if tc.form.Get("csrf") == "" {
			tc.form.Set("csrf", csrf)
		}
		resp, body := postForm(t, c, ts.URL+"/settings/password", tc.form)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.text) {
			t.Errorf("%v: %d, want %d with %q", tc.form, resp.StatusCode, tc.status, tc.text)
		}
	}
	if a, _ := e.st.AccountByID(context.Background(), e.acct.ID); !auth.VerifyPassword(a.PasswordHash, testPassword) {
		t.Fatal("a refused change changed the password")
	}
	resp, _ := postForm(t, c, ts.URL+"/settings/password", url.Values{"csrf": {csrf}, "old": {testPassword}, "new": {"a brand new passphrase"}, "again": {"a brand new passphrase"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/settings?n=notice_password" {
		t.Fatalf("change: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := get(t, c, ts.URL+"/settings?n=notice_password"); resp.StatusCode != 200 || !strings.Contains(body, "Password changed") {
		t.Errorf("this session after the change: %d", resp.StatusCode)
	}
	if resp, _ := get(t, other, ts.URL+"/settings"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the other session survived the password change: %d", resp.StatusCode)
	}
	ctx := context.Background()
	if _, err := e.auth.Login(ctx, auth.Request{Username: testUser, Password: "a brand new passphrase", Service: store.ServiceIMAP}); err != nil {
		t.Errorf("IMAP login with the new password: %v", err)
	}
	if _, err := e.auth.Login(ctx, auth.Request{Username: testUser, Password: testPassword, Service: store.ServiceIMAP}); err == nil {
		t.Error("the old password still works")
	}
}

var totpSecretRE = regexp.MustCompile(`<code id="totp-secret">([A-Z2-7]+)</code>`)

func TestTOTPSignIn(t *testing.T) {
	e := newEnv(t, nil)
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	_, body := signIn(t, c, ts.URL, testUser, testPassword)
	csrf := csrfOf(t, body)
	_, body = postForm(t, c, ts.URL+"/settings/totp/setup", url.Values{"csrf": {csrf}})
	m := totpSecretRE.FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, `href="otpauth://totp/`) {
		t.Fatalf("no secret on the setup page:\n%s", body)
	}
	secret := m[1]
	if resp, _ := postForm(t, c, ts.URL+"/settings/totp/enable", url.Values{"csrf": {csrf}, "secret": {secret}, "code": {"000000"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("enable with a wrong code: %d", resp.StatusCode)
	}
	now := e.clock.Now()
	code, _ := auth.TOTPCode(secret, now)
	if resp, _ := postForm(t, c, ts.URL+"/settings/totp/enable", url.Values{"csrf": {csrf}, "secret": {secret}, "code": {code}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("enable: %d", resp.StatusCode)
	}

	// A new browser: the password alone gives a pending session only.
	b := client(t, ts)
	resp, _ := signIn(t, b, ts.URL, testUser, testPassword)
	if resp.StatusCode != http.StatusSeeOther && resp.Request.URL.Path != "/settings" {
		t.Logf("sign-in answered %d", resp.StatusCode)
	}
	if resp, _ := get(t, b, ts.URL+"/settings"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("settings before the code: %d", resp.StatusCode)
	}
	_, body = get(t, b, ts.URL+"/login/totp")
	// The code used to enable it is refused (RFC 6238 §5.2: not twice).
	if resp, _ := postForm(t, b, ts.URL+"/login/totp", url.Values{"csrf": {csrfOf(t, body)}, "code": {code}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("replayed code: %d", resp.StatusCode)
	}
	// A wrong code ended the pending session: the code page sends back.
	if resp, _ := get(t, b, ts.URL+"/login/totp"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("code page after a wrong code: %d", resp.StatusCode)
	}
	e.clock.Add(30e9)
	next, _ := auth.TOTPCode(secret, e.clock.Now())
	signIn(t, b, ts.URL, testUser, testPassword)
	_, body = get(t, b, ts.URL+"/login/totp")
	resp, _ = postForm(t, b, ts.URL+"/login/totp", url.Values{"csrf": {csrfOf(t, body)}, "code": {next}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/settings" {
		t.Fatalf("right code: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := get(t, b, ts.URL+"/settings"); resp.StatusCode != 200 || !strings.Contains(body, `id="totp-state"`) {
		t.Fatalf("settings after the code: %d", resp.StatusCode)
	}
	// Turning it off asks for the password.
	_, body = get(t, b, ts.URL+"/settings")
	if resp, _ := postForm(t, b, ts.URL+"/settings/totp/disable", url.Values{"csrf": {csrfOf(t, body)}, "password": {"nope nope nope"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("disable with a wrong password: %d", resp.StatusCode)
	}
	if resp, _ := postForm(t, b, ts.URL+"/settings/totp/disable", url.Values{"csrf": {csrfOf(t, body)}, "password": {testPassword}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", resp.StatusCode)
	}
	if _, _, err := e.st.WebTOTP(context.Background(), e.acct.ID); err != store.ErrNotFound {
		t.Errorf("TOTP secret after disable: %v", err)
	}
}

// Two web handlers over one store (two nodes of a cluster): a session
// made on one is served by the other, and a sign-out on one ends it on
// both.
func TestSessionsSharedThroughStore(t *testing.T) {
	e := newEnv(t, nil)
	ts1 := httptest.NewTLSServer(e.h)
	defer ts1.Close()
	h2 := New(e.srv.opt) // same Options: same store, another process's memory
	ts2 := httptest.NewTLSServer(h2)
	defer ts2.Close()
	c := client(t, ts1)
	_, body := signIn(t, c, ts1.URL, testUser, testPassword)
	u1, _ := url.Parse(ts1.URL)
	u2, _ := url.Parse(ts2.URL)
	// The cookie jar is per host:port; copy the cookie to the second node.
	for _, ck := range c.Jar.Cookies(u1) {
		c.Jar.SetCookies(u2, []*http.Cookie{ck})
	}
	if resp, body := get(t, c, ts2.URL+"/settings"); resp.StatusCode != 200 || !strings.Contains(body, testUser) {
		t.Fatalf("second node: %d", resp.StatusCode)
	}
	var old *http.Cookie
	for _, ck := range c.Jar.Cookies(u1) {
		if ck.Name == "__Host-youju-session" {
			old = ck
		}
	}
	if old == nil {
		t.Fatal("no session cookie")
	}
	if resp, _ := postForm(t, c, ts2.URL+"/logout", url.Values{"csrf": {csrfOf(t, body)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout on the second node: %d", resp.StatusCode)
	}
	// The old cookie, replayed on the first node, no longer signs in.
	req, _ := http.NewRequest("GET", ts1.URL+"/settings", nil)
	req.AddCookie(old)
	noRedirect := *ts1.Client()
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if resp, _ := do(t, &noRedirect, req); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first node after logout on the second: %d", resp.StatusCode)
	}
	if _, err := e.st.WebSession(context.Background(), sessionKey(old.Value)); err != store.ErrNotFound {
		t.Errorf("the session row after logout: %v", err)
	}
}

// The serve command hands the web the metered store: sessions must still
// go to the backend's table, not to memory.
func TestWebSessionsThroughMeteredStore(t *testing.T) {
	e := newEnv(t, nil)
	m := store.Metered(e.st, func(string, time.Duration) {})
	if ws := webSessionsOf(m); ws != store.WebSessions(e.st) {
		t.Fatalf("webSessionsOf(metered) = %T, want the sqlite store", ws)
	}
	if ws := webSessionsOf(nil); ws != nil {
		t.Fatalf("webSessionsOf(nil) = %T", ws)
	}
}

// Origin: null (a page under a no-referrer policy, a sandboxed frame) is
// trusted only with the browser's same-origin mark.
func TestSameOriginNull(t *testing.T) {
	for _, c := range []struct {
		origin, site string
		want         bool
	}{
		{"null", "same-origin", true},
		{"null", "", false},
		{"null", "cross-site", false},
		{"https://mail.example.test", "", false}, // plain-HTTP request: scheme differs
		{"http://mail.example.test", "same-origin", true},
		{"http://evil.example", "", false},
		{"", "same-site", false},
	} {
		r := httptest.NewRequest("POST", "http://mail.example.test/login", nil)
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if c.site != "" {
			r.Header.Set("Sec-Fetch-Site", c.site)
		}
		if got := sameOrigin(r); got != c.want {
			t.Errorf("Origin %q, Sec-Fetch-Site %q: %v, want %v", c.origin, c.site, got, c.want)
		}
	}
}
