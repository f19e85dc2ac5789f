package web

import (
	"errors"
	"net/http"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/maillog"
)

// changePassword sets a new account password from the settings page: the
// old password (checked through the authenticator, so guesses are
// throttled like any sign-in), the new one twice, and the strength rule
// the CLI applies (auth.CheckStrength). Other sessions of the account end:
// a password is changed when it may have leaked.
func (s *server) changePassword(w http.ResponseWriter, r *http.Request) {
	id, sess, acct, ok := s.post(w, r)
	if !ok {
		return
	}
	fail := func(status int, key string) {
		s.renderSettings(w, r, status, sess, acct, func(p *page) { p.Error = key })
	}
	old, pw, again := r.PostForm.Get("old"), r.PostForm.Get("new"), r.PostForm.Get("again")
	_, err := s.opt.Auth.Login(r.Context(), auth.Request{Username: acct.Address, Password: old, Remote: remoteAddr(r)})
	switch {
	case errors.Is(err, auth.ErrThrottled):
		fail(http.StatusTooManyRequests, "err_throttled")
		return
	case err != nil || !auth.VerifyPassword(acct.PasswordHash, old):
		// An app password must not change the account password.
		maillog.AuthFailed("http", remoteAddr(r), acct.Address, "password-change", err)
		fail(http.StatusForbidden, "err_old_password")
		return
	case pw != again:
		fail(http.StatusBadRequest, "err_password_mismatch")
		return
	}
	if err := auth.CheckStrength(pw, acct.Address); err != nil {
		key := "err_password_weak"
		if errors.Is(err, auth.ErrPasswordCommon) {
			key = "err_password_common"
		}
		fail(http.StatusBadRequest, key)
		return
	}
	apps, err := s.opt.Store.AppPasswords(r.Context(), acct.ID)
	if err == nil {
		// App passwords keep working: SetPassword keeps their SCRAM salt.
		err = auth.SetPassword(&acct, apps, pw)
	}
	if err == nil {
		err = s.opt.Store.UpdateAccount(r.Context(), acct)
	}
	if err != nil {
		s.log.Error("settings page: changing the password", "err", err)
		fail(http.StatusInternalServerError, "err_internal")
		return
	}
	s.sessions.deleteOthers(r.Context(), acct.ID, id)
	s.log.Info("password changed", "user", acct.Address, "remote", remoteAddr(r))
	http.Redirect(w, r, "/settings?n=notice_password", http.StatusSeeOther)
}
