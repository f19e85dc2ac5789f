package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/maillog"
	"github.com/youju/youju/internal/store"
)

// The admin JSON API under /api/v1/ (docs/api.md): every action of the
// admin console, which itself calls it with fetch. A request is
// authenticated by a bearer token of an admin account (store.APITokens)
// or by the console's session cookie; a session must also send its CSRF
// token in the X-CSRF-Token header on every state change (a cross-site
// page can make a browser send the cookie, never read the token). A token
// needs no CSRF check: browsers never attach it by themselves.

// maxAPIBody bounds every request body; ours are a few hundred bytes.
const maxAPIBody = 64 << 10

// apiCaller is who makes an API request.
type apiCaller struct {
	acct      store.Account
	session   *session // nil for a token
	sessionID string   // the session's cookie value, "" for a token
}

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func apiFail(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Error: msg, Code: code})
}

// storeFail answers a store error with its HTTP meaning.
func (s *server) storeFail(w http.ResponseWriter, err error, what string) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		apiFail(w, http.StatusNotFound, "not_found", what+" not found")
	case errors.Is(err, store.ErrExists):
		apiFail(w, http.StatusConflict, "exists", what+" exists already")
	case errors.Is(err, store.ErrInvalidName):
		apiFail(w, http.StatusBadRequest, "invalid", "invalid "+what)
	default:
		s.log.Error("admin API", "what", what, "err", err)
		apiFail(w, http.StatusInternalServerError, "internal", "internal error")
	}
}

// decodeJSON reads a request body of at most maxAPIBody bytes into v;
// unknown fields are an error, so a misspelt field is never silently
// ignored. On failure it has answered.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxAPIBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		apiFail(w, http.StatusBadRequest, "bad_json", "bad request body: "+err.Error())
		return false
	}
	if dec.More() {
		apiFail(w, http.StatusBadRequest, "bad_json", "bad request body: more than one JSON value")
		return false
	}
	return true
}

