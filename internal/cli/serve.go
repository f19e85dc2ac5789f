package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/youju/youju/internal/acme"
	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/clientconf"
	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/control"
	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/delivery/queue"
	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/maillog"
	"github.com/youju/youju/internal/metrics"
	"github.com/youju/youju/internal/netserver"
	"github.com/youju/youju/internal/reports"
	"github.com/youju/youju/internal/smtpd"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/tlsconf"
	"github.com/youju/youju/internal/web"
)

const serveUsage = "serve [--data DIR] [--listen ADDR] [--port-offset N] [--dev]"

// shutdownGrace is how long Shutdown waits for sessions to finish.
const shutdownGrace = 20 * time.Second

func runServe(ctx context.Context, e *env, args []string) error {
	fs, data := flags(e, "serve", serveUsage)
	listen := fs.String("listen", "", "address every listener binds (overrides the config)")
	offset := fs.Int("port-offset", -1, "add N to every port (overrides the config; 10000: 25 -> 10025)")
	dev := fs.Bool("dev", false, "first try: create ./youju-data for example.test with a demo account, listen on 127.0.0.1 with port offset 10000")
	_, err := parseArgs(fs, args, 0, 0, serveUsage)
	if err != nil {
		return err
	}
	var demo *devAccount
	if *dev {
		if demo, err = ensureDev(ctx, e, *data); err != nil {
			return err
		}
	}
	c, err := loadConfig(*data)
	if err != nil {
		return err
	}
	if *listen != "" {
		c.Listen = *listen
	}
	if *offset >= 0 {
		c.PortOffset = *offset
	}
	if err := c.Validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	dns, err := outboundResolver(c.Outbound)
	if err != nil {
		return err
	}
	stopProfile, err := startCPUProfile()
	if err != nil {
		return err
	}
	defer stopProfile()
	return serve(ctx, e, *data, c, dns, demo)
}

// serve runs every listener of c until ctx is done, then shuts down
// gracefully: listeners close, sessions get shutdownGrace to finish, the
// store closes last (its writer flushes what it holds).
// All DNS goes through dns (tests pass a fake one).
func serve(ctx context.Context, e *env, dataDir string, c config.Config, dns dnsresolver.Resolver, demo *devAccount) error {
	// Lines written while the log is being written go out together
	// (maillog.Writer); the last ones are written when serve returns.
	out := maillog.NewWriter(e.stderr)
	defer out.Close()
	log := newLogger(out, c.Log)
	// The mail events go where the server's log goes (docs/logs.md), and
	// the last ones to the admin console.
	events := web.NewEventLog(log.Handler())
	maillog.SetLogger(slog.New(events))
	tlsm, err := tlsconf.NewManager(config.Path(dataDir, c.TLS.Cert), config.Path(dataDir, c.TLS.Key))
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	raw, err := openStore(ctx, dataDir, c)
	if err != nil {
		return err
	}
	defer raw.Close()
	st := store.Metered(raw, func(op string, d time.Duration) {
		metrics.StoreLatency.With(op).Observe(d.Seconds())
	})
	if state, ok := sharedState(st); ok {
		events.Share(ctx, state) // the console shows every node's mail events
	}
	authn := auth.New(st, auth.Options{
		DefaultDomain:         c.Domain,
		MaxFailuresPerIP:      c.Auth.MaxFailuresPerIP,
		MaxFailuresPerPair:    c.Auth.MaxFailuresPerAccountIP,
		AccountGuessesPerHour: c.Auth.MaxGuessesPerAccountHour,
		AccountBurst:          c.Auth.GuessBurst,
		Window:                c.Auth.FailureWindow.Duration,
		MaxDelay:              c.Auth.MaxDelay.Duration,
		KnownFor:              c.Auth.KnownAddressFor.Duration,
		Known:                 raw, // st, the metered wrapper, hides it
		MaxVerifications:      c.Auth.MaxVerifications,
		MaxVerificationsPerIP: c.Auth.MaxVerificationsPerIP,
		SetSCRAM:              raw.SetSCRAM,
		SCRAMReady:            raw.SCRAMReady,
	})
	if ctl, err := serveControl(dataDir, st, log); err != nil {
		// Not fatal: mail flows; only account changes from the CLI must
		// wait for a restart (it will say the store is in use).
		log.Warn("no control socket: the CLI cannot change accounts while the server runs", "err", err)
	} else {
		defer ctl()
	}
	acm, err := setupACME(c, dataDir, tlsm, st, log, demo != nil)
	if err != nil {
		return err
	}
	deps := &deps{cfg: c, dataDir: dataDir, log: log, tls: tlsm, store: st, auth: authn, dns: dns, acme: acm, events: events}
	bindings, err := deps.bindings()
	if err != nil {
		return err
	}
	defer deps.stopSpam()
	running, err := listenAll(bindings)
	if err != nil {
		return err
	}
	deps.outq.Start(ctx)
	if deps.reportsOut != nil {
		go deps.reportSender().run(ctx)
	}
	if acm != nil {
		go acm.Run(ctx) // the listeners are bound: challenges can be answered
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		deps.outq.Shutdown(sctx)
	}()
	host := c.Hostname
	if demo != nil {
		host = "127.0.0.1"
	}
	// SIGHUP reloads the certificate; registered before we say we run.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if demo != nil {
		if err := deliverWelcome(ctx, dataDir, c, host, deps.deliverer, demo); err != nil {
			log.Warn("the --dev welcome message was not delivered", "err", err) // a nicety: go on
		}
	}
	printStartup(e.stdout, c, host, running, demo)
	log.Info("youju started", "hostname", c.Hostname, "domain", c.Domain, "data", dataDir)

	errc := make(chan error, len(running))
	for _, r := range running {
		go func() {
			if err := r.serve(); err != nil && !isClosed(err) {
				errc <- fmt.Errorf("%s on %s: %w", r.name, r.addr, err)
			}
		}()
	}
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-hup:
			if err := tlsm.Reload(); err != nil {
				log.Error("reloading the TLS certificate failed; keeping the old one", "err", err)
			} else {
				log.Info("TLS certificate reloaded")
			}
			if acm != nil {
				acm.CheckNow() // names of a new domain; a removed file is re-obtained
			}
		case runErr = <-errc:
			log.Error("listener failed, shutting down", "err", runErr)
			break loop
		}
	}
	log.Info("shutting down")
	shutdownAll(running, log)
	return runErr
}

