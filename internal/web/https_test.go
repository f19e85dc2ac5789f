package web

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/maillog"
)

// remote makes every client, 127.0.0.1 included, count as a client on
// the network: the tests run on loopback only.
func remote(o *Options) { o.LocalClient = func(netip.Addr) bool { return false } }

func TestHSTSOnHTTPSOnly(t *testing.T) {
	e := newEnv(t, nil)
	tls := httptest.NewTLSServer(e.h)
	defer tls.Close()
	plain := httptest.NewServer(e.h)
	defer plain.Close()

	for _, path := range []string{"/", "/healthz", "/nonexistent", "/mail/config-v1.1.xml?emailaddress=alice@example.test"} {
		resp, _ := get(t, client(t, tls), tls.URL+path)
		v := resp.Header.Get("Strict-Transport-Security")
		age, ok := strings.CutPrefix(v, "max-age=")
		n, err := strconv.Atoi(age)
		if !ok || err != nil || time.Duration(n)*time.Second < 180*24*time.Hour {
			t.Errorf("HTTPS %s: Strict-Transport-Security %q, want max-age of at least 180 days", path, v)
		}
		// The mail host is often a subdomain of the company's domain:
		// never pin the company's other hosts.
		if strings.Contains(strings.ToLower(v), "includesubdomains") || strings.Contains(v, "preload") {
			t.Errorf("HTTPS %s: %q", path, v)
		}
		resp, _ = get(t, client(t, plain), plain.URL+path)
		if v := resp.Header.Get("Strict-Transport-Security"); v != "" {
			t.Errorf("plain HTTP %s: Strict-Transport-Security %q (RFC 6797 §7.2)", path, v)
		}
	}
}

func TestHSTSNotOnOtherPortOrWhenOff(t *testing.T) {
	for name, edit := range map[string]func(*Options){
		"https on 10443": func(o *Options) { o.HTTPSPort = 10443 },
		"switched off":   func(o *Options) { o.HSTSMaxAge = -1 },
	} {
		e := newEnv(t, edit)
		ts := httptest.NewTLSServer(e.h)
		resp, _ := get(t, client(t, ts), ts.URL+"/")
		ts.Close()
		if v := resp.Header.Get("Strict-Transport-Security"); v != "" {
			t.Errorf("%s: Strict-Transport-Security %q", name, v)
		}
	}
}

// TestPlainHTTPPagesRedirect: a client on the network that opens a page
// over plain HTTP is sent to the same host and path on the HTTPS port,
// and never sees the sign-in form.
func TestPlainHTTPPagesRedirect(t *testing.T) {
	for _, tc := range []struct {
		port       int
		host, path string
		want       string
	}{
		{10443, "mail.example.test", "/", "https://mail.example.test:10443/"},
		{10443, "mail.example.test:10080", "/settings?n=notice_saved", "https://mail.example.test:10443/settings?n=notice_saved"},
		{0, "Mail.Example.TEST", "/lang/zh", "https://mail.example.test/lang/zh"},
		{443, "webmail.second.test", "/apple.mobileconfig?emailaddress=alice%40example.test", "https://webmail.second.test/apple.mobileconfig?emailaddress=alice%40example.test"},
		{10443, "192.0.2.7:80", "/static/style.css", "https://192.0.2.7:10443/static/style.css"},
		{10443, "[2001:db8::1]:80", "/", "https://[2001:db8::1]:10443/"},
		{10443, "_bad_", "/a%20b", "https://mail.example.test:10443/a%20b"},
	} {
		e := newEnv(t, func(o *Options) { remote(o); o.HTTPSPort = tc.port })
		ts := httptest.NewServer(e.h)
		req, _ := http.NewRequest("GET", ts.URL+tc.path, nil)
		req.Host = tc.host
		resp, body := do(t, client(t, ts), req)
		ts.Close()
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != tc.want {
			t.Errorf("GET http://%s%s: %d %q, want 301 %q", tc.host, tc.path, resp.StatusCode, resp.Header.Get("Location"), tc.want)
		}
		if strings.Contains(body, `name="password"`) {
			t.Errorf("GET http://%s%s: the sign-in form over plain HTTP", tc.host, tc.path)
		}
	}
}

