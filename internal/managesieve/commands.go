package managesieve

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/maillog"
	"github.com/youju/youju/internal/sieve"
	"github.com/youju/youju/internal/store"
)

type handler struct {
	fn    func(*session, Command) *reply
	authd bool // only after AUTHENTICATE
	args  int  // exact number of arguments, -1: checked by fn
}

var commands = map[string]handler{
	"CAPABILITY":     {(*session).cmdCapability, false, 0},
	"STARTTLS":       {(*session).cmdStartTLS, false, 0},
	"AUTHENTICATE":   {(*session).cmdAuthenticate, false, -1},
	"LOGOUT":         {(*session).cmdLogout, false, 0},
	"NOOP":           {(*session).cmdNoop, false, -1},
	"UNAUTHENTICATE": {(*session).cmdUnauthenticate, true, 0},
	"HAVESPACE":      {(*session).cmdHaveSpace, true, 2},
	"PUTSCRIPT":      {(*session).cmdPutScript, true, 2},
	"CHECKSCRIPT":    {(*session).cmdCheckScript, true, 1},
	"LISTSCRIPTS":    {(*session).cmdListScripts, true, 0},
	"SETACTIVE":      {(*session).cmdSetActive, true, 1},
	"GETSCRIPT":      {(*session).cmdGetScript, true, 1},
	"DELETESCRIPT":   {(*session).cmdDeleteScript, true, 1},
	"RENAMESCRIPT":   {(*session).cmdRenameScript, true, 2},
}

func (s *session) dispatch(cmd Command) *reply {
	h, ok := commands[cmd.Name]
	switch {
	case !ok:
		return &reply{status: "NO", text: "Unknown command " + cmd.Name, bad: true}
	case h.authd && !s.authed:
		return &reply{status: "NO", text: cmd.Name + " needs AUTHENTICATE first", bad: true}
	case h.args >= 0 && len(cmd.Args) != h.args:
		return &reply{status: "NO", text: cmd.Name + " takes " + strconv.Itoa(h.args) + " argument(s)", bad: true}
	}
	return h.fn(s, cmd)
}

func ok(text string) *reply { return &reply{status: "OK", text: text} }

func (s *session) cmdCapability(Command) *reply {
	s.capabilities()
	return ok("Capability completed")
}

func (s *session) cmdLogout(Command) *reply {
	return &reply{status: "OK", text: "Logout completed", end: true}
}

// cmdNoop echoes its tag (RFC 5804 §2.11).
func (s *session) cmdNoop(cmd Command) *reply {
	if len(cmd.Args) > 1 {
		return &reply{status: "NO", text: "NOOP takes at most one argument", bad: true}
	}
	if len(cmd.Args) == 1 {
		return &reply{status: "OK", code: "TAG " + quote(cmd.Args[0]), text: "Done"}
	}
	return ok("Done")
}

// cmdStartTLS is RFC 5804 §2.2: after the handshake the server sends its
// capabilities again.
func (s *session) cmdStartTLS(Command) *reply {
	switch {
	case s.tls:
		return no("", "TLS is already active")
	case s.srv.TLSConfig == nil:
		return no("", "TLS is not available")
	case s.authed:
		return no("", "STARTTLS only before AUTHENTICATE")
	}
	s.write(ok("Begin TLS negotiation now"))
	if err := s.w.Flush(); err != nil {
		return &reply{status: "BYE", end: true}
	}
	if err := s.handshake(); err != nil {
		s.log.Debug("managesieve: TLS handshake failed", "err", err)
		return &reply{status: "BYE", text: "TLS handshake failed", end: true}
	}
	s.capabilities()
	return ok("TLS active")
}

// cmdUnauthenticate is RFC 5804 §2.14.1.
func (s *session) cmdUnauthenticate(Command) *reply {
	s.authed, s.acct = false, store.Account{}
	return ok("Unauthenticated")
}

const maxSASLSteps = 8

