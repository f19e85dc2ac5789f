package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/youju/youju/internal/store"
)

// Sessions of the settings page live on the server; the cookie holds only
// a random identifier (256 bits). The map is keyed by the identifier's
// hash, so even a memory dump does not give usable cookies.

// maxSessions bounds memory: past it, the oldest session is dropped.
const maxSessions = 10_000

type session struct {
	account  store.AccountID
	address  string
	csrf     string // token of the forms of this session
	created  time.Time
	lastSeen time.Time
}

type sessions struct {
	mu        sync.Mutex
	m         map[[32]byte]*session
	idle, max time.Duration
	now       func() time.Time
}

func newSessions(idle, max time.Duration, now func() time.Time) *sessions {
	return &sessions{m: map[[32]byte]*session{}, idle: idle, max: max, now: now}
}

// randomToken returns 32 random bytes, URL-safe base64.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("web: crypto/rand failed: " + err.Error()) // nothing is safe without it
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session and returns its cookie value. A new identifier
// at every sign-in prevents session fixation.
func (ss *sessions) create(acct store.AccountID, address string) (string, *session) {
	id := randomToken()
	now := ss.now()
	s := &session{account: acct, address: address, csrf: randomToken(), created: now, lastSeen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.m) >= maxSessions {
		ss.sweepLocked(now)
	}
	ss.m[sha256.Sum256([]byte(id))] = s
	return id, s
}

// get returns the live session of id and refreshes its idle timer.
func (ss *sessions) get(id string) (*session, bool) {
	if id == "" {
		return nil, false
	}
	k := sha256.Sum256([]byte(id))
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[k]
	if !ok {
		return nil, false
	}
	if ss.expired(s, now) {
		delete(ss.m, k)
		return nil, false
	}
	s.lastSeen = now
	cp := *s
	return &cp, true
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.lastSeen) > ss.idle || now.Sub(s.created) > ss.max
}

func (ss *sessions) delete(id string) {
	ss.mu.Lock()
	delete(ss.m, sha256.Sum256([]byte(id)))
	ss.mu.Unlock()
}

// sweepLocked drops expired sessions and, if still full, the oldest one.
func (ss *sessions) sweepLocked(now time.Time) {
	var oldestK [32]byte
	var oldest *session
	for k, s := range ss.m {
		if ss.expired(s, now) {
			delete(ss.m, k)
			continue
		}
		if oldest == nil || s.lastSeen.Before(oldest.lastSeen) {
			oldestK, oldest = k, s
		}
	}
	if len(ss.m) >= maxSessions && oldest != nil {
		delete(ss.m, oldestK)
	}
}

// Cookie names. Over HTTPS the __Host- prefix makes browsers insist on
// Secure, Path=/ and no Domain, so a sibling host cannot plant the cookie
// (RFC 6265bis §4.1.3.2). Plain HTTP is only ever loopback.
func sessionCookie(r *http.Request) string {
	if r.TLS != nil {
		return "__Host-youju-session"
	}
	return "youju-session"
}

func loginCSRFCookie(r *http.Request) string {
	if r.TLS != nil {
		return "__Host-youju-csrf"
	}
	return "youju-csrf"
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		Secure: r.TLS != nil, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}

// sameOrigin refuses requests a browser marks as coming from another site:
// Sec-Fetch-Site where sent, else an Origin that is not this host. It
// backs up the CSRF tokens, not replaces them.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	return o == scheme+r.Host
}

func tokensEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
