// Package web serves youju over HTTP(S): client autoconfiguration
// (Thunderbird autoconfig, Outlook autodiscover, Apple configuration
// profiles), the MTA-STS policy, and the settings page where users see
// their client settings and manage app passwords and access switches. The
// admin listener (metrics) is separate, see AdminHandler.
//
// One handler serves both the plain HTTP and the HTTPS listener; it tells
// them apart by r.TLS. Over plain HTTP, a client that is not on this
// machine gets only what machines fetch there (autoconfig, autodiscover,
// well-known paths, health); every page for people is redirected to HTTPS,
// so the sign-in form is never shown, and a password never taken, where
// the network can read it. Answers over HTTPS carry Strict-Transport-
// Security.
package web

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/clientconf"
	"github.com/youju/youju/internal/dnsrec"
	"github.com/youju/youju/internal/sieve"
	"github.com/youju/youju/internal/store"
)

// Options configure the public web handler. Zero fields take defaults.
type Options struct {
	// Hostname is the mail server's name, shown in every setting.
	Hostname string
	// Domain is the primary mail domain (used when a request names none).
	Domain string
	// Settings are the client listeners (clientconf.Settings).
	Settings []clientconf.Entry
	// Store holds accounts and domains; nil serves only the public pages
	// and treats Domain as the only local domain.
	Store store.Accounts
	// Auth checks sign-ins on the settings page; nil turns sign-in off.
	Auth *auth.Authenticator
	// TLSCert, if set, returns the server certificate used to sign Apple
	// configuration profiles; nil (or a nil result) serves them unsigned.
	TLSCert func() *tls.Certificate
	// HTTPSPort is where plain-HTTP visitors are sent to sign in (0: 443;
	// negative: there is no HTTPS listener).
	HTTPSPort int
	// LocalClient reports whether a client may use the settings page over
	// plain HTTP (default: loopback only, i.e. a browser on this machine,
	// where there is no network to read the password). Tests inject it to
	// play a remote client over 127.0.0.1.
	LocalClient func(netip.Addr) bool
	// HSTSMaxAge is the max-age of Strict-Transport-Security (default one
	// year; negative: no header). See hstsValue.
	HSTSMaxAge time.Duration
	// MTASTSMode is the MTA-STS policy mode ("testing" unless "enforce").
	MTASTSMode string
	// ACMEChallenge, if set, answers ACME HTTP-01 challenges under
	// /.well-known/acme-challenge/ (RFC 8555 §8.3; internal/acme).
	ACMEChallenge http.Handler
	// SessionIdle and SessionMax bound a settings-page session: it ends
	// after SessionIdle without requests (default 30m) or SessionMax after
	// sign-in (default 12h).
	SessionIdle, SessionMax time.Duration
	Logger                  *slog.Logger
	// Sieve, if set, adds the mail rules forms (rules.go).
	Sieve sieve.Scripts
	// Import, if set, adds the self-service import page (importpage.go).
	Import ImportJobs
	// Sessions stores the web sessions and the sign-in's TOTP secrets
	// (default: Store if it implements store.WebSessions, so that every
	// node of a shared store knows a session; else memory).
	Sessions store.WebSessions
	// Admin, if set, adds what the admin console and API (admin.go,
	// api.go) show beyond the store: queue, DNS, mail log, reports.
	// The console and API themselves are on whenever Store and Auth are.
	Admin *AdminOptions
	// Submit, if set, sends webmail messages through the SMTP submission
	// path (smtpd.Server.Submit: sender checks, send limits, DKIM in the
	// queue, local delivery); nil turns compose off.
	Submit func(ctx context.Context, acct store.Account, from string, rcpts []string, msg []byte) error
	// MaxMessageBytes bounds a composed message with its attachments
	// (the server's message size limit; default 50 MiB).
	MaxMessageBytes int64
	// Now is the clock (tests).
	Now func() time.Time
}

// server is the public web part.
type server struct {
	opt      Options
	log      *slog.Logger
	sessions *sessions
	mux      *http.ServeMux
	hsts     string // the Strict-Transport-Security value, "" for none
	// closing ends the live event streams (CloseStreams): they outlive
	// any request deadline, so http.Server.Shutdown would otherwise wait
	// for its whole grace period.
	closing   chan struct{}
	closeOnce sync.Once
}