// serveControl listens on the control socket so that the CLI can manage
// accounts while the server runs. We hold the store's lock, so a socket
// file left there is stale.
func serveControl(dataDir string, st store.Accounts, log *slog.Logger) (stop func(), err error) {
	path := controlSocket(dataDir)
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	srv := control.Serve(l, st, log.With("proto", "control"))
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		os.Remove(path)
	}, nil
}

// binding is one configured listener and the server behind it.
type binding struct {
	name        string // config key: smtp, imaps, ...
	addr        string
	srv         server
	implicitTLS bool
	// proxyFrom are the load balancers whose connections start with a
	// PROXY header (netserver.ProxyListener); nil: none.
	proxyFrom []netip.Prefix
}

// server is what every protocol front-end offers (the net/http pattern).
type server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// tlsServer is a server that can also speak implicit TLS itself.
type tlsServer interface {
	server
	ServeTLS(net.Listener) error
}

type running struct {
	binding
	l     net.Listener
	serve func() error
}

// listenAll binds every listener before any serves, so that a port in use
// is reported at once and nothing half-starts.
func listenAll(bs []binding) ([]running, error) {
	var rs []running
	for _, b := range bs {
		l, err := net.Listen("tcp", b.addr)
		if err != nil {
			for _, r := range rs {
				r.l.Close()
			}
			return nil, fmt.Errorf("listening for %s on %s: %w (another mail server running? use --port-offset or set listeners.%s in the config)", b.name, b.addr, err, b.name)
		}
		l = newCountingListener(l, b.name)
		if b.proxyFrom != nil {
			l = &netserver.ProxyListener{Listener: l, Trusted: b.proxyFrom}
		}
		r := running{binding: b, l: l}
		r.addr = l.Addr().String()
		if ts, ok := b.srv.(tlsServer); ok && b.implicitTLS {
			r.serve = func() error { return ts.ServeTLS(l) }
		} else {
			r.serve = func() error { return b.srv.Serve(l) }
		}
		rs = append(rs, r)
	}
	return rs, nil
}

