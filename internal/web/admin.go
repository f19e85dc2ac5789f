package web

import (
	"bytes"
	"net/http"
)

// The admin console at /admin/: one page whose script (static/admin.js)
// does everything through the JSON API (api.go), with the session cookie
// and the session's CSRF token in the X-CSRF-Token header. Only accounts
// marked admin ("youju user set --admin") get it; sign-in is the common
// one (throttled, with TOTP when on).

// adminCSP lets the console's own script run and call the API; still no
// inline script, no other origin.
const adminCSP = "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// adminPages is the console per language.
var adminPages = parsePages("admin")["admin"]

func (s *server) adminPage(w http.ResponseWriter, r *http.Request) {
	id, sess, ok := s.currentSession(r)
	if !ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	acct, ok := s.account(w, r, id, sess)
	if !ok {
		return
	}
	p := s.newPage(r)
	p.Address, p.CSRF, p.Admin = acct.Address, sess.csrf, acct.Admin
	status := http.StatusOK
	if !acct.Admin {
		status, p.Error = http.StatusForbidden, "admin_forbidden"
	}
	var b bytes.Buffer
	if err := adminPages[p.Lang].ExecuteTemplate(&b, "layout", p); err != nil {
		s.log.Error("rendering a page", "page", "admin", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", adminCSP)
	h.Set("Content-Language", map[string]string{"en": "en", "zh": "zh-CN"}[p.Lang])
	h.Set("Vary", "Accept-Language, Cookie")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}