// CloseStreams ends every live event stream of the handler New returned;
// http.Server.RegisterOnShutdown takes it, so Shutdown does not wait for
// browsers that keep a stream open. Browsers reconnect by themselves
// (EventSource), to another node or to the restarted server.
func (s *server) CloseStreams() { s.closeOnce.Do(func() { close(s.closing) }) }

// New returns the handler of the public web listeners (HTTP and HTTPS).
func New(opt Options) http.Handler {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.SessionIdle <= 0 {
		opt.SessionIdle = 30 * time.Minute
	}
	if opt.SessionMax <= 0 {
		opt.SessionMax = 12 * time.Hour
	}
	if opt.LocalClient == nil {
		opt.LocalClient = netip.Addr.IsLoopback
	}
	opt.Hostname = strings.ToLower(strings.TrimSuffix(opt.Hostname, "."))
	opt.Domain = strings.ToLower(opt.Domain)
	if opt.Sessions == nil {
		opt.Sessions = webSessionsOf(opt.Store)
	}
	if opt.Sessions == nil {
		opt.Sessions = newMemSessions()
	}
	log := opt.Logger.With("proto", "http")
	s := &server{opt: opt, log: log, mux: http.NewServeMux(), closing: make(chan struct{}),
		sessions: newSessions(opt.Sessions, opt.SessionIdle, opt.SessionMax, opt.Now, log)}
	s.hsts = hstsValue(opt.HSTSMaxAge, opt.HTTPSPort)
	s.routes()
	return s
}

// webSessionsOf returns st as store.WebSessions, looking through wrappers
// (store.Metered) that hide it; nil if the backend has none.
func webSessionsOf(st any) store.WebSessions { return storeAs[store.WebSessions](st) }

// Handler serves the public pages for hostname with no accounts behind
// them. Deprecated: use New, which adds sign-in and per-domain answers.
func Handler(hostname string, settings []clientconf.Entry) http.Handler {
	domain, _ := strings.CutPrefix(hostname, "mail.")
	return New(Options{Hostname: hostname, Domain: domain, Settings: settings})
}

func (s *server) routes() {
	m := s.mux
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	// Thunderbird autoconfig: the autoconfig.DOMAIN host and the
	// well-known path on the domain itself.
	m.HandleFunc("GET /mail/config-v1.1.xml", s.autoconfig)
	m.HandleFunc("GET /.well-known/autoconfig/mail/config-v1.1.xml", s.autoconfig)
	// Outlook autodiscover (POX); clients use both spellings.
	m.HandleFunc("POST /autodiscover/autodiscover.xml", s.autodiscover)
	m.HandleFunc("POST /Autodiscover/Autodiscover.xml", s.autodiscover)
	m.HandleFunc("GET /apple.mobileconfig", s.mobileconfig)
	// RFC 8461 §3.3: the policy host is mta-sts.DOMAIN, HTTPS only.
	m.HandleFunc("GET /.well-known/mta-sts.txt", s.mtaSTS)
	if s.opt.ACMEChallenge != nil {
		// Over plain HTTP from anywhere (plainHTTPPath): the CA fetches it
		// on port 80.
		m.Handle("GET /.well-known/acme-challenge/", s.opt.ACMEChallenge)
	}

	m.Handle("GET /static/", http.FileServerFS(staticFS))
	m.HandleFunc("GET /{$}", s.index)
	m.HandleFunc("GET /lang/{lang}", s.setLang)
	m.HandleFunc("POST /login", s.login)
	m.HandleFunc("POST /logout", s.logout)
	m.HandleFunc("GET /settings", s.settingsPage)
	m.HandleFunc("POST /settings/app-passwords", s.createAppPassword)
	m.HandleFunc("POST /settings/app-passwords/revoke", s.revokeAppPassword)
	m.HandleFunc("POST /settings/services", s.setServices)
	m.HandleFunc("POST /settings/rules", s.saveRules)
	m.HandleFunc("POST /settings/sieve", s.saveScript)
	s.importRoutes()
	m.HandleFunc("POST /settings/password", s.changePassword)
	m.HandleFunc("GET /login/totp", s.totpPage)
	m.HandleFunc("POST /login/totp", s.totpLogin)
	m.HandleFunc("POST /settings/totp/setup", s.totpSetup)
	m.HandleFunc("POST /settings/totp/enable", s.totpEnable)
	m.HandleFunc("POST /settings/totp/disable", s.totpDisable)
	m.HandleFunc("GET /mail/{$}", s.mailIndex)
	m.HandleFunc("GET /mail/{box}", s.mailList)
	m.HandleFunc("GET /mail/{box}/{uid}", s.mailRead)
	m.HandleFunc("GET /mail/{box}/{uid}/body", s.mailBody)
	m.HandleFunc("GET /mail/{box}/{uid}/part/{section}", s.mailPart)
	m.HandleFunc("POST /mail/{box}/{uid}/act", s.mailAct)
	s.adminRoutes()
	s.composeRoutes()
}

