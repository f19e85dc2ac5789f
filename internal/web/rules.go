package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/youju/youju/internal/sieve"
	"github.com/youju/youju/internal/store"
)

// The mail rules part of the settings page: 自动回复 (vacation), 自动转发
// (forwarding) and 收信规则 (filters), compiled by sieve.Rules into one
// Sieve script that becomes the account's active script; an advanced form
// shows and edits the active script itself. See docs/sieve.md.

// generatedScript is the name of the script the forms write.
const generatedScript = "youju"

// rulesView is what the template shows.
type rulesView struct {
	Rules       sieve.Rules
	Filters     []sieve.Filter // the rules plus one empty row to add one
	Script      string         // the active script
	HandWritten bool           // the active script was not made by the forms
	ScriptError string         // the checker's error, line and column
}

// fillRules loads the account's active script into the page.
func (s *server) fillRules(r *http.Request, acct store.Account, p *page) {
	if s.opt.Sieve == nil {
		return
	}
	v := &rulesView{}
	p.Rules = v
	name := ""
	list, err := s.opt.Sieve.List(r.Context(), acct.ID)
	for _, x := range list {
		if x.Active {
			name = x.Name
		}
	}
	if err == nil && name != "" {
		v.Script, err = s.opt.Sieve.Get(r.Context(), acct.ID, name)
	}
	if err != nil {
		s.log.Error("settings page: reading the Sieve script", "err", err)
		p.Error = "err_internal"
	}
	if rules, ok := sieve.ParseRules(v.Script); ok {
		v.Rules = rules
	} else if strings.TrimSpace(v.Script) != "" {
		v.HandWritten = true
	}
	v.Filters = append(append([]sieve.Filter(nil), v.Rules.Filters...), sieve.Filter{Field: "subject", Action: "move"})
}

// rulesFromForm reads the three forms (one submit saves them all).
func rulesFromForm(f url.Values) sieve.Rules {
	var r sieve.Rules
	r.Vacation = sieve.VacationRule{
		Enabled: f.Get("vac_on") == "on", Start: f.Get("vac_start"), End: f.Get("vac_end"),
		Subject: strings.TrimSpace(f.Get("vac_subject")), Text: strings.ReplaceAll(f.Get("vac_text"), "\r\n", "\n"),
	}
	if d, err := strconv.Atoi(f.Get("vac_days")); err == nil {
		r.Vacation.Days = d
	}
	r.Forward = sieve.ForwardRule{Address: strings.TrimSpace(f.Get("fwd_address")), KeepCopy: f.Get("fwd_keep") == "on"}
	fields, values, actions, args := f["rule_field"], f["rule_value"], f["rule_action"], f["rule_arg"]
	for i := range values {
		if strings.TrimSpace(values[i]) == "" || i >= len(fields) || i >= len(actions) {
			continue // an empty row deletes the rule
		}
		arg := ""
		if i < len(args) {
			arg = strings.TrimSpace(args[i])
		}
		r.Filters = append(r.Filters, sieve.Filter{Field: fields[i], Value: strings.TrimSpace(values[i]), Action: actions[i], Arg: arg})
	}
	return r
}

// saveRules is POST /settings/rules.
func (s *server) saveRules(w http.ResponseWriter, r *http.Request) {
	_, sess, acct, ok := s.post(w, r)
	if !ok || s.opt.Sieve == nil {
		return
	}
	rules := rulesFromForm(r.PostForm)
	src, err := rules.Script()
	if err != nil {
		s.renderSettings(w, r, http.StatusBadRequest, sess, acct, func(p *page) {
			p.Error, p.Detail = "err_rules", err.Error()
		})
		return
	}
	if err := s.activate(r, acct, generatedScript, src); err != nil {
		s.rulesFailed(w, r, sess, acct, err)
		return
	}
	// Logged with the destinations: a forward added with a stolen
	// password leaves a trace.
	s.log.Info("mail rules saved", "user", acct.Address, "vacation", rules.Vacation.Enabled,
		"forward", rules.Forward.Address, "rules", len(rules.Filters))
	http.Redirect(w, r, "/settings?n=notice_saved#rules", http.StatusSeeOther)
}

// saveScript is POST /settings/sieve: the advanced form.
func (s *server) saveScript(w http.ResponseWriter, r *http.Request) {
	_, sess, acct, ok := s.post(w, r)
	if !ok || s.opt.Sieve == nil {
		return
	}
	src := strings.ReplaceAll(r.PostForm.Get("script"), "\r\n", "\n")
	if _, err := sieve.Compile(src); err != nil {
		s.renderSettings(w, r, http.StatusBadRequest, sess, acct, func(p *page) {
			p.Rules.Script, p.Rules.ScriptError, p.Rules.HandWritten = src, err.Error(), true
		})
		return
	}
	if err := s.activate(r, acct, generatedScript, src); err != nil {
		s.rulesFailed(w, r, sess, acct, err)
		return
	}
	s.log.Info("Sieve script saved", "user", acct.Address, "bytes", len(src))
	http.Redirect(w, r, "/settings?n=notice_saved#advanced", http.StatusSeeOther)
}

// activate stores the script and makes it the active one.
func (s *server) activate(r *http.Request, acct store.Account, name, src string) error {
	if err := s.opt.Sieve.Put(r.Context(), acct.ID, name, src); err != nil {
		return err
	}
	return s.opt.Sieve.SetActive(r.Context(), acct.ID, name)
}

func (s *server) rulesFailed(w http.ResponseWriter, r *http.Request, sess *session, acct store.Account, err error) {
	if errors.Is(err, sieve.ErrTooMany) {
		s.renderSettings(w, r, http.StatusConflict, sess, acct, func(p *page) { p.Error = "err_too_many_scripts" })
		return
	}
	if errors.Is(err, sieve.ErrTooManyForwards) {
		s.renderSettings(w, r, http.StatusConflict, sess, acct, func(p *page) { p.Error, p.Detail = "err_rules", err.Error() })
		return
	}
	s.log.Error("settings page: saving the Sieve script", "err", err)
	s.renderSettings(w, r, http.StatusInternalServerError, sess, acct, func(p *page) { p.Error = "err_internal" })
}
