package web

import (
	"errors"
	"html/template"
	"net/http"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/maillog"
	"github.com/youju/youju/internal/store"
)

// The optional second factor of the web sign-in: TOTP codes (RFC 6238)
// from an authenticator app. Mail apps are not asked for it (they cannot
// ask); their way in is app passwords, which cannot open these pages.

// totpPage asks a session that passed the password for its code.
func (s *server) totpPage(w http.ResponseWriter, r *http.Request) {
	_, sess, ok := s.anySession(r)
	if !ok || !sess.pending {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	p := s.newPage(r)
	p.CSRF = sess.csrf
	if r.URL.Query().Get("e") == "1" {
		p.Error = "err_totp"
	}
	s.render(w, http.StatusOK, "totp", p)
}

// totpLogin checks the code. A wrong code ends the pending session, so
// that every guess costs a password sign-in, which the common throttle
// counts (internal/auth): six digits cannot be tried a million times.
func (s *server) totpLogin(w http.ResponseWriter, r *http.Request) {
	id, sess, ok := s.anySession(r)
	if !ok || !sess.pending {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if !sameOrigin(r) || !tokensEqual(sess.csrf, r.PostForm.Get("csrf")) {
		http.Error(w, "bad form", http.StatusForbidden)
		return
	}
	ctx := r.Context()
	s.sessions.delete(ctx, id) // used once, whatever the outcome
	acct, err := s.opt.Store.AccountByID(ctx, sess.account)
	if err != nil || acct.Disabled {
		setCookie(w, r, sessionCookie(r), "", -1)
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	secret, _, err := s.opt.Sessions.WebTOTP(ctx, acct.ID)
	var accepted bool
	if err == nil {
		if step, ok := auth.VerifyTOTP(secret, r.PostForm.Get("code"), s.opt.Now()); ok {
			accepted, err = s.opt.Sessions.UseWebTOTPStep(ctx, acct.ID, step)
		}
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("sign-in: checking the TOTP code", "err", err)
	}
	if !accepted {
		maillog.AuthFailed("http", remoteAddr(r), acct.Address, "totp", errors.New("wrong or reused TOTP code"))
		setCookie(w, r, sessionCookie(r), "", -1)
		p := s.newPage(r)
		p.Error, p.Username = "err_totp", acct.Address
		s.showLogin(w, r, http.StatusForbidden, p)
		return
	}
	s.signedInFull(w, r, acct)
}

// signedInFull starts a full session after the second factor (a new
// identifier: the pending one is never promoted).
func (s *server) signedInFull(w http.ResponseWriter, r *http.Request, acct store.Account) {
	id, _, err := s.sessions.create(r.Context(), acct.ID, false)
	if err != nil {
		s.log.Error("sign-in: storing the session", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	setCookie(w, r, sessionCookie(r), id, 0)
	s.log.Info("web sign-in", "user", acct.Address, "remote", remoteAddr(r), "totp", true)
	http.Redirect(w, r, "/settings", http.StatusSeeOther)
}

// totpSetup makes a new secret and shows it with its otpauth:// URI; it is
// stored only once the user proves the app has it (totpEnable).
func (s *server) totpSetup(w http.ResponseWriter, r *http.Request) {
	_, sess, acct, ok := s.post(w, r)
	if !ok {
		return
	}
	secret := auth.NewTOTPSecret()
	s.renderSettings(w, r, http.StatusOK, sess, acct, func(p *page) {
		p.TOTPSecret, p.TOTPURI = secret, template.URL(auth.TOTPURI(secret, s.opt.Hostname, acct.Address))
	})
}

func (s *server) totpEnable(w http.ResponseWriter, r *http.Request) {
	_, sess, acct, ok := s.post(w, r)
	if !ok {
		return
	}
	secret := r.PostForm.Get("secret")
	step, ok := auth.VerifyTOTP(secret, r.PostForm.Get("code"), s.opt.Now())
	if !ok {
		s.renderSettings(w, r, http.StatusBadRequest, sess, acct, func(p *page) {
			p.Error = "err_totp"
			if len(secret) == 32 {
				p.TOTPSecret, p.TOTPURI = secret, template.URL(auth.TOTPURI(secret, s.opt.Hostname, acct.Address))
			}
		})
		return
	}
	err := s.opt.Sessions.SetWebTOTP(r.Context(), acct.ID, secret)
	if err == nil {
		_, err = s.opt.Sessions.UseWebTOTPStep(r.Context(), acct.ID, step)
	}
	if err != nil {
		s.log.Error("settings page: enabling TOTP", "err", err)
		s.renderSettings(w, r, http.StatusInternalServerError, sess, acct, func(p *page) { p.Error = "err_internal" })
		return
	}
	s.log.Info("TOTP enabled", "user", acct.Address)
	http.Redirect(w, r, "/settings?n=notice_totp_on#security", http.StatusSeeOther)
}

// totpDisable turns the second factor off; it asks for the password, so
// that a session left open cannot weaken the account.
func (s *server) totpDisable(w http.ResponseWriter, r *http.Request) {
	_, sess, acct, ok := s.post(w, r)
	if !ok {
		return
	}
	pw := r.PostForm.Get("password")
	_, err := s.opt.Auth.Login(r.Context(), auth.Request{Username: acct.Address, Password: pw, Remote: remoteAddr(r)})
	if err != nil || !auth.VerifyPassword(acct.PasswordHash, pw) {
		key := "err_old_password"
		if errors.Is(err, auth.ErrThrottled) {
			key = "err_throttled"
		}
		s.renderSettings(w, r, http.StatusForbidden, sess, acct, func(p *page) { p.Error = key })
		return
	}
	if err := s.opt.Sessions.SetWebTOTP(r.Context(), acct.ID, ""); err != nil {
		s.log.Error("settings page: disabling TOTP", "err", err)
		s.renderSettings(w, r, http.StatusInternalServerError, sess, acct, func(p *page) { p.Error = "err_internal" })
		return
	}
	s.log.Info("TOTP disabled", "user", acct.Address)
	http.Redirect(w, r, "/settings?n=notice_totp_off#security", http.StatusSeeOther)
}