// ServeHTTP sets the headers every answer carries, sends people on plain
// HTTP to HTTPS, then routes.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if r.TLS != nil && s.hsts != "" {
		// RFC 6797 §7.2: only over secure transport (a UA ignores it on
		// plain HTTP anyway, §8.1).
		h.Set("Strict-Transport-Security", s.hsts)
	}
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: under no-referrer Chromium sends
	// "Origin: null" on our own form posts, which sameOrigin must then
	// refuse or trust blindly; no URL of ours leaks to other sites either
	// way.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	// No scripts at all; styles only from our own file; frames only our
	// own (the sandboxed body of an HTML mail, which sets its own policy).
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	if !s.secure(r) && !plainHTTPPath(r.URL.Path) {
		s.toHTTPS(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// AdminHandler serves the admin listener: Prometheus metrics and health.
func AdminHandler(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	return mux
}

// mtaSTS serves the MTA-STS policy of the domain named by the host
// (mta-sts.DOMAIN), RFC 8461 §3.2.
func (s *server) mtaSTS(w http.ResponseWriter, r *http.Request) {
	d := s.requestDomain(r, "")
	if d == "" || !s.isLocal(r.Context(), d) {
		http.Error(w, "no MTA-STS policy for this domain", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Cache-Control", "max-age=3600")
	w.Write([]byte(dnsrec.MTASTSPolicy(s.opt.MTASTSMode, s.opt.Hostname)))
}

// requestDomain is the mail domain a request is about: that of the e-mail
// address if given, else the Host header without its well-known prefix
// (autoconfig., autodiscover., mta-sts.), else the primary domain.
func (s *server) requestDomain(r *http.Request, address string) string {
	if _, d, ok := strings.Cut(address, "@"); ok {
		return strings.ToLower(d)
	}
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	for _, p := range []string{"autoconfig.", "autodiscover.", "mta-sts."} {
		if d, ok := strings.CutPrefix(host, p); ok {
			return d
		}
	}
	return s.opt.Domain
}

// isLocal reports whether d is a domain this server serves.
func (s *server) isLocal(ctx context.Context, d string) bool {
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	if s.opt.Store == nil {
		return d == s.opt.Domain
	}
	ok, err := s.opt.Store.IsLocalDomain(ctx, d)
	if err != nil {
		s.log.Warn("looking up a domain", "domain", d, "err", err)
		return false
	}
	return ok
}

// remoteAddr is the client's address (for throttling and the loopback rule).
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// secure reports whether passwords may be sent on this request: over TLS,
// or over plain HTTP from a local client (by default loopback: the
// browser is on this machine).
func (s *server) secure(r *http.Request) bool {
	return r.TLS != nil || s.opt.LocalClient(remoteAddr(r))
}

// httpsURL is where a plain-HTTP visitor signs in, "" without HTTPS.
func (s *server) httpsURL(path string) string {
	switch p := s.opt.HTTPSPort; {
	case p < 0:
		return ""
	case p == 0 || p == 443:
		return "https://" + s.opt.Hostname + path
	default:
		return "https://" + s.opt.Hostname + ":" + strconv.Itoa(p) + path
	}
}
