package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

func TestSignInWrongAndRight(t *testing.T) {
	e := newEnv(t, nil)
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)

	resp, body := signIn(t, c, ts.URL, testUser, "wrong password")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Wrong e-mail address or password") || !strings.Contains(body, `value="alice@example.test"`) {
		t.Fatalf("wrong password: %d\n%s", resp.StatusCode, body)
	}
	if _, body := get(t, c, ts.URL+"/settings"); strings.Contains(body, "Signed in as") {
		t.Fatal("settings shown without a session")
	}
	resp, body = signIn(t, c, ts.URL, "alice", testPassword) // bare local part: default domain
	if resp.StatusCode != 200 || !strings.Contains(body, `<strong id="address">alice@example.test</strong>`) {
		t.Fatalf("right password: %d\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{`<td data-label="Server name">mail.example.test</td><td data-label="Port">10993</td><td data-label="Security">SSL/TLS</td><td data-label="User name">alice@example.test</td>`,
		`<td data-label="Port">10995</td>`, `<td data-label="Port">10465</td>`, `<td data-label="Port">10587</td><td data-label="Security">STARTTLS</td>`,
		`href="/apple.mobileconfig?emailaddress=alice%40example.test"`} {
		if !strings.Contains(body, want) {
			t.Errorf("settings page lacks %q", want)
		}
	}
	// Signed in, / leads to the settings.
	if resp, _ := get(t, c, ts.URL+"/"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/settings" {
		t.Errorf("/ when signed in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	e := newEnv(t, nil)
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	_, body := get(t, c, ts.URL+"/")
	resp, _ := postForm(t, c, ts.URL+"/login", url.Values{"username": {testUser}, "password": {testPassword}, "csrf": {csrfOf(t, body)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	var found bool
	for _, sc := range resp.Header.Values("Set-Cookie") {
		if !strings.HasPrefix(sc, "__Host-youju-session=") {
			continue
		}
		found = true
		for _, attr := range []string{"Path=/", "HttpOnly", "Secure", "SameSite=Strict"} {
			if !strings.Contains(sc, attr) {
				t.Errorf("session cookie %q lacks %s", sc, attr)
			}
		}
		if strings.Contains(sc, "Domain=") || strings.Contains(sc, "Max-Age") || strings.Contains(sc, "Expires") {
			t.Errorf("session cookie %q must be a host-only browser-session cookie", sc)
		}
	}
	if !found {
		t.Fatalf("no session cookie in %v", resp.Header.Values("Set-Cookie"))
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
}

func TestCSRFRejected(t *testing.T) {
	e := newEnv(t, nil)
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	// Login without the token, with a wrong one, and from another origin.
	_, body := get(t, c, ts.URL+"/")
	tok := csrfOf(t, body)
	for name, tc := range map[string]struct {
		form url.Values
		hdr  []string
	}{
		"no token":     {url.Values{"username": {testUser}, "password": {testPassword}}, nil},
		"wrong token":  {url.Values{"username": {testUser}, "password": {testPassword}, "csrf": {"x" + tok}}, nil},
		"cross origin": {url.Values{"username": {testUser}, "password": {testPassword}, "csrf": {tok}}, []string{"Origin", "https://evil.test"}},
		"cross site":   {url.Values{"username": {testUser}, "password": {testPassword}, "csrf": {tok}}, []string{"Sec-Fetch-Site", "cross-site"}},
	} {
		resp, body := postForm(t, c, ts.URL+"/login", tc.form, tc.hdr...)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "did not come from this page") {
			t.Errorf("login %s: %d", name, resp.StatusCode)
		}
	}
	// Signed in: a form with a wrong token changes nothing.
	_, body = signIn(t, c, ts.URL, testUser, testPassword)
	good := csrfOf(t, body)
	resp, body := postForm(t, c, ts.URL+"/settings/app-passwords", url.Values{"name": {"phone"}, "csrf": {"forged"}})
	if resp.StatusCode != http.StatusForbidden || strings.Contains(body, `id="new-password"`) {
		t.Errorf("forged create: %d", resp.StatusCode)
	}
	resp, _ = postForm(t, c, ts.URL+"/settings/services", url.Values{"csrf": {good}}, "Origin", "https://evil.test")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin switches: %d", resp.StatusCode)
	}
	apps, _ := e.st.AppPasswords(context.Background(), e.acct.ID)
	acct, _ := e.st.AccountByID(context.Background(), e.acct.ID)
	if len(apps) != 0 || !acct.AllowIMAP || !acct.AllowPOP3 {
		t.Errorf("a forged form changed the account: %d app passwords, %+v", len(apps), acct)
	}
}

var newPasswordRE = regexp.MustCompile(`<code id="new-password">([^<]+)</code>`)

func TestAppPasswordCreateAndRevoke(t *testing.T) {
	e := newEnv(t, nil)
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	_, body := signIn(t, c, ts.URL, testUser, testPassword)
	if !strings.Contains(body, "No app passwords yet") {
		t.Fatal("fresh account shows app passwords")
	}
	resp, body := postForm(t, c, ts.URL+"/settings/app-passwords", url.Values{"name": {"phone <1>"}, "csrf": {csrfOf(t, body)}})
	m := newPasswordRE.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil || !strings.Contains(body, "<td>phone &lt;1&gt;</td>") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %d\n%s", resp.StatusCode, body)
	}
	pw := m[1]
	ctx := context.Background()
	if _, err := e.auth.Login(ctx, auth.Request{Username: testUser, Password: pw, Service: store.ServiceIMAP}); err != nil {
		t.Fatalf("the new app password does not log in to IMAP: %v", err)
	}
	if err := scramLogin(t, e.auth, testUser, pw); err != nil {
		t.Fatalf("the new app password has no SCRAM keys: %v", err)
	}
	// Shown once: the page afterwards has the name but not the password.
	_, body = get(t, c, ts.URL+"/settings")
	if strings.Contains(body, pw) || !strings.Contains(body, "phone &lt;1&gt;") {
		t.Error("the app password is shown again or its name is gone")
	}
	// An app password does not open the settings page.
	c2 := client(t, ts)
	if resp, body := signIn(t, c2, ts.URL, testUser, pw); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not with an app password") {
		t.Errorf("sign-in with an app password: %d", resp.StatusCode)
	}
	// Same name again: refused.
	resp, body = postForm(t, c, ts.URL+"/settings/app-passwords", url.Values{"name": {"phone <1>"}, "csrf": {csrfOf(t, body)}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "exists already") {
		t.Errorf("duplicate: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	resp, _ = postForm(t, c, ts.URL+"/settings/app-passwords", url.Values{"name": {"  "}, "csrf": {csrfOf(t, body)}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("empty name: %d", resp.StatusCode)
	}
	// Revoke.
	resp, _ = postForm(t, c, ts.URL+"/settings/app-passwords/revoke", url.Values{"name": {"phone <1>"}, "csrf": {csrfOf(t, body)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	_, body = get(t, c, ts.URL+resp.Header.Get("Location"))
	if !strings.Contains(body, "App password revoked") || strings.Contains(body, "phone &lt;1&gt;") {
		t.Errorf("after revoke:\n%s", body)
	}
	if _, err := e.auth.Login(ctx, auth.Request{Username: testUser, Password: pw, Service: store.ServiceIMAP}); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("revoked app password still logs in: %v", err)
	}
	resp, _ = postForm(t, c, ts.URL+"/settings/app-passwords/revoke", url.Values{"name": {"nope"}, "csrf": {csrfOf(t, body)}})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("revoke unknown: %d", resp.StatusCode)
	}
}

func TestServiceSwitches(t *testing.T) {
	e := newEnv(t, nil)
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	_, body := signIn(t, c, ts.URL, testUser, testPassword)
	if !strings.Contains(body, `name="imap" value="on" checked`) || !strings.Contains(body, `name="pop3" value="on" checked`) || !strings.Contains(body, `name="smtp" value="on" checked`) {
		t.Fatal("switches not shown as on")
	}
	resp, _ := postForm(t, c, ts.URL+"/settings/services", url.Values{"imap": {"on"}, "smtp": {"on"}, "csrf": {csrfOf(t, body)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("switches: %d", resp.StatusCode)
	}
	ctx := context.Background()
	acct, _ := e.st.AccountByID(ctx, e.acct.ID)
	if !acct.AllowIMAP || acct.AllowPOP3 || !acct.AllowSMTP {
		t.Errorf("after turning POP3 off: %+v", acct)
	}
	if _, err := e.auth.Login(ctx, auth.Request{Username: testUser, Password: testPassword, Service: store.ServicePOP3}); !errors.Is(err, auth.ErrServiceDisabled) {
		t.Errorf("POP3 login after switching it off: %v", err)
	}
	_, body = get(t, c, ts.URL+resp.Header.Get("Location"))
	if !strings.Contains(body, "Saved.") || strings.Contains(body, `name="pop3" value="on" checked`) {
		t.Error("page does not show the new state")
	}
	// The SMTP switch (submission) beside IMAP and POP3.
	resp, _ = postForm(t, c, ts.URL+"/settings/services", url.Values{"imap": {"on"}, "csrf": {csrfOf(t, body)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("switches: %d", resp.StatusCode)
	}
	if acct, _ := e.st.AccountByID(ctx, e.acct.ID); acct.AllowSMTP || !acct.AllowIMAP {
		t.Errorf("after turning SMTP off: %+v", acct)
	}
	if _, err := e.auth.Login(ctx, auth.Request{Username: testUser, Password: testPassword, Service: store.ServiceSMTP}); !errors.Is(err, auth.ErrServiceDisabled) {
		t.Errorf("SMTP login after switching it off: %v", err)
	}
}

func TestLogoutAndExpiry(t *testing.T) {
	e := newEnv(t, nil)
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	_, body := signIn(t, c, ts.URL, testUser, testPassword)
	resp, _ := postForm(t, c, ts.URL+"/logout", url.Values{"csrf": {csrfOf(t, body)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp, _ := get(t, c, ts.URL+"/settings"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Errorf("settings after logout: %d", resp.StatusCode)
	}
	// Idle expiry.
	signIn(t, c, ts.URL, testUser, testPassword)
	e.clock.Add(29 * time.Minute)
	if resp, _ := get(t, c, ts.URL+"/settings"); resp.StatusCode != 200 {
		t.Fatalf("settings within the idle time: %d", resp.StatusCode)
	}
	e.clock.Add(31 * time.Minute)
	if resp, _ := get(t, c, ts.URL+"/settings"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("settings after 31 idle minutes: %d", resp.StatusCode)
	}
	// A disabled account ends its session.
	signIn(t, c, ts.URL, testUser, testPassword)
	acct, _ := e.st.AccountByID(context.Background(), e.acct.ID)
	acct.Disabled = true
	e.st.UpdateAccount(context.Background(), acct)
	if resp, _ := get(t, c, ts.URL+"/settings"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("settings of a disabled account: %d", resp.StatusCode)
	}
}

func TestThrottledSignIn(t *testing.T) {
	e := newEnv(t, nil) // 5 failures per address
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	for i := 0; i < 5; i++ {
		signIn(t, c, ts.URL, testUser, fmt.Sprint("bad", i)) // distinct: a repeated password counts once
	}
	resp, body := signIn(t, c, ts.URL, testUser, testPassword)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed sign-ins") {
		t.Errorf("after 5 failures: %d", resp.StatusCode)
	}
}

func TestChineseByAcceptLanguage(t *testing.T) {
	e := newEnv(t, nil)
	ts := httptest.NewServer(e.h) // plain HTTP on loopback: sign-in allowed
	defer ts.Close()
	c := client(t, ts)
	_, body := get(t, c, ts.URL+"/", "Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8")
	if !strings.Contains(body, `<html lang="zh-CN">`) || !strings.Contains(body, "邮件客户端设置") || !strings.Contains(body, "完整的邮箱地址") {
		t.Fatalf("not Chinese:\n%s", body)
	}
	// Signed in, in Chinese, every string of the settings page renders.
	_, body = get(t, c, ts.URL+"/", "Accept-Language", "zh-TW")
	resp, _ := postForm(t, c, ts.URL+"/login", url.Values{"username": {testUser}, "password": {testPassword}, "csrf": {csrfOf(t, body)}}, "Accept-Language", "zh")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	_, body = get(t, c, ts.URL+"/settings", "Accept-Language", "zh")
	if !strings.Contains(body, "应用专用密码") || !strings.Contains(body, "允许 IMAP") {
		t.Errorf("settings not Chinese:\n%s", body)
	}
	// The switch link wins over the header.
	get(t, c, ts.URL+"/lang/en")
	if _, body = get(t, c, ts.URL+"/settings", "Accept-Language", "zh"); !strings.Contains(body, "App passwords") {
		t.Error("language switch ignored")
	}
}

func TestPickLang(t *testing.T) {
	for _, tc := range []struct{ cookie, header, want string }{
		{"", "", "en"},
		{"", "zh-CN,zh;q=0.9", "zh"},
		{"", "en-US,en;q=0.9,zh-CN;q=0.8", "en"},
		{"", "fr-FR,zh;q=0.5,en;q=0.4", "zh"},
		{"", "zh;q=0, en;q=0.1", "en"},
		{"", "ZH-hant", "zh"},
		{"", "de", "en"},
		{"en", "zh", "en"},
		{"xx", "zh", "zh"},
	} {
		if got := pickLang(tc.cookie, tc.header); got != tc.want {
			t.Errorf("pickLang(%q, %q) = %s, want %s", tc.cookie, tc.header, got, tc.want)
		}
	}
}

func TestEveryMessageInBothLanguages(t *testing.T) {
	for key := range messages["en"] {
		if messages["zh"][key] == "" {
			t.Errorf("no Chinese for %q", key)
		}
	}
	for key := range messages["zh"] {
		if messages["en"][key] == "" {
			t.Errorf("no English for %q", key)
		}
	}
}

func TestPublicPageWithoutStore(t *testing.T) {
	ts := httptest.NewServer(Handler(testHost, testSettings()))
	defer ts.Close()
	_, body := get(t, client(t, ts), ts.URL+"/")
	if !strings.Contains(body, `<td data-label="Port">10993</td>`) || strings.Contains(body, `name="password"`) {
		t.Errorf("public page:\n%s", body)
	}
	if resp, _ := get(t, client(t, ts), ts.URL+"/mail/config-v1.1.xml?emailaddress=a@example.test"); resp.StatusCode != 200 {
		t.Errorf("autoconfig for the primary domain without a store: %d", resp.StatusCode)
	}
}

func TestSessionsBounded(t *testing.T) {
	clk := &clock{t: time.Unix(1e9, 0)}
	mem := newMemSessions()
	ss := newSessions(mem, time.Minute, time.Hour, clk.Now, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	first, _, _ := ss.create(ctx, 1, false)
	for i := 1; i < maxMemSessions; i++ {
		clk.Add(time.Millisecond)
		ss.create(ctx, 1, false)
	}
	clk.Add(time.Millisecond)
	last, _, _ := ss.create(ctx, 1, false)
	if len(mem.m) != maxMemSessions {
		t.Errorf("%d sessions, want at most %d", len(mem.m), maxMemSessions)
	}
	if _, ok := ss.get(ctx, first); ok {
		t.Error("the oldest session survived the limit")
	}
	if _, ok := ss.get(ctx, last); !ok {
		t.Error("the newest session is gone")
	}
	// Expired sessions are swept at a sign-in (every sweepEvery).
	clk.Add(sweepEvery)
	ss.create(ctx, 1, false)
	if len(mem.m) != 1 {
		t.Errorf("%d sessions after all expired, want 1", len(mem.m))
	}
}

func TestOversizedForm(t *testing.T) {
	e := newEnv(t, nil)
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	_, body := get(t, c, ts.URL+"/")
	form := url.Values{"username": {testUser}, "password": {strings.Repeat("x", 64<<10)}, "csrf": {csrfOf(t, body)}}
	if resp, _ := postForm(t, c, ts.URL+"/login", form); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("64 KiB form: %d", resp.StatusCode)
	}
}

func TestPOP3Options(t *testing.T) {
	e := newEnv(t, nil)
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	_, body := signIn(t, c, ts.URL, testUser, testPassword)
	if !strings.Contains(body, `<option value="inbox" selected>`) || !strings.Contains(body, `<option value="delete" selected>`) {
		t.Fatal("POP3 defaults not shown as selected")
	}
	form := url.Values{"imap": {"on"}, "pop3": {"on"}, "pop3_scope": {"allrecent"}, "pop3_days": {"7"}, "pop3_delete": {"trash"}, "csrf": {csrfOf(t, body)}}
	resp, _ := postForm(t, c, ts.URL+"/settings/services", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POP3 options: %d", resp.StatusCode)
	}
	acct, _ := e.st.AccountByID(context.Background(), e.acct.ID)
	if acct.POP3 != (store.POP3Options{Scope: store.POP3ScopeAllRecnt, Days: 7, Delete: store.POP3DeleteTrash}) || !acct.AllowPOP3 {
		t.Fatalf("stored %+v", acct.POP3)
	}
	_, body = get(t, c, ts.URL+resp.Header.Get("Location"))
	if !strings.Contains(body, `<option value="allrecent" selected>`) || !strings.Contains(body, `<option value="trash" selected>`) || !strings.Contains(body, `value="7"`) {
		t.Error("page does not show the stored POP3 options")
	}
	for _, bad := range []url.Values{{"pop3_scope": {"everything"}}, {"pop3_delete": {"shred"}}, {"pop3_days": {"-3"}}} {
		bad.Set("csrf", csrfOf(t, body))
		if resp, _ := postForm(t, c, ts.URL+"/settings/services", bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("invalid %v: %d, want 400", bad, resp.StatusCode)
		}
	}
	if acct, _ := e.st.AccountByID(context.Background(), e.acct.ID); acct.POP3.Delete != store.POP3DeleteTrash {
		t.Errorf("an invalid form changed the options: %+v", acct.POP3)
	}
}