// apiAuth authenticates an API request (see the top of this file); on
// failure it has answered 401 (no or a bad credential), 403 (not an
// admin, or a session's state change without its CSRF token) or 503.
func (s *server) apiAuth(w http.ResponseWriter, r *http.Request) (apiCaller, bool) {
	if s.opt.Store == nil {
		apiFail(w, http.StatusServiceUnavailable, "unavailable", "no store")
		return apiCaller{}, false
	}
	if h := r.Header.Get("Authorization"); h != "" {
		return s.tokenAuth(w, r, h)
	}
	id, sess, ok := s.currentSession(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="youju"`)
		apiFail(w, http.StatusUnauthorized, "unauthorized", "sign in or send an API token")
		return apiCaller{}, false
	}
	acct, err := s.opt.Store.AccountByID(r.Context(), sess.account)
	if err != nil || acct.Disabled {
		s.sessions.delete(r.Context(), id)
		apiFail(w, http.StatusUnauthorized, "unauthorized", "sign in again")
		return apiCaller{}, false
	}
	if !acct.Admin {
		apiFail(w, http.StatusForbidden, "forbidden", "this account is not an admin")
		return apiCaller{}, false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if !sameOrigin(r) || !tokensEqual(sess.csrf, r.Header.Get("X-CSRF-Token")) {
			apiFail(w, http.StatusForbidden, "csrf", "missing or wrong X-CSRF-Token")
			return apiCaller{}, false
		}
	}
	return apiCaller{acct: acct, session: sess, sessionID: id}, true
}

// tokenAuth checks "Authorization: Bearer TOKEN" (RFC 6750 §2.1). Bad
// tokens count against the common sign-in throttle of the client's
// address (auth.CheckToken); a throttled client gets 429 with
// Retry-After (RFC 6585 §4, RFC 9110 §10.2.3).
func (s *server) tokenAuth(w http.ResponseWriter, r *http.Request, h string) (apiCaller, bool) {
	ts := apiTokensOf(s.opt.Store)
	if ts == nil {
		apiFail(w, http.StatusServiceUnavailable, "unavailable", "this store keeps no API tokens")
		return apiCaller{}, false
	}
	scheme, secret, _ := strings.Cut(h, " ")
	secret = strings.TrimSpace(secret)
	var tok store.APIToken
	var acct store.Account
	why := "want Authorization: Bearer " + apiTokenPrefix + "..."
	check := func(ctx context.Context) (bool, error) {
		if !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(secret, apiTokenPrefix) || len(secret) > 200 {
			return false, nil
		}
		var err error
		why = "unknown or revoked token"
		if tok, err = ts.APITokenByHash(ctx, APITokenHash(secret)); errors.Is(err, store.ErrNotFound) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		why = "the token's account is gone or disabled"
		acct, err = s.opt.Store.AccountByID(ctx, tok.Account)
		return err == nil && !acct.Disabled, nil
	}
	if err := s.checkToken(r, secret, check); err != nil {
		return apiCaller{}, s.tokenFail(w, r, err, why)
	}
	if !acct.Admin {
		apiFail(w, http.StatusForbidden, "forbidden", "the token's account is no longer an admin")
		return apiCaller{}, false
	}
	now := s.opt.Now()
	if now.Sub(tok.LastUsed) >= touchEvery {
		if err := ts.TouchAPIToken(r.Context(), tok.ID, now); err != nil {
			s.log.Warn("touching an API token", "err", err)
		}
	}
	return apiCaller{acct: acct}, true
}

// checkToken runs check under the sign-in throttle (without an
// authenticator, as in some tests, unthrottled).
func (s *server) checkToken(r *http.Request, secret string, check func(context.Context) (bool, error)) error {
	if s.opt.Auth == nil {
		if ok, err := check(r.Context()); err != nil || ok {
			return err
		}
		return auth.ErrInvalidCredentials
	}
	return s.opt.Auth.CheckToken(r.Context(), remoteAddr(r), secret, check)
}

// tokenFail answers a refused token and logs it (docs/logs.md
// auth_failed, mechanism "bearer"); it returns false for tokenAuth.
func (s *server) tokenFail(w http.ResponseWriter, r *http.Request, err error, why string) bool {
	throttled := errors.Is(err, auth.ErrThrottled)
	if !throttled && !errors.Is(err, auth.ErrInvalidCredentials) {
		s.storeFail(w, err, "token")
		return false
	}
	maillog.AuthFailed("http", remoteAddr(r), "", "bearer", err)
	if throttled {
		secs := 60
		if s.opt.Auth != nil {
			secs = int(s.opt.Auth.RetryAfter().Seconds())
		}
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		apiFail(w, http.StatusTooManyRequests, "throttled", "too many failed sign-ins or bad tokens from your address: try again later")
		return false
	}
	// RFC 6750 §3: a bad token gets invalid_token.
	w.Header().Set("WWW-Authenticate", `Bearer realm="youju", error="invalid_token"`)
	apiFail(w, http.StatusUnauthorized, "unauthorized", why)
	return false
}

// api wraps an API handler with authentication.
func (s *server) api(h func(http.ResponseWriter, *http.Request, apiCaller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.apiAuth(w, r)
		if !ok {
			return
		}
		h(w, r, c)
	}
}

// adminRoutes adds the console and the API.
func (s *server) adminRoutes() {
	m := s.mux
	m.HandleFunc("GET /admin/{$}", s.adminPage)
	m.Handle("GET /admin", http.RedirectHandler("/admin/", http.StatusMovedPermanently))
	for _, rt := range []struct {
		pattern string
		h       func(http.ResponseWriter, *http.Request, apiCaller)
	}{
		{"GET /api/v1/domains", s.apiDomains},
		{"POST /api/v1/domains", s.apiAddDomain},
		{"GET /api/v1/domains/{domain}/dns", s.apiDNS},
		{"GET /api/v1/domains/{domain}/dns/check", s.apiDNSCheck},
		{"GET /api/v1/accounts", s.apiAccounts},
		{"POST /api/v1/accounts", s.apiCreateAccount},
		{"GET /api/v1/accounts/{address}", s.apiAccount},
		{"PATCH /api/v1/accounts/{address}", s.apiUpdateAccount},
		{"POST /api/v1/accounts/{address}/password", s.apiResetPassword},
		{"GET /api/v1/accounts/{address}/app-passwords", s.apiAppPasswords},
		{"DELETE /api/v1/accounts/{address}/app-passwords/{name}", s.apiRevokeAppPassword},
		{"GET /api/v1/aliases", s.apiAliases},
		{"PUT /api/v1/aliases/{address}", s.apiSetAlias},
		{"DELETE /api/v1/aliases/{address}", s.apiDeleteAlias},
		{"GET /api/v1/queue", s.apiQueue},
		{"GET /api/v1/queue/{id}", s.apiQueueShow},
		{"POST /api/v1/queue/{id}/{action}", s.apiQueueAction},
		{"DELETE /api/v1/queue/{id}", s.apiQueueDelete},
		{"GET /api/v1/events", s.apiEvents},
		{"GET /api/v1/reports", s.apiReports},
		{"GET /api/v1/health", s.apiHealth},
		{"GET /api/v1/tokens", s.apiTokens},
		{"POST /api/v1/tokens", s.apiCreateToken},
		{"DELETE /api/v1/tokens/{id}", s.apiRevokeToken},
	} {
		m.HandleFunc(rt.pattern, s.api(rt.h))
	}
	m.HandleFunc("/api/", func(w http.ResponseWriter, _ *http.Request) {
		apiFail(w, http.StatusNotFound, "not_found", "no such API endpoint (see docs/api.md)")
	})
}

// jsonTime is a time in JSON: RFC 3339, or null for the zero time.
type jsonTime time.Time

func (t jsonTime) MarshalJSON() ([]byte, error) {
	if time.Time(t).IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(time.Time(t).UTC().Format(time.RFC3339))
}

// UnmarshalJSON reads what MarshalJSON writes (clients in Go, tests).
func (t *jsonTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = jsonTime{}
		return nil
	}
	var x time.Time
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	*t = jsonTime(x)
	return nil
}