// cmdAuthenticate is RFC 5804 §2.1: AUTHENTICATE mechanism [initial
// response], continued by base64 strings; "*" cancels.
func (s *session) cmdAuthenticate(cmd Command) *reply {
	if s.authed {
		return &reply{status: "NO", text: "Already authenticated", bad: true}
	}
	if len(cmd.Args) < 1 || len(cmd.Args) > 2 {
		return &reply{status: "NO", text: "AUTHENTICATE takes a mechanism and an optional initial response", bad: true}
	}
	if !s.plaintextOK() {
		return no("ENCRYPT-NEEDED", "Use STARTTLS first")
	}
	mech := strings.ToUpper(cmd.Args[0])
	var acct store.Account
	var got bool
	srv, err := s.srv.Auth.SASL(s.raw.Context(), mech, store.ServiceIMAP, s.remote, s.tlsState(), func(a store.Account) { acct, got = a, true })
	if err != nil {
		return no("", "Unsupported authentication mechanism")
	}
	var resp []byte
	if len(cmd.Args) == 2 {
		if resp, err = base64.StdEncoding.DecodeString(cmd.Args[1]); err != nil {
			return &reply{status: "NO", text: "Invalid base64 data", auth: true}
		}
	}
	for step := 0; ; step++ {
		chal, done, err := srv.Next(resp)
		if err != nil {
			s.log.Info("managesieve: login failed", "mech", mech, "err", err)
			maillog.AuthFailed("managesieve", s.remote, "", mech, err)
			return authReply(err)
		}
		if done {
			if !got {
				return &reply{status: "NO", text: "Authentication failed", auth: true}
			}
			s.authed, s.acct = true, acct
			s.log = s.log.With("user", acct.Address)
			s.log.Info("managesieve: logged in")
			if len(chal) > 0 { // SCRAM server-final (RFC 5804 §2.1)
				return &reply{status: "OK", code: "SASL " + quote(base64.StdEncoding.EncodeToString(chal)), text: "Logged in"}
			}
			return ok("Logged in")
		}
		if step == maxSASLSteps {
			return &reply{status: "NO", text: "Authentication exchange too long", auth: true}
		}
		s.w.WriteString(quote(base64.StdEncoding.EncodeToString(chal)) + "\r\n")
		if err := s.w.Flush(); err != nil {
			return &reply{status: "BYE", end: true}
		}
		line, err := s.readResponse()
		if err != nil {
			return &reply{status: "BYE", text: "Bad authentication response", end: true}
		}
		if line == "*" {
			return no("", "Authentication cancelled")
		}
		if resp, err = base64.StdEncoding.DecodeString(line); err != nil {
			return &reply{status: "NO", text: "Invalid base64 data", auth: true}
		}
	}
}

// readResponse reads a client's SASL response: a string (quoted or
// literal) on its own line.
func (s *session) readResponse() (string, error) {
	_ = s.raw.Await(pick(s.srv.IdleTimeout, DefaultIdleTimeout))
	p := &lineReader{r: s.r}
	if err := p.fill(); err != nil {
		return "", err
	}
	switch {
	case p.line == "*" || p.line == `"*"`:
		return "*", nil
	case strings.HasPrefix(p.line, `"`):
		return p.quoted()
	case strings.HasPrefix(p.line, "{"):
		return p.literal()
	}
	return p.line, nil
}

func authReply(err error) *reply {
	switch {
	case errors.Is(err, auth.ErrThrottled):
		return &reply{status: "BYE", code: "TRYLATER", text: "Too many failed logins, try again later", end: true}
	case errors.Is(err, auth.ErrServiceDisabled), errors.Is(err, auth.ErrAccountDisabled):
		return no("", "Access is disabled for this account")
	}
	var se *auth.SCRAMError
	if errors.As(err, &se) {
		return &reply{status: "NO", text: "SCRAM authentication failed: " + se.Value, auth: true}
	}
	return &reply{status: "NO", text: "Authentication failed", auth: true}
}

// compileReply checks a script: CHECKSCRIPT and PUTSCRIPT answer a
// compile error with its line, column and what was expected.
func compileReply(src string) *reply {
	if len(src) > sieve.MaxScriptSize {
		return no("QUOTA/MAXSIZE", "Script larger than "+strconv.Itoa(sieve.MaxScriptSize)+" octets")
	}
	if _, err := sieve.Compile(src); err != nil {
		return no("", err.Error())
	}
	return nil
}

func (s *session) cmdCheckScript(cmd Command) *reply {
	if r := compileReply(cmd.Args[0]); r != nil {
		return r
	}
	return ok("Script is valid")
}

