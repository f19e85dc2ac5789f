package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/youju/youju/internal/importer"
	"github.com/youju/youju/internal/store"
)

// The self-service import page (邮箱搬家, issue 17 point 2): a signed-in
// user names their old provider, address and app password (授权码); the
// import runs in the background (internal/importer.Jobs), the page polls
// its progress as JSON, and a notice mail says when it ended. The
// password goes to the job and nowhere else.

// ImportJobs is what the page needs of importer.Jobs.
type ImportJobs interface {
	// StartWith begins a job; starttls: STARTTLS on a plain port
	// instead of implicit TLS.
	StartWith(acct store.AccountID, address, host string, port int, user, password string, starttls bool) error
	Status(acct store.AccountID) (importer.JobStatus, bool)
}

// provider is a row of the table that pre-fills the server.
type provider struct{ Domain, Host, Port string }

// providers are the usual old homes of our users; all offer IMAP over
// implicit TLS on 993 once IMAP is switched on in their settings (another
// host may be reached with STARTTLS on 143: the form's security choice).
var providers = []provider{
	{"qq.com", "imap.qq.com", "993"},
	{"163.com", "imap.163.com", "993"},
	{"126.com", "imap.126.com", "993"},
	{"gmail.com", "imap.gmail.com", "993"},
	{"outlook.com", "outlook.office365.com", "993"},
}

// providerFor finds the table row of an address's domain.
func providerFor(address string) (provider, bool) {
	_, dom, _ := strings.Cut(strings.ToLower(strings.TrimSpace(address)), "@")
	for _, p := range providers {
		if p.Domain == dom {
			return p, true
		}
	}
	return provider{}, false
}

// importPage is what templates/import.html shows.
type importPage struct {
	*page
	Providers []provider
	Job       *importer.JobStatus
	Remote    string // the address entered, after an error
	Host      string
	Port      string
	StartTLS  bool // the user picked STARTTLS (port 143) over SSL/TLS
}

func (s *server) importRoutes() {
	s.mux.HandleFunc("GET /settings/import", s.importGet)
	s.mux.HandleFunc("POST /settings/import", s.importPost)
	s.mux.HandleFunc("GET /settings/import/status", s.importStatus)
}

// importCSP is the page's policy: the console's (the site's, plus our own
// script, here the progress poller, and its requests to us).
const importCSP = adminCSP

func (s *server) importGet(w http.ResponseWriter, r *http.Request) {
	id, sess, ok := s.currentSession(r)
	if !ok || s.opt.Import == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	acct, ok := s.account(w, r, id, sess)
	if !ok {
		return
	}
	s.renderImport(w, r, http.StatusOK, sess, acct, func(p *importPage) {
		if n := r.URL.Query().Get("n"); n == "notice_import_started" {
			p.Notice = n
		}
	})
}

func (s *server) renderImport(w http.ResponseWriter, r *http.Request, status int, sess *session, acct store.Account, edit func(*importPage)) {
	p := &importPage{page: s.newPage(r), Providers: providers, Port: "993"}
	p.Address, p.CSRF = acct.Address, sess.csrf
	if st, ok := s.opt.Import.Status(acct.ID); ok {
		p.Job = &st
	}
	if edit != nil {
		edit(p)
	}
	s.renderTemplate(w, status, "import", importPages[p.Lang], p.Lang, importCSP, p)
}

// importPost starts a job (POST /settings/import).
func (s *server) importPost(w http.ResponseWriter, r *http.Request) {
	_, sess, acct, ok := s.post(w, r)
	if !ok || s.opt.Import == nil {
		return
	}
	f := r.PostForm
	remote := strings.TrimSpace(f.Get("remote"))
	host, port := strings.TrimSpace(f.Get("host")), strings.TrimSpace(f.Get("port"))
	if host == "" {
		if p, ok := providerFor(remote); ok {
			host, port = p.Host, p.Port
		}
	}
	// A host without implicit TLS (993) may offer STARTTLS on 143 (RFC
	// 9051 §6.2.1, RFC 8314 §3 prefers implicit TLS): the user picks it.
	// The form's port is pre-filled with 993, so a STARTTLS choice left
	// with it (or none) means the standard 143.
	starttls := f.Get("security") == "starttls"
	if starttls && (port == "" || port == "993") {
		port = "143"
	}
	n, err := strconv.Atoi(port)
	fail := func(status int, key, detail string) {
		s.renderImport(w, r, status, sess, acct, func(p *importPage) {
			p.Error, p.Detail, p.Remote, p.Host, p.Port, p.StartTLS = key, detail, remote, host, port, starttls
		})
	}
	if remote == "" || !strings.Contains(remote, "@") || host == "" || err != nil || f.Get("password") == "" {
		fail(http.StatusBadRequest, "err_import_form", "")
		return
	}
	err = s.opt.Import.StartWith(acct.ID, acct.Address, host, n, remote, f.Get("password"), starttls)
	switch {
	case errors.Is(err, importer.ErrJobRunning):
		fail(http.StatusConflict, "err_import_running", "")
		return
	case err != nil:
		fail(http.StatusBadRequest, "err_import_form", err.Error())
		return
	}
	s.log.Info("import started from the settings page", "user", acct.Address, "remote", remote, "host", host, "port", n, "starttls", starttls)
	http.Redirect(w, r, "/settings/import?n=notice_import_started", http.StatusSeeOther)
}

// importStatus is the progress as JSON, for the page's poller.
func (s *server) importStatus(w http.ResponseWriter, r *http.Request) {
	id, sess, ok := s.currentSession(r)
	if !ok || s.opt.Import == nil {
		http.Error(w, "not signed in", http.StatusUnauthorized)
		return
	}
	acct, ok := s.account(w, r, id, sess)
	if !ok {
		return
	}
	st, ok := s.opt.Import.Status(acct.ID)
	if !ok {
		st.State = "none"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(st)
}
