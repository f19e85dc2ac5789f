package web

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/youju/youju/internal/testutil/fixture"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/clientconf"
	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
	"github.com/youju/youju/internal/tlsconf"
)

const (
	testDomain   = "example.test"
	testHost     = "mail.example.test"
	testUser     = "alice@example.test"
	testPassword = "correct horse battery"
)

// clock is a settable time for session expiry tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a web handler over a real sqlite store with one account.
type env struct {
	st    *sqlite.Store
	auth  *auth.Authenticator
	h     http.Handler
	srv   *server
	clock *clock
	acct  store.Account
}

func testSettings() []clientconf.Entry {
	c := config.Default(testDomain)
	c.PortOffset = 10000
	return clientconf.Settings(c, testHost)
}

func newEnv(t testing.TB, edit func(*Options)) *env {
	t.Helper()
	st := fixture.NewStore(t, sqlite.Options{}, testDomain, "second.test")
	acct := fixture.Account(t, st, store.Account{Address: testUser, PasswordHash: fixture.PasswordHash(testPassword), AllowIMAP: true, AllowPOP3: true, AllowSMTP: true, Created: time.Now()})
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	a := auth.New(st, auth.Options{DefaultDomain: testDomain, MaxFailuresPerIP: 5, MaxDelay: -1, CacheTTL: -1})
	opt := Options{Hostname: testHost, Domain: testDomain, Settings: testSettings(), Store: st, Auth: a,
		Logger: slog.New(slog.DiscardHandler), Now: clk.Now}
	if edit != nil {
		edit(&opt)
	}
	h := New(opt)
	return &env{st: st, auth: a, h: h, srv: h.(*server), clock: clk, acct: acct}
}

// client is a browser-like HTTP client with a cookie jar that does not
// follow redirects (tests look at them).
func client(t *testing.T, ts *httptest.Server) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := *ts.Client() // a copy: ts.Client() returns one shared client
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func get(t *testing.T, c *http.Client, u string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, c, req)
}

func postForm(t *testing.T, c *http.Client, u string, form url.Values, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, c, req)
}

func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in page:\n%s", body)
	}
	return m[1]
}

// signIn signs in through the form and returns the settings page.
func signIn(t *testing.T, c *http.Client, base, user, pw string) (*http.Response, string) {
	t.Helper()
	_, body := get(t, c, base+"/")
	resp, body := postForm(t, c, base+"/login", url.Values{"username": {user}, "password": {pw}, "csrf": {csrfOf(t, body)}})
	if resp.StatusCode != http.StatusSeeOther {
		return resp, body
	}
	return get(t, c, base+"/settings")
}

func selfSigned(t *testing.T) *tls.Certificate {
	t.Helper()
	cert, err := tlsconf.SelfSigned([]string{"localhost", "127.0.0.1", testHost})
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// browserProfile is a Chromium --user-data-dir for one test. Chromium may
// still write into it for a moment after its context is cancelled, which
// makes t.TempDir's cleanup fail the test ("directory not empty"); the
// removal here retries for a while and only logs what it cannot remove.
func browserProfile(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "youju-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; ; i++ {
			err := os.RemoveAll(dir)
			if err == nil {
				return
			}
			if i == 50 {
				t.Logf("browser profile not removed: %v", err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	return dir
}

// signedIn serves e's handler over TLS until the test ends and signs
// testUser in: the server, the signed-in client and the CSRF token of the
// page after sign-in.
func signedIn(t *testing.T, e *env) (*httptest.Server, *http.Client, string) {
	t.Helper()
	ts := httptest.NewTLSServer(e.h)
	t.Cleanup(ts.Close)
	c := client(t, ts)
	_, page := signIn(t, c, ts.URL, testUser, testPassword)
	return ts, c, csrfOf(t, page)
}