func (s *session) cmdHaveSpace(cmd Command) *reply {
	if !sieve.ValidName(cmd.Args[0]) {
		return no("", "Invalid script name")
	}
	n, err := strconv.ParseInt(cmd.Args[1], 10, 64)
	if err != nil {
		return &reply{status: "NO", text: "HAVESPACE needs a number", bad: true}
	}
	if n > sieve.MaxScriptSize {
		return no("QUOTA/MAXSIZE", "Script larger than "+strconv.Itoa(sieve.MaxScriptSize)+" octets")
	}
	list, err := s.srv.Scripts.List(s.raw.Context(), s.acct.ID)
	if err != nil {
		return s.tempFail(err)
	}
	if len(list) >= sieve.MaxScripts && !hasScript(list, cmd.Args[0]) {
		return no("QUOTA/MAXSCRIPTS", "Too many scripts")
	}
	return ok("Putscript would succeed")
}

func hasScript(list []sieve.ScriptInfo, name string) bool {
	for _, x := range list {
		if x.Name == name {
			return true
		}
	}
	return false
}

func (s *session) tempFail(err error) *reply {
	s.log.Error("managesieve: storage failed", "err", err)
	return no("TRYLATER", "Temporary server failure, try again later")
}

// storageReply maps storage errors onto RFC 5804 §1.3 response codes.
func (s *session) storageReply(err error, done string) *reply {
	switch {
	case err == nil:
		return ok(done)
	case errors.Is(err, sieve.ErrNoScript):
		return no("NONEXISTENT", "No such script")
	case errors.Is(err, sieve.ErrActive):
		return no("ACTIVE", "The script is active; deactivate it first")
	case errors.Is(err, sieve.ErrExists):
		return no("ALREADYEXISTS", "A script of that name exists")
	case errors.Is(err, sieve.ErrTooMany):
		return no("QUOTA/MAXSCRIPTS", "Too many scripts")
	case errors.Is(err, sieve.ErrTooManyForwards):
		return no("QUOTA", err.Error()) // RFC 5804 §1.3: a site limit
	case errors.Is(err, sieve.ErrScriptSize):
		return no("QUOTA/MAXSIZE", "Script too large")
	case errors.Is(err, sieve.ErrBadName):
		return no("", "Invalid script name")
	}
	return s.tempFail(err)
}

func (s *session) cmdPutScript(cmd Command) *reply {
	if r := compileReply(cmd.Args[1]); r != nil {
		return r
	}
	err := s.srv.Scripts.Put(s.raw.Context(), s.acct.ID, cmd.Args[0], cmd.Args[1])
	if err == nil {
		s.log.Info("managesieve: script stored", "script", cmd.Args[0])
	}
	return s.storageReply(err, "Script stored")
}

func (s *session) cmdListScripts(Command) *reply {
	list, err := s.srv.Scripts.List(s.raw.Context(), s.acct.ID)
	if err != nil {
		return s.tempFail(err)
	}
	for _, x := range list {
		s.w.WriteString(quote(x.Name))
		if x.Active {
			s.w.WriteString(" ACTIVE")
		}
		s.w.WriteString("\r\n")
	}
	return ok("Listscripts completed")
}

// cmdSetActive: "" deactivates (RFC 5804 §2.8). A stored script that no
// longer compiles cannot be activated.
func (s *session) cmdSetActive(cmd Command) *reply {
	name := cmd.Args[0]
	if name != "" {
		src, err := s.srv.Scripts.Get(s.raw.Context(), s.acct.ID, name)
		if err != nil {
			return s.storageReply(err, "")
		}
		if r := compileReply(src); r != nil {
			return r
		}
	}
	err := s.srv.Scripts.SetActive(s.raw.Context(), s.acct.ID, name)
	if err == nil {
		s.log.Info("managesieve: active script set", "script", name)
	}
	return s.storageReply(err, "Active script set")
}

func (s *session) cmdGetScript(cmd Command) *reply {
	src, err := s.srv.Scripts.Get(s.raw.Context(), s.acct.ID, cmd.Args[0])
	if err != nil {
		return s.storageReply(err, "")
	}
	s.w.WriteString("{" + strconv.Itoa(len(src)) + "}\r\n" + src + "\r\n")
	return ok("Getscript completed")
}

func (s *session) cmdDeleteScript(cmd Command) *reply {
	return s.storageReply(s.srv.Scripts.Delete(s.raw.Context(), s.acct.ID, cmd.Args[0]), "Script deleted")
}

func (s *session) cmdRenameScript(cmd Command) *reply {
	return s.storageReply(s.srv.Scripts.Rename(s.raw.Context(), s.acct.ID, cmd.Args[0], cmd.Args[1]), "Script renamed")
}