// TestPlainHTTPLoginRefusedUnchecked: credentials posted over plain HTTP
// from the network are refused without being checked: the right password
// gets no session, and ten wrong ones do not count as failures (the
// throttle would stop the account at five).
func TestPlainHTTPLoginRefusedUnchecked(t *testing.T) {
	e := newEnv(t, func(o *Options) { remote(o); o.HTTPSPort = 10443 })
	ts := httptest.NewServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	post := func(pw string) (*http.Response, string) {
		form := url.Values{"username": {testUser}, "password": {pw}, "csrf": {"t"}}
		return postForm(t, c, ts.URL+"/login", form, "Cookie", "youju-csrf=t")
	}
	resp, body := post(testPassword)
	if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 || strings.Contains(body, `name="password"`) ||
		!strings.Contains(body, `href="https://mail.example.test:10443/"`) {
		t.Fatalf("POST /login over plain HTTP: %d %v\n%s", resp.StatusCode, resp.Cookies(), body)
	}
	for range 10 {
		if resp, _ := post("wrong"); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("wrong password over plain HTTP: %d", resp.StatusCode)
		}
	}
	// Nothing was counted: over TLS, from the same address, sign-in works.
	tls := httptest.NewTLSServer(e.h)
	defer tls.Close()
	if resp, body := signIn(t, client(t, tls), tls.URL, testUser, testPassword); resp.StatusCode != 200 || !strings.Contains(body, "Signed in as") {
		t.Fatalf("sign-in over TLS after plain-HTTP posts: %d\n%s", resp.StatusCode, body)
	}
}

