package web

import "net/http"

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
	s.renderTemplate(w, status, "admin", adminPages[p.Lang], p.Lang, adminCSP, p)
}
