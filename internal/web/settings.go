package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/clientconf"
	"github.com/youju/youju/internal/maillog"
	"github.com/youju/youju/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticRoot embed.FS

// staticFS is served under /static/, so its root holds "static/".
var staticFS fs.FS = staticRoot

// pages holds every page template per language: templates are parsed
// once, then cloned with the language's "t" function bound.
var pages = parsePages("login", "settings", "totp", "mail", "mailmsg")

func parsePages(names ...string) map[string]map[string]*template.Template {
	base := template.Must(template.New("").Funcs(template.FuncMap{
		"t":    func(string) (string, error) { return "", nil },
		"date": func(t time.Time) string { return t.Local().Format("2006-01-02 15:04") },
		"clip": clip,
		"add":  func(a, b int) int { return a + b },
	}).ParseFS(templateFS, "templates/layout.html", "templates/mailparts.html"))
	out := map[string]map[string]*template.Template{}
	for _, name := range names {
		page := template.Must(template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html"))
		out[name] = map[string]*template.Template{}
		for lang, msgs := range messages {
			out[name][lang] = template.Must(page.Clone()).Funcs(template.FuncMap{"t": translator(lang, msgs)})
		}
	}
	return out
}

func translator(lang string, msgs map[string]string) func(string) (string, error) {
	return func(key string) (string, error) {
		if s, ok := msgs[key]; ok {
			return s, nil
		}
		return "", fmt.Errorf("no %s text for %q", lang, key)
	}
}

// page is what the templates see.
type page struct {
	Lang, Hostname string
	Rows           []clientconf.Entry
	Address        string // signed in as (empty on the public page)
	Username       string // the sign-in form's value after an error
	CSRF           string
	Error          string // message key
	Notice         string // message key
	LoginEnabled   bool
	Secure         bool
	HTTPSURL       string

	AppPasswords    []store.AppPassword
	NewPassword     string
	NewPasswordName string
	AllowIMAP       bool
	AllowPOP3       bool
	AllowSMTP       bool
	TOTPEnabled     bool
	TOTPSecret      string       // during setup: the new secret, shown once
	TOTPURI         template.URL // its otpauth:// URI (built by us: a trusted scheme)
	POP3            store.POP3Options
	Rules           *rulesView // nil without Sieve (rules.go)
	Detail          string     // detail of Error, e.g. which rule is wrong
	Mail            *mailPage  // webmail pages (mail.go)
	Admin           bool       // the account is an admin: link the console (admin.go)
}

func (s *server) newPage(r *http.Request) *page {
	lang := ""
	if c, err := r.Cookie("youju-lang"); err == nil {
		lang = c.Value
	}
	return &page{
		Lang: pickLang(lang, r.Header.Get("Accept-Language")), Hostname: s.opt.Hostname, Rows: s.opt.Settings,
		LoginEnabled: s.opt.Store != nil && s.opt.Auth != nil, Secure: s.secure(r), HTTPSURL: s.httpsURL("/"),
	}
}

// render executes a page into a buffer first, so a template error gives a
// clean 500 instead of half a page.
func (s *server) render(w http.ResponseWriter, status int, name string, p *page) {
	s.renderTemplate(w, status, name, pages[name][p.Lang], p.Lang, "", p)
}

// renderTemplate is render for any page's template set and data (the
// admin console, the import page): tpl is the language's template, csp
// the page's Content-Security-Policy ("" keeps the site's).
func (s *server) renderTemplate(w http.ResponseWriter, status int, name string, tpl *template.Template, lang, csp string, data any) {
	var b bytes.Buffer
	if err := tpl.ExecuteTemplate(&b, "layout", data); err != nil {
		s.log.Error("rendering a page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Pages may hold a fresh app password or CSRF tokens: never cache.
	h.Set("Cache-Control", "no-store")
	if csp != "" {
		h.Set("Content-Security-Policy", csp)
	}
	h.Set("Content-Language", map[string]string{"en": "en", "zh": "zh-CN"}[lang])
	h.Set("Vary", "Accept-Language, Cookie")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// maxFormBytes bounds every form body; ours are a few hundred bytes.
const maxFormBytes = 16 << 10

func (s *server) index(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := s.currentSession(r); ok {
		http.Redirect(w, r, "/settings", http.StatusSeeOther)
		return
	}
	p := s.newPage(r)
	s.showLogin(w, r, http.StatusOK, p)
}

// showLogin renders the public page with a fresh login CSRF token in a
// cookie and the form (double-submit: a cross-site form cannot read the
// cookie to copy it, and SameSite=Strict keeps it from being sent).
func (s *server) showLogin(w http.ResponseWriter, r *http.Request, status int, p *page) {
	if p.LoginEnabled && p.Secure {
		p.CSRF = randomToken()
		setCookie(w, r, loginCSRFCookie(r), p.CSRF, 3600)
	}
	s.render(w, status, "login", p)
}

func (s *server) setLang(w http.ResponseWriter, r *http.Request) {
	lang := r.PathValue("lang")
	if lang != "en" && lang != "zh" {
		http.NotFound(w, r)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: "youju-lang", Value: lang, Path: "/", MaxAge: 365 * 24 * 3600,
		Secure: r.TLS != nil, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *server) login(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(r)
	if !p.LoginEnabled {
		http.NotFound(w, r)
		return
	}
	if !p.Secure {
		// Never take a password over plain HTTP from the network.
		p.Error = "use_https"
		s.render(w, http.StatusForbidden, "login", p)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	c, _ := r.Cookie(loginCSRFCookie(r))
	if c == nil || !sameOrigin(r) || !tokensEqual(c.Value, r.PostForm.Get("csrf")) {
		p.Error = "err_csrf"
		s.showLogin(w, r, http.StatusForbidden, p)
		return
	}
	user, pw := strings.TrimSpace(r.PostForm.Get("username")), r.PostForm.Get("password")
	p.Username = user
	// Service "": the settings page is not one of the switchable services.
	acct, err := s.opt.Auth.Login(r.Context(), auth.Request{Username: user, Password: pw, Remote: remoteAddr(r)})
	if err != nil {
		maillog.AuthFailed("http", remoteAddr(r), user, "form", err)
	}
	status := http.StatusForbidden
	switch {
	case err == nil && !auth.VerifyPassword(acct.PasswordHash, pw):
		// An app password is for one mail app; it must not open the page
		// that makes more of them.
		p.Error = "err_app_password"
	case err == nil:
		s.signedIn(w, r, acct)
		return
	case errors.Is(err, auth.ErrInvalidCredentials):
		p.Error = "err_credentials"
	case errors.Is(err, auth.ErrThrottled):
		p.Error, status = "err_throttled", http.StatusTooManyRequests
	case errors.Is(err, auth.ErrAccountDisabled):
		p.Error = "err_disabled"
	default:
		s.log.Error("settings page sign-in", "err", err)
		p.Error, status = "err_internal", http.StatusInternalServerError
	}
	s.showLogin(w, r, status, p)
}

// signedIn starts the session of an account whose password was right: a
// full one, or one waiting for the TOTP code if the account has TOTP on.
func (s *server) signedIn(w http.ResponseWriter, r *http.Request, acct store.Account) {
	_, _, err := s.opt.Sessions.WebTOTP(r.Context(), acct.ID)
	pending := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("sign-in: reading the TOTP secret", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	id, _, err := s.sessions.create(r.Context(), acct.ID, pending)
	if err != nil {
		s.log.Error("sign-in: storing the session", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	setCookie(w, r, sessionCookie(r), id, 0)
	setCookie(w, r, loginCSRFCookie(r), "", -1)
	if pending {
		http.Redirect(w, r, "/login/totp", http.StatusSeeOther)
		return
	}
	s.log.Info("web sign-in", "user", acct.Address, "remote", remoteAddr(r))
	http.Redirect(w, r, "/settings", http.StatusSeeOther)
}

// currentSession returns the signed-in session (never one still waiting
// for its second factor).
func (s *server) currentSession(r *http.Request) (string, *session, bool) {
	id, sess, ok := s.anySession(r)
	if !ok || sess.pending {
		return "", nil, false
	}
	return id, sess, true
}

// anySession returns the session of the request's cookie, pending or not.
func (s *server) anySession(r *http.Request) (string, *session, bool) {
	c, err := r.Cookie(sessionCookie(r))
	if err != nil || s.opt.Store == nil {
		return "", nil, false
	}
	sess, ok := s.sessions.get(r.Context(), c.Value)
	if !ok {
		return "", nil, false
	}
	return c.Value, sess, true
}

// account loads the session's account; false ends the session.
func (s *server) account(w http.ResponseWriter, r *http.Request, id string, sess *session) (store.Account, bool) {
	acct, err := s.opt.Store.AccountByID(r.Context(), sess.account)
	if err != nil || acct.Disabled {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("settings page: loading the account", "err", err)
		}
		s.sessions.delete(r.Context(), id)
		setCookie(w, r, sessionCookie(r), "", -1)
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return acct, false
	}
	return acct, true
}

// post checks a form of a signed-in page: session, size, origin, CSRF
// token. On failure it has answered.
func (s *server) post(w http.ResponseWriter, r *http.Request) (string, *session, store.Account, bool) {
	id, sess, ok := s.currentSession(r)
	if !ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return "", nil, store.Account{}, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return "", nil, store.Account{}, false
	}
	acct, ok := s.account(w, r, id, sess)
	if !ok {
		return "", nil, store.Account{}, false
	}
	if !sameOrigin(r) || !tokensEqual(sess.csrf, r.PostForm.Get("csrf")) {
		s.renderSettings(w, r, http.StatusForbidden, sess, acct, func(p *page) { p.Error = "err_csrf" })
		return "", nil, store.Account{}, false
	}
	return id, sess, acct, true
}

// notices that a redirect may ask for (?n=...): a fixed list, so the URL
// cannot put arbitrary text on the page.
var notices = map[string]bool{"notice_saved": true, "notice_revoked": true, "notice_password": true,
	"notice_totp_on": true, "notice_totp_off": true}

func (s *server) settingsPage(w http.ResponseWriter, r *http.Request) {
	id, sess, ok := s.currentSession(r)
	if !ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	acct, ok := s.account(w, r, id, sess)
	if !ok {
		return
	}
	s.renderSettings(w, r, http.StatusOK, sess, acct, func(p *page) {
		if n := r.URL.Query().Get("n"); notices[n] {
			p.Notice = n
		}
	})
}

func (s *server) renderSettings(w http.ResponseWriter, r *http.Request, status int, sess *session, acct store.Account, edit func(*page)) {
	p := s.newPage(r)
	p.Address, p.CSRF, p.Admin = acct.Address, sess.csrf, acct.Admin
	p.AllowIMAP, p.AllowPOP3, p.AllowSMTP, p.POP3 = acct.AllowIMAP, acct.AllowPOP3, acct.AllowSMTP, acct.POP3
	if _, _, err := s.opt.Sessions.WebTOTP(r.Context(), acct.ID); err == nil {
		p.TOTPEnabled = true
	}
	apps, err := s.opt.Store.AppPasswords(r.Context(), acct.ID)
	if err != nil {
		s.log.Error("settings page: listing app passwords", "err", err)
		p.Error = "err_internal"
	}
	p.AppPasswords = apps
	s.fillRules(r, acct, p)
	if edit != nil {
		edit(p)
	}
	s.render(w, status, "settings", p)
}

// appPasswordName accepts 1 to 64 printable characters.
func appPasswordName(n string) (string, bool) {
	n = strings.TrimSpace(n)
	if n == "" || !utf8.ValidString(n) || utf8.RuneCountInString(n) > 64 {
		return "", false
	}
	for _, c := range n {
		if !unicode.IsPrint(c) {
			return "", false
		}
	}
	return n, true
}

func (s *server) createAppPassword(w http.ResponseWriter, r *http.Request) {
	_, sess, acct, ok := s.post(w, r)
	if !ok {
		return
	}
	name, ok := appPasswordName(r.PostForm.Get("name"))
	if !ok {
		s.renderSettings(w, r, http.StatusBadRequest, sess, acct, func(p *page) { p.Error = "err_name" })
		return
	}
	pw := auth.GeneratePassword(16)
	// The account's SCRAM salt comes from its existing passwords.
	apps, err := s.opt.Store.AppPasswords(r.Context(), acct.ID)
	var p store.AppPassword
	if err == nil {
		p, err = auth.NewAppPassword(acct, apps, name, pw)
	}
	if err == nil {
		p.Created = s.opt.Now()
		_, err = s.opt.Store.AddAppPassword(r.Context(), p)
	}
	switch {
	case errors.Is(err, store.ErrExists):
		s.renderSettings(w, r, http.StatusConflict, sess, acct, func(p *page) { p.Error = "err_exists" })
	case err != nil:
		s.log.Error("settings page: adding an app password", "err", err)
		s.renderSettings(w, r, http.StatusInternalServerError, sess, acct, func(p *page) { p.Error = "err_internal" })
	default:
		s.log.Info("app password created", "user", acct.Address, "name", name)
		// Shown in this answer only (no redirect), never stored in clear.
		s.renderSettings(w, r, http.StatusOK, sess, acct, func(p *page) { p.NewPassword, p.NewPasswordName = pw, name })
	}
}

func (s *server) revokeAppPassword(w http.ResponseWriter, r *http.Request) {
	_, sess, acct, ok := s.post(w, r)
	if !ok {
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	err := s.opt.Store.DeleteAppPassword(r.Context(), acct.ID, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.renderSettings(w, r, http.StatusNotFound, sess, acct, func(p *page) { p.Error = "err_not_found" })
	case err != nil:
		s.log.Error("settings page: revoking an app password", "err", err)
		s.renderSettings(w, r, http.StatusInternalServerError, sess, acct, func(p *page) { p.Error = "err_internal" })
	default:
		s.log.Info("app password revoked", "user", acct.Address, "name", name)
		http.Redirect(w, r, "/settings?n=notice_revoked", http.StatusSeeOther)
	}
}

func (s *server) setServices(w http.ResponseWriter, r *http.Request) {
	_, sess, acct, ok := s.post(w, r)
	if !ok {
		return
	}
	acct.AllowIMAP = r.PostForm.Get("imap") == "on"
	acct.AllowPOP3 = r.PostForm.Get("pop3") == "on"
	acct.AllowSMTP = r.PostForm.Get("smtp") == "on"
	if !setPOP3Options(&acct.POP3, r.PostForm) {
		s.renderSettings(w, r, http.StatusBadRequest, sess, acct, func(p *page) { p.Error = "err_pop3_options" })
		return
	}
	if err := s.opt.Store.UpdateAccount(r.Context(), acct); err != nil {
		s.log.Error("settings page: updating the account", "err", err)
		s.renderSettings(w, r, http.StatusInternalServerError, sess, acct, func(p *page) { p.Error = "err_internal" })
		return
	}
	s.log.Info("access switches changed", "user", acct.Address, "imap", acct.AllowIMAP, "pop3", acct.AllowPOP3, "smtp", acct.AllowSMTP,
		"pop3_scope", acct.POP3.Scope, "pop3_days", acct.POP3.Days, "pop3_delete", acct.POP3.Delete)
	http.Redirect(w, r, "/settings?n=notice_saved", http.StatusSeeOther)
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	id, _, _, ok := s.post(w, r)
	if !ok {
		return
	}
	s.sessions.delete(r.Context(), id)
	setCookie(w, r, sessionCookie(r), "", -1)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// maxPOP3Days bounds the "last N days" POP3 scope (ten years).
const maxPOP3Days = 3650

// setPOP3Options applies the POP3 fields of the access form (what POP3
// shows, and what a client's delete does, as QQ Mail and 163 offer). A
// field the form does not send keeps its value; an unknown value is
// refused.
func setPOP3Options(o *store.POP3Options, f url.Values) bool {
	if v := f.Get("pop3_scope"); v != "" {
		switch sc := store.POP3Scope(v); sc {
		case store.POP3ScopeInbox, store.POP3ScopeAll, store.POP3ScopeRecent, store.POP3ScopeAllRecnt:
			o.Scope = sc
		default:
			return false
		}
	}
	if v := f.Get("pop3_days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPOP3Days {
			return false
		}
		o.Days = n
	}
	if v := f.Get("pop3_delete"); v != "" {
		switch d := store.POP3Delete(v); d {
		case store.POP3DeleteExpunge, store.POP3DeleteTrash, store.POP3DeleteHide:
			o.Delete = d
		default:
			return false
		}
	}
	if (o.Scope == store.POP3ScopeRecent || o.Scope == store.POP3ScopeAllRecnt) && o.Days == 0 {
		o.Days = 30
	}
	return true
}
