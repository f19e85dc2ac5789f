package web

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/dnsrec"
	"github.com/youju/youju/internal/store"
)

// Domains, accounts, app passwords, aliases and the caller's API tokens
// of the admin API (api.go, docs/api.md).

type apiDomain struct {
	Name     string   `json:"name"`
	Created  jsonTime `json:"created"`
	Accounts int      `json:"accounts"`
}

func (s *server) apiDomains(w http.ResponseWriter, r *http.Request, _ apiCaller) {
	ds, err := s.opt.Store.Domains(r.Context())
	if err != nil {
		s.storeFail(w, err, "domains")
		return
	}
	out := make([]apiDomain, 0, len(ds))
	for _, d := range ds {
		out = append(out, apiDomain{Name: d.Name, Created: jsonTime(d.Created), Accounts: d.Accounts})
	}
	writeJSON(w, http.StatusOK, map[string]any{"domains": out})
}

func (s *server) apiAddDomain(w http.ResponseWriter, r *http.Request, _ apiCaller) {
	var req struct {
		Name string `json:"name"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	name := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(req.Name), "."))
	if err := s.opt.Store.AddDomain(r.Context(), name); err != nil {
		s.storeFail(w, err, "domain")
		return
	}
	writeJSON(w, http.StatusCreated, apiDomain{Name: name})
}

// localDomain is the {domain} of the path if it is one of ours; else it
// has answered 404.
func (s *server) localDomain(w http.ResponseWriter, r *http.Request) (string, bool) {
	d := strings.ToLower(r.PathValue("domain"))
	if ok, err := s.opt.Store.IsLocalDomain(r.Context(), d); err != nil || !ok {
		apiFail(w, http.StatusNotFound, "not_found", "not a domain of this server")
		return "", false
	}
	if s.opt.Admin == nil || s.opt.Admin.DNSRecords == nil {
		apiFail(w, http.StatusServiceUnavailable, "unavailable", "DNS records are not available here")
		return "", false
	}
	return d, true
}

type apiRecord struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Value       string `json:"value"`
	Why         string `json:"why"`
	Optional    bool   `json:"optional"`
	Placeholder bool   `json:"placeholder"`
	Zone        string `json:"zone_line"`
}

func toAPIRecord(rec dnsrec.Record) apiRecord {
	return apiRecord{Name: rec.Name, Type: rec.Type, Value: rec.Value, Why: rec.Why, Optional: rec.Optional,
		Placeholder: rec.Placeholder, Zone: rec.Line()}
}

// apiDNS lists the records the domain needs: what "youju dns DOMAIN"
// prints.
func (s *server) apiDNS(w http.ResponseWriter, r *http.Request, _ apiCaller) {
	d, ok := s.localDomain(w, r)
	if !ok {
		return
	}
	recs, err := s.opt.Admin.DNSRecords(r.Context(), d)
	if err != nil {
		s.storeFail(w, err, "DNS records")
		return
	}
	out := make([]apiRecord, 0, len(recs))
	for _, rec := range recs {
		out = append(out, toAPIRecord(rec))
	}
	writeJSON(w, http.StatusOK, map[string]any{"domain": d, "records": out})
}

// apiDNSCheck looks the records up: what "youju dns check DOMAIN" says.
func (s *server) apiDNSCheck(w http.ResponseWriter, r *http.Request, _ apiCaller) {
	d, ok := s.localDomain(w, r)
	if !ok {
		return
	}
	if s.opt.Admin.DNSCheck == nil {
		apiFail(w, http.StatusServiceUnavailable, "unavailable", "no DNS resolver to check with")
		return
	}
	recs, err := s.opt.Admin.DNSRecords(r.Context(), d)
	if err != nil {
		s.storeFail(w, err, "DNS records")
		return
	}
	type result struct {
		Record  apiRecord `json:"record"`
		Status  string    `json:"status"`
		Found   string    `json:"found"`
		Problem string    `json:"problem,omitempty"`
		Fix     string    `json:"fix,omitempty"`
	}
	var out []result
	bad := 0
	for _, res := range s.opt.Admin.DNSCheck(r.Context(), recs) {
		if res.Status >= dnsrec.Missing && !res.Record.Optional {
			bad++
		}
		out = append(out, result{Record: toAPIRecord(res.Record), Status: res.Status.String(), Found: res.Found,
			Problem: res.Problem, Fix: res.Fix})
	}
	writeJSON(w, http.StatusOK, map[string]any{"domain": d, "results": out, "problems": bad})
}

type apiAccount struct {
	Address    string   `json:"address"`
	Disabled   bool     `json:"disabled"`
	Admin      bool     `json:"admin"`
	IMAP       bool     `json:"imap"`
	POP3       bool     `json:"pop3"`
	SMTP       bool     `json:"smtp"`
	QuotaBytes int64    `json:"quota_bytes"`
	UsedBytes  int64    `json:"used_bytes"`
	Created    jsonTime `json:"created"`
}

func toAPIAccount(a store.Account) apiAccount {
	return apiAccount{Address: a.Address, Disabled: a.Disabled, Admin: a.Admin, IMAP: a.AllowIMAP, POP3: a.AllowPOP3,
		SMTP: a.AllowSMTP, QuotaBytes: a.QuotaBytes, UsedBytes: a.UsedBytes, Created: jsonTime(a.Created)}
}

// Accounts are listed a page at a time with a keyset cursor (?after=),
// never all loaded: an organisation may have tens of thousands.
const (
	defaultAccountPage = 100
	maxAccountPage     = store.MaxAccountPage
)

// accountPage reads ?after=&limit=&q= (limit 1..maxAccountPage, default
// defaultAccountPage).
func accountPage(r *http.Request) (store.AccountPage, bool) {
	q := r.URL.Query()
	p := store.AccountPage{After: strings.ToLower(q.Get("after")), Query: strings.ToLower(strings.TrimSpace(q.Get("q"))),
		Limit: defaultAccountPage}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAccountPage {
			return p, false
		}
		p.Limit = n
	}
	return p, len(p.After) <= 320 && len(p.Query) <= 320
}

// apiAccounts lists accounts by address, a page at a time; ?q= keeps
// those whose address contains it. "next" is the cursor of the following
// page, null once a page is not full.
func (s *server) apiAccounts(w http.ResponseWriter, r *http.Request, _ apiCaller) {
	p, ok := accountPage(r)
	if !ok {
		apiFail(w, http.StatusBadRequest, "invalid", fmt.Sprintf("limit must be 1..%d", maxAccountPage))
		return
	}
	as, err := s.opt.Store.AccountsPage(r.Context(), p)
	if err != nil {
		s.storeFail(w, err, "accounts")
		return
	}
	out := make([]apiAccount, 0, len(as))
	for _, a := range as {
		out = append(out, toAPIAccount(a))
	}
	var next *string
	if len(as) == p.Limit {
		next = &as[len(as)-1].Address
	}
	writeJSON(w, http.StatusOK, map[string]any{"after": p.After, "limit": p.Limit, "next": next, "accounts": out})
}

// weakPassword says why pw fails the strength rule the CLI and the
// settings page apply, "" if it passes.
func weakPassword(pw, addr string) string {
	if err := auth.CheckStrength(pw, addr); err != nil {
		return err.Error()
	}
	return ""
}

// apiCreateAccount creates an account in a local domain, with the given
// password or a generated one (returned once).
func (s *server) apiCreateAccount(w http.ResponseWriter, r *http.Request, c apiCaller) {
	var req struct {
		Address    string `json:"address"`
		Password   string `json:"password"`
		QuotaBytes *int64 `json:"quota_bytes"`
		Admin      bool   `json:"admin"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	addr := strings.ToLower(strings.TrimSpace(req.Address))
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(addr, " \t\r\n<>,;\"") {
		apiFail(w, http.StatusBadRequest, "invalid", "address must be local@domain")
		return
	}
	if ok, err := s.opt.Store.IsLocalDomain(r.Context(), domain); err != nil {
		s.storeFail(w, err, "domain")
		return
	} else if !ok {
		apiFail(w, http.StatusBadRequest, "invalid", domain+" is not a domain of this server: add it first")
		return
	}
	pw, generated := req.Password, req.Password == ""
	if generated {
		pw = auth.GeneratePassword(16)
	} else if why := weakPassword(pw, addr); why != "" {
		apiFail(w, http.StatusBadRequest, "weak_password", why)
		return
	}
	a := store.Account{Address: addr, AllowIMAP: true, AllowPOP3: true, AllowSMTP: true, Admin: req.Admin,
		POP3: store.POP3Options{Scope: store.POP3ScopeInbox, Delete: store.POP3DeleteExpunge}}
	if s.opt.Admin != nil {
		a.QuotaBytes = s.opt.Admin.DefaultQuotaBytes
	}
	if req.QuotaBytes != nil {
		if *req.QuotaBytes < 0 {
			apiFail(w, http.StatusBadRequest, "invalid", "quota_bytes must be >= 0 (0: unlimited)")
			return
		}
		a.QuotaBytes = *req.QuotaBytes
	}
	if err := auth.SetPassword(&a, nil, pw); err != nil {
		s.storeFail(w, err, "password")
		return
	}
	a, err := s.opt.Store.CreateAccount(r.Context(), a)
	if err != nil {
		s.storeFail(w, err, "account")
		return
	}
	s.log.Info("admin: account created", "admin", c.acct.Address, "account", addr)
	out := map[string]any{"account": toAPIAccount(a)}
	if generated {
		out["password"] = pw
	}
	writeJSON(w, http.StatusCreated, out)
}

// pathAccount loads the {address} of the path; on failure it has answered.
func (s *server) pathAccount(w http.ResponseWriter, r *http.Request) (store.Account, bool) {
	a, err := s.opt.Store.Account(r.Context(), strings.ToLower(r.PathValue("address")))
	if err != nil {
		s.storeFail(w, err, "account")
		return a, false
	}
	return a, true
}

func (s *server) apiAccount(w http.ResponseWriter, r *http.Request, _ apiCaller) {
	if a, ok := s.pathAccount(w, r); ok {
		writeJSON(w, http.StatusOK, toAPIAccount(a))
	}
}

// apiUpdateAccount changes the fields given: disabled, quota, admin, the
// service switches.
func (s *server) apiUpdateAccount(w http.ResponseWriter, r *http.Request, c apiCaller) {
	var req struct {
		Disabled   *bool  `json:"disabled"`
		Admin      *bool  `json:"admin"`
		IMAP       *bool  `json:"imap"`
		POP3       *bool  `json:"pop3"`
		SMTP       *bool  `json:"smtp"`
		QuotaBytes *int64 `json:"quota_bytes"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	a, ok := s.pathAccount(w, r)
	if !ok {
		return
	}
	if a.ID == c.acct.ID && ((req.Disabled != nil && *req.Disabled) || (req.Admin != nil && !*req.Admin)) {
		// An admin locking themselves out is nearly always a slip.
		apiFail(w, http.StatusConflict, "self", "you cannot disable yourself or drop your own admin flag here")
		return
	}
	if req.QuotaBytes != nil && *req.QuotaBytes < 0 {
		apiFail(w, http.StatusBadRequest, "invalid", "quota_bytes must be >= 0 (0: unlimited)")
		return
	}
	for _, f := range []struct {
		dst *bool
		v   *bool
	}{{&a.Disabled, req.Disabled}, {&a.Admin, req.Admin}, {&a.AllowIMAP, req.IMAP}, {&a.AllowPOP3, req.POP3}, {&a.AllowSMTP, req.SMTP}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	if req.QuotaBytes != nil {
		a.QuotaBytes = *req.QuotaBytes
	}
	if err := s.opt.Store.UpdateAccount(r.Context(), a); err != nil {
		s.storeFail(w, err, "account")
		return
	}
	if a.Disabled {
		// A disabled account's web sessions end now, not at their next use.
		s.sessions.deleteOthers(r.Context(), a.ID, "")
	}
	s.log.Info("admin: account changed", "admin", c.acct.Address, "account", a.Address)
	writeJSON(w, http.StatusOK, toAPIAccount(a))
}

// apiResetPassword sets a new password (given, or generated and returned
// once) and ends the account's web sessions.
func (s *server) apiResetPassword(w http.ResponseWriter, r *http.Request, c apiCaller) {
	var req struct {
		Password string `json:"password"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	a, ok := s.pathAccount(w, r)
	if !ok {
		return
	}
	pw, generated := req.Password, req.Password == ""
	if generated {
		pw = auth.GeneratePassword(16)
	} else if why := weakPassword(pw, a.Address); why != "" {
		apiFail(w, http.StatusBadRequest, "weak_password", why)
		return
	}
	apps, err := s.opt.Store.AppPasswords(r.Context(), a.ID)
	if err == nil {
		err = auth.SetPassword(&a, apps, pw)
	}
	if err == nil {
		err = s.opt.Store.UpdateAccount(r.Context(), a)
	}
	if err != nil {
		s.storeFail(w, err, "account")
		return
	}
	// A reset password may have leaked: the account's web sessions end,
	// except the admin's own when resetting their own.
	s.sessions.deleteOthers(r.Context(), a.ID, c.sessionID)
	s.log.Info("admin: password reset", "admin", c.acct.Address, "account", a.Address)
	out := map[string]any{"address": a.Address}
	if generated {
		out["password"] = pw
	}
	writeJSON(w, http.StatusOK, out)
}

type apiAppPassword struct {
	Name     string   `json:"name"`
	Created  jsonTime `json:"created"`
	LastUsed jsonTime `json:"last_used"`
}

func (s *server) apiAppPasswords(w http.ResponseWriter, r *http.Request, _ apiCaller) {
	a, ok := s.pathAccount(w, r)
	if !ok {
		return
	}
	ps, err := s.opt.Store.AppPasswords(r.Context(), a.ID)
	if err != nil {
		s.storeFail(w, err, "app passwords")
		return
	}
	out := make([]apiAppPassword, 0, len(ps))
	for _, p := range ps {
		out = append(out, apiAppPassword{Name: p.Name, Created: jsonTime(p.Created), LastUsed: jsonTime(p.LastUsed)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"address": a.Address, "app_passwords": out})
}

func (s *server) apiRevokeAppPassword(w http.ResponseWriter, r *http.Request, c apiCaller) {
	a, ok := s.pathAccount(w, r)
	if !ok {
		return
	}
	if err := s.opt.Store.DeleteAppPassword(r.Context(), a.ID, r.PathValue("name")); err != nil {
		s.storeFail(w, err, "app password")
		return
	}
	s.log.Info("admin: app password revoked", "admin", c.acct.Address, "account", a.Address)
	w.WriteHeader(http.StatusNoContent)
}

type apiAlias struct {
	Address  string   `json:"address"`
	Targets  []string `json:"targets"`
	CatchAll bool     `json:"catch_all"`
}

func (s *server) apiAliases(w http.ResponseWriter, r *http.Request, _ apiCaller) {
	as, err := s.opt.Store.ListAliases(r.Context())
	if err != nil {
		s.storeFail(w, err, "aliases")
		return
	}
	out := make([]apiAlias, 0, len(as))
	for _, a := range as {
		out = append(out, apiAlias{Address: a.Address, Targets: a.Targets, CatchAll: strings.HasPrefix(a.Address, "@")})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	writeJSON(w, http.StatusOK, map[string]any{"aliases": out})
}

// apiSetAlias adds or replaces an alias; "@domain" is the domain's
// catch-all, as in "youju alias add".
func (s *server) apiSetAlias(w http.ResponseWriter, r *http.Request, c apiCaller) {
	var req struct {
		Targets []string `json:"targets"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	addr := strings.ToLower(strings.TrimSpace(r.PathValue("address")))
	_, domain, _ := strings.Cut(addr, "@")
	if ok, err := s.opt.Store.IsLocalDomain(r.Context(), domain); err != nil || !ok {
		apiFail(w, http.StatusBadRequest, "invalid", "the alias must be in a domain of this server")
		return
	}
	if len(req.Targets) == 0 || len(req.Targets) > 1000 {
		apiFail(w, http.StatusBadRequest, "invalid", "targets: 1 to 1000 addresses")
		return
	}
	if err := s.opt.Store.SetAlias(r.Context(), store.Alias{Address: addr, Targets: req.Targets}); err != nil {
		s.storeFail(w, err, "alias")
		return
	}
	s.log.Info("admin: alias set", "admin", c.acct.Address, "alias", addr)
	a, err := s.opt.Store.Alias(r.Context(), addr)
	if err != nil {
		s.storeFail(w, err, "alias")
		return
	}
	writeJSON(w, http.StatusOK, apiAlias{Address: a.Address, Targets: a.Targets, CatchAll: strings.HasPrefix(a.Address, "@")})
}

func (s *server) apiDeleteAlias(w http.ResponseWriter, r *http.Request, c apiCaller) {
	addr := strings.ToLower(strings.TrimSpace(r.PathValue("address")))
	if err := s.opt.Store.DeleteAlias(r.Context(), addr); err != nil {
		s.storeFail(w, err, "alias")
		return
	}
	s.log.Info("admin: alias deleted", "admin", c.acct.Address, "alias", addr)
	w.WriteHeader(http.StatusNoContent)
}

type apiToken struct {
	ID       int64    `json:"id"`
	Name     string   `json:"name"`
	Created  jsonTime `json:"created"`
	LastUsed jsonTime `json:"last_used"`
	Token    string   `json:"token,omitempty"` // only in the answer that made it
}

// tokenStore returns the store's API tokens; else it has answered 503.
func (s *server) tokenStore(w http.ResponseWriter) (store.APITokens, bool) {
	ts := apiTokensOf(s.opt.Store)
	if ts == nil {
		apiFail(w, http.StatusServiceUnavailable, "unavailable", "this store keeps no API tokens")
	}
	return ts, ts != nil
}

// apiTokens lists the caller's own tokens: each admin manages theirs.
func (s *server) apiTokens(w http.ResponseWriter, r *http.Request, c apiCaller) {
	ts, ok := s.tokenStore(w)
	if !ok {
		return
	}
	list, err := ts.APITokens(r.Context(), c.acct.ID)
	if err != nil {
		s.storeFail(w, err, "tokens")
		return
	}
	out := make([]apiToken, 0, len(list))
	for _, t := range list {
		out = append(out, apiToken{ID: t.ID, Name: t.Name, Created: jsonTime(t.Created), LastUsed: jsonTime(t.LastUsed)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

func (s *server) apiCreateToken(w http.ResponseWriter, r *http.Request, c apiCaller) {
	var req struct {
		Name string `json:"name"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	name, ok := appPasswordName(req.Name)
	if !ok {
		apiFail(w, http.StatusBadRequest, "invalid", "name: 1 to 64 printable characters")
		return
	}
	ts, ok := s.tokenStore(w)
	if !ok {
		return
	}
	secret, hash := NewAPIToken()
	t, err := ts.CreateAPIToken(r.Context(), store.APIToken{Account: c.acct.ID, Name: name, Hash: hash})
	if err != nil {
		s.storeFail(w, err, "token")
		return
	}
	s.log.Info("admin: API token created", "admin", c.acct.Address, "name", name)
	writeJSON(w, http.StatusCreated, apiToken{ID: t.ID, Name: t.Name, Created: jsonTime(t.Created), Token: secret})
}

func (s *server) apiRevokeToken(w http.ResponseWriter, r *http.Request, c apiCaller) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		apiFail(w, http.StatusBadRequest, "invalid", "token id must be a number")
		return
	}
	ts, ok := s.tokenStore(w)
	if !ok {
		return
	}
	if err := ts.DeleteAPIToken(r.Context(), c.acct.ID, id); err != nil {
		s.storeFail(w, err, "token")
		return
	}
	s.log.Info("admin: API token revoked", "admin", c.acct.Address, "id", id)
	w.WriteHeader(http.StatusNoContent)
}
