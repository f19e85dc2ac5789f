package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/youju/youju/internal/store"
)

// Sessions of the web pages live on the server, in the store when it
// implements store.WebSessions (so that every node serving the same store
// knows them), else in memory (memsessions.go). The cookie holds only a
// random identifier (256 bits); the server keys sessions by its SHA-256,
// so even a copy of the table or a memory dump gives no usable cookie.

// touchEvery is how stale a session's last-use time may get before it is
// written again: a write per request would load the store's writer for
// nothing, and idle timeouts are minutes long.
const touchEvery = time.Minute

// sweepEvery is how often expired sessions are deleted from the backend.
const sweepEvery = 10 * time.Minute

type session struct {
	key      [32]byte
	account  store.AccountID
	csrf     string // token of the forms of this session
	pending  bool   // waiting for the TOTP code (totp.go)
	created  time.Time
	lastSeen time.Time
}

type sessions struct {
	b         store.WebSessions
	idle, max time.Duration
	now       func() time.Time
	log       *slog.Logger

	mu        sync.Mutex
	lastSweep time.Time
}

func newSessions(b store.WebSessions, idle, max time.Duration, now func() time.Time, log *slog.Logger) *sessions {
	return &sessions{b: b, idle: idle, max: max, now: now, log: log}
}

// randomToken returns 32 random bytes, URL-safe base64.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("web: crypto/rand failed: " + err.Error()) // nothing is safe without it
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func sessionKey(id string) [32]byte { return sha256.Sum256([]byte(id)) }

// create starts a session and returns its cookie value. A new identifier
// at every sign-in (and again after the second factor) prevents session
// fixation.
func (ss *sessions) create(ctx context.Context, acct store.AccountID, pending bool) (string, *session, error) {
	ss.sweep(ctx)
	id := randomToken()
	now := ss.now()
	s := &session{key: sessionKey(id), account: acct, csrf: randomToken(), pending: pending, created: now, lastSeen: now}
	err := ss.b.CreateWebSession(ctx, store.WebSession{ID: s.key, Account: acct, CSRF: s.csrf, Pending: pending, Created: now, LastSeen: now})
	if err != nil {
		return "", nil, err
	}
	return id, s, nil
}

// get returns the live session of id and refreshes its idle timer.
func (ss *sessions) get(ctx context.Context, id string) (*session, bool) {
	if id == "" {
		return nil, false
	}
	k := sessionKey(id)
	ws, err := ss.b.WebSession(ctx, k)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			ss.log.Error("reading a web session", "err", err)
		}
		return nil, false
	}
	now := ss.now()
	if now.Sub(ws.LastSeen) > ss.idle || now.Sub(ws.Created) > ss.max {
		ss.delete(ctx, id)
		return nil, false
	}
	if now.Sub(ws.LastSeen) >= touchEvery {
		if err := ss.b.TouchWebSession(ctx, k, now); err != nil {
			ss.log.Warn("touching a web session", "err", err)
		}
		ws.LastSeen = now
	}
	return &session{key: k, account: ws.Account, csrf: ws.CSRF, pending: ws.Pending, created: ws.Created, lastSeen: ws.LastSeen}, true
}

func (ss *sessions) delete(ctx context.Context, id string) {
	if err := ss.b.DeleteWebSession(ctx, sessionKey(id)); err != nil {
		ss.log.Error("deleting a web session", "err", err)
	}
}

// deleteOthers ends every session of acct but the one of keepID.
func (ss *sessions) deleteOthers(ctx context.Context, acct store.AccountID, keepID string) {
	if err := ss.b.DeleteAccountWebSessions(ctx, acct, sessionKey(keepID)); err != nil {
		ss.log.Error("deleting web sessions", "err", err)
	}
}

// sweep deletes expired sessions, at most every sweepEvery.
func (ss *sessions) sweep(ctx context.Context) {
	now := ss.now()
	ss.mu.Lock()
	due := now.Sub(ss.lastSweep) >= sweepEvery
	if due {
		ss.lastSweep = now
	}
	ss.mu.Unlock()
	if !due {
		return
	}
	if _, err := ss.b.ExpireWebSessions(ctx, now.Add(-ss.idle), now.Add(-ss.max)); err != nil {
		ss.log.Warn("expiring web sessions", "err", err)
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
	if o == "null" {
		// A privacy-sensitive context (a page under no-referrer, a
		// sandboxed frame): only the browser's own same-origin mark
		// vouches for it (RFC 6454 §7.3; Fetch Metadata).
		return r.Header.Get("Sec-Fetch-Site") == "same-origin"
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