// TestPlainHTTPMachinePathsStay: what mail clients, MTA-STS and ACME
// fetch over port 80 is still answered there, not redirected.
func TestPlainHTTPMachinePathsStay(t *testing.T) {
	e := newEnv(t, func(o *Options) { remote(o); o.HTTPSPort = 10443 })
	ts := httptest.NewServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	check := func(what string, resp *http.Response, body, want string) {
		t.Helper()
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("%s over plain HTTP: %d %q\n%s", what, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
	resp, body := get(t, c, ts.URL+"/mail/config-v1.1.xml?emailaddress=alice@example.test")
	check("autoconfig", resp, body, "<hostname>mail.example.test</hostname>")
	resp, body = get(t, c, ts.URL+"/.well-known/autoconfig/mail/config-v1.1.xml")
	check("well-known autoconfig", resp, body, "<clientConfig")
	resp, body = do(t, c, mustReq(t, "POST", ts.URL+"/Autodiscover/Autodiscover.xml", adRequestBody))
	check("autodiscover", resp, body, "<Server>mail.example.test</Server>")
	req, _ := http.NewRequest("GET", ts.URL+"/.well-known/mta-sts.txt", nil)
	req.Host = "mta-sts.example.test"
	resp, body = do(t, c, req)
	check("MTA-STS", resp, body, "version: STSv1")
	resp, body = get(t, c, ts.URL+"/healthz")
	check("healthz", resp, body, "ok")
	// An ACME challenge path is not redirected (nothing serves it here: 404).
	if resp, _ := get(t, c, ts.URL+"/.well-known/acme-challenge/abc"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("acme-challenge: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A dot-dot path does not sneak a page past the rule.
	req, _ = http.NewRequest("GET", ts.URL+"/", nil)
	req.URL.Opaque = "/.well-known/../settings"
	resp, body = do(t, c, req)
	if resp.StatusCode != http.StatusMovedPermanently || !strings.HasPrefix(resp.Header.Get("Location"), "https://") || strings.Contains(body, "password") {
		t.Errorf("/.well-known/../settings: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestPlainHTTPWithoutHTTPS: with no HTTPS listener there is nowhere to
// redirect: the public page is shown, without a form, and a post refused.
func TestPlainHTTPWithoutHTTPS(t *testing.T) {
	e := newEnv(t, func(o *Options) { remote(o); o.HTTPSPort = -1 })
	ts := httptest.NewServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	resp, body := get(t, c, ts.URL+"/")
	if resp.StatusCode != 200 || strings.Contains(body, `name="password"`) || !strings.Contains(body, `<td data-label="Port">10993</td>`) {
		t.Errorf("GET /: %d\n%s", resp.StatusCode, body)
	}
	form := url.Values{"username": {testUser}, "password": {testPassword}, "csrf": {"t"}}
	if resp, _ := postForm(t, c, ts.URL+"/login", form, "Cookie", "youju-csrf=t"); resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Errorf("POST /login: %d %v", resp.StatusCode, resp.Cookies())
	}
}

// TestLoopbackPlainHTTPStillSignsIn: the default predicate keeps the
// browser-on-this-machine case working over plain HTTP.
func TestLoopbackPlainHTTPStillSignsIn(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.HTTPSPort = 10443 })
	ts := httptest.NewServer(e.h)
	defer ts.Close()
	if resp, body := signIn(t, client(t, ts), ts.URL, testUser, testPassword); resp.StatusCode != 200 || !strings.Contains(body, "Signed in as") {
		t.Fatalf("loopback sign-in over plain HTTP: %d\n%s", resp.StatusCode, body)
	}
}

// FuzzRedirectURL: whatever the Host header and path, the redirect goes
// to https on a host that is a plain name or address (ours when in
// doubt), and keeps the path.
func FuzzRedirectURL(f *testing.F) {
	for _, s := range []string{"mail.example.test", "mail.example.test:80", "[::1]:80", "192.0.2.1", "evil.test@x", "a/b", "[fe80::1%25eth0]", "", "x..y", "-a.b"} {
		f.Add(s, "/settings", "n=1")
	}
	s := &server{opt: Options{Hostname: testHost, HTTPSPort: 10443}}
	f.Fuzz(func(t *testing.T, host, path, query string) {
		// What the server can have parsed from a request line.
		ru, err := url.ParseRequestURI("/" + strings.TrimPrefix(path, "/") + "?" + query)
		if err != nil {
			return
		}
		r := &http.Request{Host: host, URL: ru}
		got := s.redirectURL(r)
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "https" || u.Port() != "10443" || u.User != nil || u.Fragment != "" {
			t.Fatalf("host %q path %q: %q (%v)", host, path, got, err)
		}
		h := u.Hostname()
		if _, err := netip.ParseAddr(h); err != nil && !validHostName(h) {
			t.Fatalf("host %q: redirect to host %q", host, h)
		}
		if want := "/" + strings.TrimPrefix(r.URL.EscapedPath(), "/"); u.EscapedPath() != want && u.Path != r.URL.Path {
			t.Fatalf("path %q: redirect to %q", path, u.EscapedPath())
		}
	})
}

// TestSignInFailureInMailLog: a wrong password on the settings page is an
// auth_failed line like one on IMAP.
func TestSignInFailureInMailLog(t *testing.T) {
	var buf bytes.Buffer
	maillog.SetLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	defer maillog.SetLogger(nil)
	e := newEnv(t, nil)
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	if resp, _ := signIn(t, client(t, ts), ts.URL, testUser, "wrong"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	line := buf.String()
	for _, want := range []string{"msg=mail event=auth_failed ", "remote=127.0.0.1 proto=http user=alice@example.test ", `text="invalid credentials"`, "mech=form"} {
		if !strings.Contains(line, want) {
			t.Errorf("mail log lacks %q:\n%s", want, line)
		}
	}
	if strings.Contains(line, "wrong") {
		t.Errorf("the password is in the log:\n%s", line)
	}
}