func shutdownAll(rs []running, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	var wg sync.WaitGroup
	seen := make(map[server]bool) // listeners of one protocol share a server
	for _, r := range rs {
		if seen[r.srv] {
			continue
		}
		seen[r.srv] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			defer func() { log.Debug("shutdown done", "listener", r.name, "took", time.Since(t0)) }()
			if err := r.srv.Shutdown(ctx); err != nil && !isClosed(err) {
				log.Warn("shutdown", "listener", r.name, "err", err)
			}
		}()
	}
	wg.Wait()
}

func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, http.ErrServerClosed)
}

// deps are what the front-ends are built from.
type deps struct {
	cfg     config.Config
	dataDir string
	log     *slog.Logger
	tls     *tlsconf.Manager
	store   store.Store
	auth    *auth.Authenticator
	outq    *queue.Queue // set by bindings
	// deliverer is the one delivery target, shared by the SMTP servers
	// and the queue's bounces (set by bindings).
	deliverer *delivery.Deliverer
	dns       dnsresolver.Resolver
	acme      *acme.Manager // nil: ACME off
	sieve     sieveStore    // users' Sieve scripts (sieve.go)
	spamStop  func()        // set by spamChecker when greylisting keeps state
	// reportsOut records what our reports are made of; nil unless
	// [reports] send (reportsend.go).
	reportsOut *reports.Outbox

	// spamSend is the send counters' journal, closed by stopSpam.
	spamSend interface{ CloseState() error }
	// events keeps the recent mail log events for the admin console.
	events *web.EventLog
	// submit is the submission server (set by bindings); the webmail
	// sends through it.
	submit *smtpd.Server
}

// httpServer adapts net/http to the server interface.
type httpServer struct{ *http.Server }

func (h httpServer) ServeTLS(l net.Listener) error { return h.Server.ServeTLS(l, "", "") }

func (d *deps) httpServer(h http.Handler, withTLS bool) httpServer {
	s := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	if withTLS {
		s.TLSConfig = d.tls.Config()
	}
	// Live event streams of the webmail end at Shutdown instead of
	// holding it for the whole grace period.
	if c, ok := h.(interface{ CloseStreams() }); ok {
		s.RegisterOnShutdown(c.CloseStreams)
	}
	return httpServer{s}
}

// webSubmit is how the webmail sends: through the submission server, so
// that its mail gets the checks, limits and signing of mail from a mail
// app (nil, and no compose, if there is none).
func (d *deps) webSubmit() func(context.Context, store.Account, string, []string, []byte) error {
	if d.submit == nil {
		return nil
	}
	return d.submit.Submit
}

// webBindings are the HTTP listeners.
func (d *deps) webBindings() ([]binding, error) {
	c := d.cfg
	httpsPort := -1
	if addr, err := c.Address(c.Listeners.HTTPS); err == nil && addr != "" {
		_, p, _ := net.SplitHostPort(addr)
		httpsPort, _ = strconv.Atoi(p)
	}
	site := web.New(web.Options{
		Hostname: c.Hostname, Domain: c.Domain, Settings: clientconf.Settings(c, c.Hostname),
		Store: d.store, Auth: d.auth, TLSCert: d.tls.Certificate, HTTPSPort: httpsPort, Logger: d.log.With("proto", "http"),
		Submit: d.webSubmit(), MaxMessageBytes: c.Limits.MaxMessageBytes, // webmail sends through submission
		ACMEChallenge: d.acmeHTTP(),
		Sieve:         d.userSieveScripts(),
		Import:        d.importJobs(),
		MTASTSMode:    c.Outbound.MTASTS, // the same mode 'youju dns' publishes
		Admin:         d.adminOptions(),
	})
	var bs []binding
	add := func(name, setting string, srv server, implicit bool) error {
		addr, err := c.Address(setting)
		if err != nil || addr == "" {
			return err
		}
		bs = append(bs, binding{name: name, addr: addr, srv: srv, implicitTLS: implicit})
		return nil
	}
	if err := add("http", c.Listeners.HTTP, d.httpServer(site, false), false); err != nil {
		return nil, err
	}
	if err := add("https", c.Listeners.HTTPS, d.httpServer(site, true), true); err != nil {
		return nil, err
	}
	if err := add("admin", c.Listeners.Admin, d.httpServer(web.AdminHandler(metrics.Handler()), false), false); err != nil {
		return nil, err
	}
	return bs, nil
}

func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level)) // validated with the config
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	// slog's text handler, which also writes the mail log's lines without
	// making records of them (maillog.LineHandler).
	return slog.New(maillog.NewTextHandler(w, lvl))
}
