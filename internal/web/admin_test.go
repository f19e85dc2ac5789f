package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/delivery/queue"
	"github.com/youju/youju/internal/dnsrec"
	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/reports"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/tlsconf"
)

const (
	bobUser     = "bob@example.test"
	bobPassword = "bob's long password"
)

// adminEnv is a web handler whose testUser is an admin, with bob a plain
// account, a real queue directory, an event log, reports and DNS records
// checked through a fake resolver.
type adminEnv struct {
	*env
	q      queue.Storage
	events *EventLog
	ts     *httptest.Server
	bob    store.Account
}

func newAdminEnv(t testing.TB) *adminEnv {
	t.Helper()
	d, err := queue.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	q := queue.FileStorage(d)
	events := NewEventLog(nil)
	fake := &dnsresolver.Fake{MX: map[string][]*net.MX{testDomain: {{Host: testHost + ".", Pref: 10}}}}
	cert, err := tlsconf.SelfSigned([]string{"localhost", "127.0.0.1", testHost})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) {
		o.TLSCert = func() *tls.Certificate { return cert }
		o.Admin = &AdminOptions{
			Queue: q, Events: events, DataDir: t.TempDir(), DefaultQuotaBytes: 1 << 30,
			Listeners: []Listener{{Name: "imaps", Addr: "127.0.0.1:993"}},
			Reports: func() ([]reports.Summary, error) {
				return []reports.Summary{{Kind: "dmarc", Org: "google.com", Domain: testDomain,
					Begin: time.Date(2026, 4, 30, 0, 0, 0, 0, time.UTC), Total: 10, Pass: 9, Fail: 1}}, nil
			},
			DNSRecords: func(_ context.Context, domain string) ([]dnsrec.Record, error) {
				return dnsrec.Records(dnsrec.Params{Domain: domain, Hostname: testHost}), nil
			},
			DNSCheck: func(ctx context.Context, recs []dnsrec.Record) []dnsrec.Result { return dnsrec.Check(ctx, fake, recs) },
		}
	})
	ctx := context.Background()
	a := e.acct
	a.Admin = true
	if err := e.st.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	e.acct = a
	bob := store.Account{Address: bobUser, AllowIMAP: true, AllowPOP3: true, AllowSMTP: true}
	if err := auth.SetPassword(&bob, nil, bobPassword); err != nil {
		t.Fatal(err)
	}
	bob, err = e.st.CreateAccount(ctx, bob)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(e.h)
	t.Cleanup(ts.Close)
	return &adminEnv{env: e, q: q, events: events, ts: ts, bob: bob}
}

// token makes an API token of acct straight in the store.
func (e *adminEnv) token(t testing.TB, acct store.AccountID, name string) (string, int64) {
	t.Helper()
	secret, hash := NewAPIToken()
	tok, err := e.st.CreateAPIToken(context.Background(), store.APIToken{Account: acct, Name: name, Hash: hash})
	if err != nil {
		t.Fatal(err)
	}
	return secret, tok.ID
}

// call makes an API request; hdr are header name/value pairs. It decodes
// a JSON answer into out when given.
func (e *adminEnv) call(t *testing.T, c *http.Client, method, path string, body any, out any, hdr ...string) int {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, e.ts.URL+"/api/v1/"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, b := do(t, c, req)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal([]byte(b), out); err != nil {
			t.Fatalf("%s %s: %d, not JSON: %v\n%s", method, path, resp.StatusCode, err, b)
		}
	}
	if resp.StatusCode >= 400 && !strings.Contains(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("%s %s: error %d is not JSON", method, path, resp.StatusCode)
	}
	return resp.StatusCode
}

// bearer is the header pair of a token.
func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

var adminCSRFRE = regexp.MustCompile(`data-csrf="([^"]+)"`)

// adminSession signs in through the form and returns the console's CSRF
// token.
func (e *adminEnv) adminSession(t *testing.T, c *http.Client) string {
	t.Helper()
	if resp, _ := signIn(t, c, e.ts.URL, testUser, testPassword); resp.StatusCode != 200 {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	resp, body := get(t, c, e.ts.URL+"/admin/")
	if resp.StatusCode != 200 {
		t.Fatalf("/admin/: %d", resp.StatusCode)
	}
	m := adminCSRFRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on the console:\n%s", body)
	}
	return m[1]
}

// TestAPIAuth: no, a malformed, an unknown or a revoked token is 401; a
// token or session of a non-admin is 403; a session's state change needs
// its CSRF token (and the same origin); an admin's token or session works.
func TestAPIAuth(t *testing.T) {
	e := newAdminEnv(t)
	c := client(t, e.ts)
	tok, id := e.token(t, e.acct.ID, "ci")
	bobTok, _ := e.token(t, e.bob.ID, "bob")
	for _, tc := range []struct {
		name string
		hdr  []string
		want int
	}{
		{"none", nil, 401},
		{"basic", []string{"Authorization", "Basic YWxpY2U6eA=="}, 401},
		{"wrong", bearer(apiTokenPrefix + "not-a-real-token"), 401},
		{"no prefix", bearer(strings.TrimPrefix(tok, apiTokenPrefix)), 401},
		{"non-admin", bearer(bobTok), 403},
		{"admin", bearer(tok), 200},
	} {
		if got := e.call(t, c, "GET", "accounts", nil, nil, tc.hdr...); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	// A token changes state without CSRF: browsers never send it alone.
	if got := e.call(t, c, "POST", "domains", map[string]string{"name": "tok.test"}, nil, bearer(tok)...); got != 201 {
		t.Errorf("POST with a token: %d", got)
	}
	if err := e.st.DeleteAPIToken(context.Background(), e.acct.ID, id); err != nil {
		t.Fatal(err)
	}
	if got := e.call(t, c, "GET", "accounts", nil, nil, bearer(tok)...); got != 401 {
		t.Errorf("revoked token: %d, want 401", got)
	}

	// Sessions: bob is signed in but not an admin.
	bc := client(t, e.ts)
	if resp, _ := signIn(t, bc, e.ts.URL, bobUser, bobPassword); resp.StatusCode != 200 {
		t.Fatalf("bob's sign-in: %d", resp.StatusCode)
	}
	if got := e.call(t, bc, "GET", "accounts", nil, nil); got != 403 {
		t.Errorf("non-admin session: %d, want 403", got)
	}
	if resp, body := get(t, bc, e.ts.URL+"/admin/"); resp.StatusCode != 403 || !strings.Contains(body, "not an admin") || strings.Contains(body, "admin.js") {
		t.Errorf("non-admin console: %d", resp.StatusCode)
	}
	ac := client(t, e.ts)
	csrf := e.adminSession(t, ac)
	if got := e.call(t, ac, "GET", "accounts", nil, nil); got != 200 {
		t.Errorf("admin session GET: %d", got)
	}
	body := map[string]string{"name": "csrf.test"}
	if got := e.call(t, ac, "POST", "domains", body, nil); got != 403 {
		t.Errorf("session POST without CSRF: %d, want 403", got)
	}
	if got := e.call(t, ac, "POST", "domains", body, nil, "X-CSRF-Token", "forged"); got != 403 {
		t.Errorf("session POST with a wrong CSRF token: %d, want 403", got)
	}
	if got := e.call(t, ac, "POST", "domains", body, nil, "X-CSRF-Token", csrf, "Origin", "https://evil.example"); got != 403 {
		t.Errorf("session POST from another origin: %d, want 403", got)
	}
	if ok, _ := e.st.IsLocalDomain(context.Background(), "csrf.test"); ok {
		t.Fatal("a refused request added the domain")
	}
	if got := e.call(t, ac, "POST", "domains", body, nil, "X-CSRF-Token", csrf); got != 201 {
		t.Errorf("session POST with CSRF: %d, want 201", got)
	}
	if ok, _ := e.st.IsLocalDomain(context.Background(), "csrf.test"); !ok {
		t.Error("the domain was not added")
	}
	// Dropping the admin flag closes the API at once, session or token.
	a := e.acct
	a.Admin = false
	if err := e.st.UpdateAccount(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if got := e.call(t, ac, "GET", "health", nil, nil); got != 403 {
		t.Errorf("session of an ex-admin: %d, want 403", got)
	}
}

// TestAdminConsolePage: the console renders in both languages with a
// CSP that allows its own script and nothing inline; signed out it
// redirects to the sign-in page.
func TestAdminConsolePage(t *testing.T) {
	e := newAdminEnv(t)
	if resp, _ := get(t, client(t, e.ts), e.ts.URL+"/admin/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("signed out: %d", resp.StatusCode)
	}
	c := client(t, e.ts)
	e.adminSession(t, c)
	if _, body := get(t, c, e.ts.URL+"/settings"); !strings.Contains(body, `href="/admin/"`) {
		t.Error("the settings page of an admin does not link the console")
	}
	bc := client(t, e.ts)
	if _, body := signIn(t, bc, e.ts.URL, bobUser, bobPassword); strings.Contains(body, `href="/admin/"`) {
		t.Error("the settings page of a non-admin links the console")
	}
	for lang, want := range map[string]string{"en": "Outbound queue", "zh": "发信队列"} {
		get(t, c, e.ts.URL+"/lang/"+lang)
		resp, body := get(t, c, e.ts.URL+"/admin/")
		if resp.StatusCode != 200 || !strings.Contains(body, want) || !strings.Contains(body, `<script src="/static/admin.js">`) {
			t.Errorf("%s: %d, want %q", lang, resp.StatusCode, want)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("CSP %q", csp)
		}
	}
	if resp, body := get(t, c, e.ts.URL+"/static/admin.js"); resp.StatusCode != 200 || strings.Contains(body, "innerHTML") {
		t.Errorf("admin.js: %d (and must not use innerHTML)", resp.StatusCode)
	}
}

// TestAPIAccounts: create (generated or given password, strength rule,
// local domains only), list with paging and filter, disable, quota,
// admin flag, password reset, app passwords; each effect checked in the
// store and through the authenticator.
func TestAPIAccounts(t *testing.T) {
	e := newAdminEnv(t)
	c := client(t, e.ts)
	tok, _ := e.token(t, e.acct.ID, "ci")
	h := bearer(tok)
	ctx := context.Background()
	imapLogin := func(user, pw string) error {
		_, err := e.auth.Login(ctx, auth.Request{Username: user, Password: pw, Service: store.ServiceIMAP})
		return err
	}

	var created struct {
		Account  apiAccount `json:"account"`
		Password string     `json:"password"`
	}
	if got := e.call(t, c, "POST", "accounts", map[string]any{"address": "Carol@Example.test"}, &created, h...); got != 201 {
		t.Fatalf("create: %d", got)
	}
	if created.Account.Address != "carol@example.test" || created.Password == "" || created.Account.QuotaBytes != 1<<30 {
		t.Fatalf("created %+v", created)
	}
	if err := imapLogin("carol@example.test", created.Password); err != nil {
		t.Fatalf("the new account cannot sign in: %v", err)
	}
	for _, tc := range []struct {
		body map[string]any
		want int
		code string
	}{
		{map[string]any{"address": "carol@example.test"}, 409, "exists"},
		{map[string]any{"address": "dave@nowhere.test"}, 400, "invalid"},
		{map[string]any{"address": "no-at-sign"}, 400, "invalid"},
		{map[string]any{"address": "dave@example.test", "password": "short"}, 400, "weak_password"},
		{map[string]any{"address": "dave@example.test", "password": "1qaz2wsx3edc"}, 400, "weak_password"},
		{map[string]any{"address": "dave@example.test", "quota_bytes": -1}, 400, "invalid"},
		{map[string]any{"address": "dave@example.test", "colour": "blue"}, 400, "bad_json"},
	} {
		var er apiError
		if got := e.call(t, c, "POST", "accounts", tc.body, &er, h...); got != tc.want || er.Code != tc.code {
			t.Errorf("%v: %d %q, want %d %q", tc.body, got, er.Code, tc.want, tc.code)
		}
	}
	if _, err := e.st.Account(ctx, "dave@example.test"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused create made the account: %v", err)
	}
	if got := e.call(t, c, "POST", "accounts", map[string]any{"address": "dave@example.test", "password": "a long enough passphrase", "quota_bytes": 0}, nil, h...); got != 201 {
		t.Fatalf("create with a password: %d", got)
	}
	if err := imapLogin("dave@example.test", "a long enough passphrase"); err != nil {
		t.Fatal(err)
	}

	// Keyset paging: alice, bob, carol, dave by address.
	type accountPage struct {
		Next     *string      `json:"next"`
		Accounts []apiAccount `json:"accounts"`
	}
	var page accountPage
	if got := e.call(t, c, "GET", "accounts?after="+testUser+"&limit=2", nil, &page, h...); got != 200 || len(page.Accounts) != 2 ||
		page.Accounts[0].Address != bobUser || page.Accounts[1].Address != "carol@example.test" ||
		page.Next == nil || *page.Next != "carol@example.test" {
		t.Fatalf("page: %d %+v", got, page)
	}
	next := *page.Next
	page = accountPage{}
	if e.call(t, c, "GET", "accounts?after="+next+"&limit=2", nil, &page, h...); len(page.Accounts) != 1 ||
		page.Accounts[0].Address != "dave@example.test" || page.Next != nil {
		t.Fatalf("last page: %+v", page)
	}
	page = accountPage{}
	if e.call(t, c, "GET", "accounts?q=DAV", nil, &page, h...); len(page.Accounts) != 1 || page.Accounts[0].Address != "dave@example.test" {
		t.Fatalf("filter: %+v", page)
	}
	for _, bad := range []string{"limit=0", "limit=1001", "limit=x"} {
		if got := e.call(t, c, "GET", "accounts?"+bad, nil, nil, h...); got != 400 {
			t.Errorf("%s: %d", bad, got)
		}
	}
	var domains struct{ Domains []apiDomain }
	if e.call(t, c, "GET", "domains", nil, &domains, h...); len(domains.Domains) == 0 || domains.Domains[0].Name != "example.test" || domains.Domains[0].Accounts != 4 {
		t.Fatalf("domains: %+v", domains)
	}

	// Disable, quota, admin.
	var acct apiAccount
	if got := e.call(t, c, "PATCH", "accounts/carol@example.test", map[string]any{"disabled": true, "quota_bytes": 5 << 20}, &acct, h...); got != 200 || !acct.Disabled {
		t.Fatalf("patch: %d %+v", got, acct)
	}
	if a, _ := e.st.Account(ctx, "carol@example.test"); !a.Disabled || a.QuotaBytes != 5<<20 {
		t.Fatalf("stored %+v", a)
	}
	if err := imapLogin("carol@example.test", created.Password); err == nil {
		t.Fatal("a disabled account signs in")
	}
	e.call(t, c, "PATCH", "accounts/carol@example.test", map[string]any{"disabled": false, "admin": true}, nil, h...)
	if a, _ := e.st.Account(ctx, "carol@example.test"); a.Disabled || !a.Admin {
		t.Fatalf("after enable+admin: %+v", a)
	}
	var er apiError
	if got := e.call(t, c, "PATCH", "accounts/"+testUser, map[string]any{"disabled": true}, &er, h...); got != 409 {
		t.Errorf("disabling oneself: %d", got)
	}
	if got := e.call(t, c, "PATCH", "accounts/nobody@example.test", map[string]any{"disabled": true}, nil, h...); got != 404 {
		t.Errorf("unknown account: %d", got)
	}

	// Password reset, generated and given; app passwords keep working.
	secretApp := "app secret 0123456789"
	app := store.AppPassword{AccountID: e.bob.ID, Name: "phone", Hash: mustHash(t, secretApp)}
	if _, err := e.st.AddAppPassword(ctx, app); err != nil {
		t.Fatal(err)
	}
	var reset struct{ Password string }
	if got := e.call(t, c, "POST", "accounts/"+bobUser+"/password", map[string]any{}, &reset, h...); got != 200 || reset.Password == "" {
		t.Fatalf("reset: %d %+v", got, reset)
	}
	if imapLogin(bobUser, bobPassword) == nil || imapLogin(bobUser, reset.Password) != nil {
		t.Fatal("reset did not replace the password")
	}
	if got := e.call(t, c, "POST", "accounts/"+bobUser+"/password", map[string]any{"password": "password"}, nil, h...); got != 400 {
		t.Errorf("weak reset: %d", got)
	}
	var apps struct {
		AppPasswords []apiAppPassword `json:"app_passwords"`
	}
	if e.call(t, c, "GET", "accounts/"+bobUser+"/app-passwords", nil, &apps, h...); len(apps.AppPasswords) != 1 || apps.AppPasswords[0].Name != "phone" {
		t.Fatalf("app passwords: %+v", apps)
	}
	if got := e.call(t, c, "DELETE", "accounts/"+bobUser+"/app-passwords/phone", nil, nil, h...); got != 204 {
		t.Fatalf("revoke: %d", got)
	}
	if ps, _ := e.st.AppPasswords(ctx, e.bob.ID); len(ps) != 0 {
		t.Fatal("app password not revoked")
	}
	if got := e.call(t, c, "DELETE", "accounts/"+bobUser+"/app-passwords/phone", nil, nil, h...); got != 404 {
		t.Errorf("revoke twice: %d", got)
	}
}

func mustHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := auth.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestAPIDomainsAliases: domains with their account counts, DNS records
// and their check; aliases and catch-alls added, listed and removed.
func TestAPIDomainsAliases(t *testing.T) {
	e := newAdminEnv(t)
	c := client(t, e.ts)
	tok, _ := e.token(t, e.acct.ID, "ci")
	h := bearer(tok)
	ctx := context.Background()
	if got := e.call(t, c, "POST", "domains", map[string]string{"name": "New.Test."}, nil, h...); got != 201 {
		t.Fatalf("add: %d", got)
	}
	if got := e.call(t, c, "POST", "domains", map[string]string{"name": "new.test"}, nil, h...); got != 409 {
		t.Errorf("add twice: %d", got)
	}
	var ds struct{ Domains []apiDomain }
	e.call(t, c, "GET", "domains", nil, &ds, h...)
	counts := map[string]int{}
	for _, d := range ds.Domains {
		counts[d.Name] = d.Accounts
	}
	if counts["new.test"] != 0 || counts[testDomain] != 2 || len(counts) != 3 {
		t.Fatalf("domains %+v", ds)
	}
	var recs struct{ Records []apiRecord }
	if got := e.call(t, c, "GET", "domains/"+testDomain+"/dns", nil, &recs, h...); got != 200 || len(recs.Records) == 0 || recs.Records[0].Type != "MX" {
		t.Fatalf("dns: %d %+v", got, recs)
	}
	var check struct {
		Results []struct {
			Record apiRecord
			Status string
		}
	}
	if got := e.call(t, c, "GET", "domains/"+testDomain+"/dns/check", nil, &check, h...); got != 200 || len(check.Results) != len(recs.Records) {
		t.Fatalf("check: %d %+v", got, check)
	}
	// The fake resolver has the MX and nothing else.
	st := map[string]string{}
	for _, r := range check.Results {
		st[r.Record.Type+" "+r.Record.Name] = r.Status
	}
	if st["MX example.test."] != "OK" || st["TXT example.test."] != "MISSING" {
		t.Errorf("check statuses %v", st)
	}
	if got := e.call(t, c, "GET", "domains/other.test/dns", nil, nil, h...); got != 404 {
		t.Errorf("dns of a foreign domain: %d", got)
	}

	if got := e.call(t, c, "PUT", "aliases/Sales@example.test", map[string]any{"targets": []string{testUser, bobUser}}, nil, h...); got != 200 {
		t.Fatalf("alias: %d", got)
	}
	if got := e.call(t, c, "PUT", "aliases/@example.test", map[string]any{"targets": []string{testUser}}, nil, h...); got != 200 {
		t.Fatalf("catch-all: %d", got)
	}
	if got := e.call(t, c, "PUT", "aliases/x@elsewhere.test", map[string]any{"targets": []string{testUser}}, nil, h...); got != 400 {
		t.Errorf("foreign alias: %d", got)
	}
	if got := e.call(t, c, "PUT", "aliases/y@example.test", map[string]any{"targets": []string{}}, nil, h...); got != 400 {
		t.Errorf("no targets: %d", got)
	}
	if a, err := e.st.Alias(ctx, "sales@example.test"); err != nil || len(a.Targets) != 2 {
		t.Fatalf("stored alias %+v %v", a, err)
	}
	var as struct{ Aliases []apiAlias }
	e.call(t, c, "GET", "aliases", nil, &as, h...)
	if len(as.Aliases) != 2 || !as.Aliases[0].CatchAll || as.Aliases[1].Address != "sales@example.test" {
		t.Fatalf("aliases %+v", as)
	}
	if got := e.call(t, c, "DELETE", "aliases/@example.test", nil, nil, h...); got != 204 {
		t.Fatalf("delete: %d", got)
	}
	if _, err := e.st.Alias(ctx, "@example.test"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("catch-all not deleted")
	}
}

// TestAPIQueue: list, show, hold, release, retry and delete a message of
// a real queue directory, each checked in the queue's storage.
func TestAPIQueue(t *testing.T) {
	e := newAdminEnv(t)
	c := client(t, e.ts)
	tok, _ := e.token(t, e.acct.ID, "ci")
	h := bearer(tok)
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	st := &queue.State{ID: e.q.NewID(time.Now()), From: testUser, Created: time.Now(), NextAttempt: later, Attempts: 2, Size: 5,
		Rcpts: []queue.Rcpt{{Addr: "x@remote.test", Status: queue.StatusPending, Code: 451, Diag: "try later"}}}
	if err := e.q.Add(ctx, st, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	var list struct{ Messages []apiQueued }
	if got := e.call(t, c, "GET", "queue", nil, &list, h...); got != 200 || len(list.Messages) != 1 ||
		list.Messages[0].ID != st.ID || list.Messages[0].Pending[0] != "x@remote.test" {
		t.Fatalf("list: %d %+v", got, list)
	}
	var one apiQueued
	if got := e.call(t, c, "GET", "queue/"+st.ID, nil, &one, h...); got != 200 || one.Rcpts[0].Diag != "try later" {
		t.Fatalf("show: %d %+v", got, one)
	}
	if got := e.call(t, c, "POST", "queue/"+st.ID+"/hold", nil, &one, h...); got != 200 || !one.Held {
		t.Fatalf("hold: %d", got)
	}
	if s, _ := e.q.State(ctx, st.ID); !s.Held {
		t.Fatal("not held in the queue")
	}
	if got := e.call(t, c, "POST", "queue/"+st.ID+"/release", nil, nil, h...); got != 200 {
		t.Fatalf("release: %d", got)
	}
	if s, _ := e.q.State(ctx, st.ID); s.Held {
		t.Fatal("still held")
	}
	if got := e.call(t, c, "POST", "queue/"+st.ID+"/retry", nil, nil, h...); got != 200 {
		t.Fatalf("retry: %d", got)
	}
	if s, _ := e.q.State(ctx, st.ID); s.NextAttempt.After(time.Now()) {
		t.Fatalf("retry left the next attempt at %v", s.NextAttempt)
	}
	if got := e.call(t, c, "POST", "queue/"+st.ID+"/explode", nil, nil, h...); got != 404 {
		t.Errorf("unknown action: %d", got)
	}
	if got := e.call(t, c, "GET", "queue/..%2Fetc", nil, nil, h...); got != 400 {
		t.Errorf("bad id: %d", got)
	}
	if got := e.call(t, c, "DELETE", "queue/"+st.ID, nil, nil, h...); got != 204 {
		t.Fatalf("delete: %d", got)
	}
	if _, err := e.q.State(ctx, st.ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("deleted message: %v", err)
	}
	if got := e.call(t, c, "GET", "queue/"+st.ID, nil, nil, h...); got != 404 {
		t.Errorf("show deleted: %d", got)
	}
}

// TestAPIEventsReportsHealth: the mail log ring, the report days and the
// health summary.
func TestAPIEventsReportsHealth(t *testing.T) {
	e := newAdminEnv(t)
	c := client(t, e.ts)
	tok, _ := e.token(t, e.acct.ID, "ci")
	h := bearer(tok)
	log := slog.New(e.events)
	for i := 0; i < eventLogSize+5; i++ {
		log.Info("mail", "event", "delivered", "from", "a@b.test", "to", testUser, "i", i)
	}
	log.Info("mail", "event", "bounced", "from", "c@d.test")
	var ev struct{ Events []Event }
	if got := e.call(t, c, "GET", "events?limit=3", nil, &ev, h...); got != 200 || len(ev.Events) != 3 ||
		ev.Events[0].Fields["event"] != "bounced" || ev.Events[1].Fields["i"] != "1004" {
		t.Fatalf("events: %d %+v", got, ev)
	}
	if e.call(t, c, "GET", "events?limit=1000&event=bounced", nil, &ev, h...); len(ev.Events) != 1 {
		t.Fatalf("filtered events: %d", len(ev.Events))
	}
	if e.call(t, c, "GET", "events?limit=1000", nil, &ev, h...); len(ev.Events) != eventLogSize {
		t.Fatalf("ring holds %d, want %d", len(ev.Events), eventLogSize)
	}
	if got := e.call(t, c, "GET", "events?limit=100000", nil, nil, h...); got != 400 {
		t.Errorf("huge limit: %d", got)
	}
	var rep struct{ Days []apiReportDay }
	if got := e.call(t, c, "GET", "reports", nil, &rep, h...); got != 200 || len(rep.Days) != 1 || rep.Days[0].Fail != 1 || rep.Days[0].Org != "google.com" {
		t.Fatalf("reports: %d %+v", got, rep)
	}
	e.q.Add(context.Background(), &queue.State{ID: e.q.NewID(time.Now()), From: testUser, Created: time.Now(),
		Rcpts: []queue.Rcpt{{Addr: "x@remote.test", Status: queue.StatusPending}}}, []byte("x"))
	var hl struct {
		Listeners     []Listener `json:"listeners"`
		CertDaysLeft  *int       `json:"cert_days_left"`
		DiskFreeBytes *uint64    `json:"disk_free_bytes"`
		QueueSize     *int       `json:"queue_size"`
		IndexLag      *int64     `json:"index_lag"`
	}
	if got := e.call(t, c, "GET", "health", nil, &hl, h...); got != 200 {
		t.Fatalf("health: %d", got)
	}
	if len(hl.Listeners) != 1 || hl.CertDaysLeft == nil || *hl.CertDaysLeft < 1 || hl.DiskFreeBytes == nil || *hl.DiskFreeBytes == 0 ||
		hl.QueueSize == nil || *hl.QueueSize != 1 {
		t.Fatalf("health %+v", hl)
	}
}

// TestAPITokensSelfService: an admin makes a token through the API (the
// secret is returned once, only its hash stored), lists and revokes it;
// tokens of other admins are out of reach.
func TestAPITokensSelfService(t *testing.T) {
	e := newAdminEnv(t)
	c := client(t, e.ts)
	csrf := e.adminSession(t, c)
	var made apiToken
	if got := e.call(t, c, "POST", "tokens", map[string]string{"name": "backup script"}, &made, "X-CSRF-Token", csrf); got != 201 || !strings.HasPrefix(made.Token, apiTokenPrefix) {
		t.Fatalf("create: %d %+v", got, made)
	}
	st, err := e.st.APITokenByHash(context.Background(), APITokenHash(made.Token))
	if err != nil || st.Name != "backup script" {
		t.Fatalf("stored %+v %v", st, err)
	}
	anon := client(t, e.ts)
	if got := e.call(t, anon, "GET", "health", nil, nil, bearer(made.Token)...); got != 200 {
		t.Fatalf("the new token: %d", got)
	}
	var list struct{ Tokens []apiToken }
	if e.call(t, c, "GET", "tokens", nil, &list, nil...); len(list.Tokens) != 1 || list.Tokens[0].Token != "" || list.Tokens[0].LastUsed == (jsonTime{}) {
		t.Fatalf("list %+v", list)
	}
	// carol, another admin, cannot revoke alice's token.
	carol := e.bob
	carol.Admin = true
	e.st.UpdateAccount(context.Background(), carol)
	carolTok, _ := e.token(t, carol.ID, "carol")
	if got := e.call(t, anon, "DELETE", "tokens/"+itoa(made.ID), nil, nil, bearer(carolTok)...); got != 404 {
		t.Errorf("revoking another admin's token: %d", got)
	}
	if got := e.call(t, c, "DELETE", "tokens/"+itoa(made.ID), nil, nil, "X-CSRF-Token", csrf); got != 204 {
		t.Fatalf("revoke: %d", got)
	}
	if got := e.call(t, anon, "GET", "health", nil, nil, bearer(made.Token)...); got != 401 {
		t.Errorf("revoked token: %d", got)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestAPICurl drives one call with curl, as docs/api.md shows it.
func TestAPICurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("no curl")
	}
	e := newAdminEnv(t)
	tok, _ := e.token(t, e.acct.ID, "curl")
	out, err := exec.Command(curl, "-sS", "--insecure", "-H", "Authorization: Bearer "+tok,
		"-H", "Content-Type: application/json", "-d", `{"address":"erin@example.test"}`, "-w", "\n%{http_code}",
		e.ts.URL+"/api/v1/accounts").CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	o := strings.TrimSpace(string(out))
	i := strings.LastIndexByte(o, '\n')
	body, code := o[:max(i, 0)], o[i+1:]
	if code != "201" || !strings.Contains(body, `"password"`) {
		t.Fatalf("curl: %s\n%s", code, body)
	}
	var r struct {
		Password string `json:"password"`
	}
	json.Unmarshal([]byte(body), &r)
	if _, err := e.auth.Login(context.Background(), auth.Request{Username: "erin@example.test", Password: r.Password, Service: store.ServiceIMAP}); err != nil {
		t.Fatalf("the account made with curl cannot sign in: %v", err)
	}
}

// TestAdminNeedsSecondFactor: an admin with TOTP on who gave only the
// password has no console and no API yet.
func TestAdminNeedsSecondFactor(t *testing.T) {
	e := newAdminEnv(t)
	if err := e.st.SetWebTOTP(context.Background(), e.acct.ID, "JBSWY3DPEHPK3PXP"); err != nil {
		t.Fatal(err)
	}
	c := client(t, e.ts)
	_, body := get(t, c, e.ts.URL+"/")
	resp, _ := postForm(t, c, e.ts.URL+"/login", url.Values{"username": {testUser}, "password": {testPassword}, "csrf": {csrfOf(t, body)}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/totp" {
		t.Fatalf("password step: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get(t, c, e.ts.URL+"/admin/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("console before the code: %d", resp.StatusCode)
	}
	if got := e.call(t, c, "GET", "accounts", nil, nil); got != 401 {
		t.Errorf("API before the code: %d, want 401", got)
	}
}
