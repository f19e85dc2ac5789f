// Package acme obtains and renews youju's TLS certificate from an ACME
// certificate authority (RFC 8555), such as Let's Encrypt.
//
// One certificate carries every name clients and peers use (the host name,
// and for each mail domain autoconfig., autodiscover. and mta-sts.). It is
// renewed at two thirds of its lifetime, written atomically as one PEM file
// (chain and key together, so a crash never pairs a new key with an old
// chain) in DATA/acme/, and handed to a callback that swaps it into the
// running listeners (tlsconf.Manager.SetFiles). Challenges are answered on
// the web listeners: HTTP-01 (RFC 8555 §8.3) on port 80 through
// HTTPHandler, TLS-ALPN-01 (RFC 8737) on port 443 through ALPNCert. A
// failure is logged with its cause and retried with exponential backoff;
// meanwhile the listeners keep the certificate they have.
//
// The client is golang.org/x/crypto/acme: already a dependency, small, and
// it leaves the policy (one multi-name certificate, our file layout, our
// listeners answering challenges) to us. autocert, beside it, wants one
// certificate per name obtained on demand during handshakes; lego brings
// dozens of DNS-provider modules we would not use.
package acme

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// LetsEncrypt is the production directory of Let's Encrypt.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// Challenge types (RFC 8555 §8.3, RFC 8737 §3).
const (
	HTTP01    = "http-01"
	TLSALPN01 = "tls-alpn-01"
)

// Files in Options.Dir.
const (
	AccountKeyFile = "account.key" // the ACME account key, PKCS #8 PEM, 0600
	CertFile       = "cert.pem"    // chain then key, PEM, 0600
)

// Defaults of Options.
const (
	DefaultMinBackoff = 10 * time.Minute
	DefaultMaxBackoff = 8 * time.Hour
	// DefaultRecheck is how often the names are compared with the
	// certificate while nothing is due (a domain added while serving).
	DefaultRecheck = time.Hour
	// issueTimeout bounds one attempt: order, challenges, finalisation.
	issueTimeout = 5 * time.Minute
)

// Options configure a Manager.
type Options struct {
	// Directory is the ACME directory URL (default LetsEncrypt).
	Directory string
	// Dir holds the account key and the certificate (DATA/acme).
	Dir string
	// Email, if set, is the account's contact (RFC 8555 §7.3): the CA
	// writes there before a certificate expires unrenewed.
	Email string
	// Profile, if set, asks for an issuance profile the CA advertises
	// (draft-ietf-acme-profiles; Let's Encrypt: "classic", "tlsserver",
	// "shortlived").
	Profile string
	// Names returns the names the certificate must carry, the host name
	// first. It is called before every check, so that a domain added
	// while serving gets its names at the next check.
	Names func(ctx context.Context) ([]string, error)
	// Challenges are the types we can answer, in order of preference
	// (default HTTP01 then TLSALPN01). An attempt that fails with the
	// first tries the next one at the next attempt.
	Challenges []string
	// HTTPClient talks to the CA (default http.DefaultClient; tests trust
	// Pebble's root through it).
	HTTPClient *http.Client
	// Installed is called with the path of a new certificate file once it
	// is on disk; it swaps the certificate into the listeners.
	Installed func(path string) error
	// MinBackoff and MaxBackoff bound the wait after a failure, doubled
	// at each failure in a row (defaults 10m and 8h: Let's Encrypt allows
	// five failed validations per name and hour).
	MinBackoff, MaxBackoff time.Duration
	// Recheck is the longest sleep while nothing is due (default 1h).
	Recheck time.Duration
	Logger  *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

// Manager runs the certificate's life cycle. Its methods are safe for
// concurrent use.
type Manager struct {
	opt Options
	log *slog.Logger
	ch  challenges

	renew    chan bool    // RenewNow's (true) and CheckNow's (false) poke
	failures atomic.Int64 // failures in a row
	attempts atomic.Int64 // attempts since start
	mu       sync.Mutex
	lastErr  error
	next     int // index into opt.Challenges to try first
}

// New returns a Manager; Run starts it.
func New(opt Options) (*Manager, error) {
	if opt.Dir == "" || opt.Names == nil {
		return nil, errors.New("acme: Dir and Names are required")
	}
	if opt.Directory == "" {
		opt.Directory = LetsEncrypt
	}
	if len(opt.Challenges) == 0 {
		opt.Challenges = []string{HTTP01, TLSALPN01}
	}
	for _, c := range opt.Challenges {
		if c != HTTP01 && c != TLSALPN01 {
			return nil, fmt.Errorf("acme: unknown challenge type %q", c)
		}
	}
	if opt.HTTPClient == nil {
		opt.HTTPClient = http.DefaultClient
	}
	if opt.MinBackoff <= 0 {
		opt.MinBackoff = DefaultMinBackoff
	}
	if opt.MaxBackoff < opt.MinBackoff {
		opt.MaxBackoff = max(DefaultMaxBackoff, opt.MinBackoff)
	}
	if opt.Recheck <= 0 {
		opt.Recheck = DefaultRecheck
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if err := os.MkdirAll(opt.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("acme: %w", err)
	}
	return &Manager{opt: opt, log: opt.Logger.With("proto", "acme"), renew: make(chan bool, 1)}, nil
}

// CertPath is the file the certificate is kept in (chain and key).
func (m *Manager) CertPath() string { return filepath.Join(m.opt.Dir, CertFile) }

// RenewNow asks Run to obtain a new certificate at once, due or not.
func (m *Manager) RenewNow() { m.poke(true) }

// CheckNow asks Run to check at once whether a certificate is due: after
// a domain was added, or after the certificate file was removed to force
// a new one (SIGHUP does this).
func (m *Manager) CheckNow() { m.poke(false) }

func (m *Manager) poke(force bool) {
	select {
	case m.renew <- force:
	default:
		if force { // a pending check becomes a renewal
			select {
			case <-m.renew:
			default:
			}
			select {
			case m.renew <- true:
			default: // another poke got in first; at worst a check
			}
		}
	}
}

// Status reports the attempts since start, the failures in a row and the
// last error (nil after a success).
func (m *Manager) Status() (attempts, failures int, lastErr error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int(m.attempts.Load()), int(m.failures.Load()), m.lastErr
}

// Run keeps the certificate current until ctx is done: it obtains one
// when there is none, when a name is missing from it, or at two thirds of
// its lifetime; after a failure it waits Backoff(failures) and tries again.
func (m *Manager) Run(ctx context.Context) {
	force := false
	for {
		wait, ok := m.step(ctx, force)
		force = force && !ok // a failed forced renewal is retried too
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case f := <-m.renew:
			t.Stop()
			force = force || f
		case <-t.C:
		}
	}
}

// step checks once and obtains a certificate if one is due; it returns
// how long to sleep before the next check, and false if an attempt failed.
func (m *Manager) step(ctx context.Context, force bool) (time.Duration, bool) {
	names, err := m.opt.Names(ctx)
	if err != nil || len(names) == 0 {
		m.log.Warn("ACME: cannot list the certificate's names; checking later", "err", err)
		return m.opt.MinBackoff, false
	}
	now := m.opt.Now()
	reason := "renewal requested"
	if !force {
		var at time.Time
		at, reason = m.dueAt(names)
		if wait := at.Sub(now); wait > 0 {
			return min(wait, m.opt.Recheck), true
		}
	}
	m.attempts.Add(1)
	m.log.Info("ACME: requesting a certificate", "reason", reason, "names", names, "directory", m.opt.Directory)
	ctx, cancel := context.WithTimeout(ctx, issueTimeout)
	defer cancel()
	err = m.obtain(ctx, names)
	if err == nil && m.opt.Installed != nil {
		if err = m.opt.Installed(m.CertPath()); err != nil {
			err = fmt.Errorf("installing the new certificate: %w", err)
		}
	}
	m.mu.Lock()
	m.lastErr = err
	m.mu.Unlock()
	if err != nil {
		n := m.failures.Add(1)
		wait := Backoff(int(n), m.opt.MinBackoff, m.opt.MaxBackoff)
		m.log.Error("ACME: obtaining the certificate failed; the current certificate stays in use",
			"err", err, "failures", n, "retry_in", wait.Round(time.Second))
		return wait, false
	}
	m.failures.Store(0)
	m.log.Info("ACME: certificate installed", "names", names, "file", m.CertPath())
	return 0, true // re-check at once: computes the next renewal time
}

// dueAt is when the certificate on disk must be replaced, and why.
func (m *Manager) dueAt(names []string) (time.Time, string) {
	leaf, err := readLeaf(m.CertPath())
	if err != nil {
		return time.Time{}, "no certificate yet"
	}
	for _, n := range names {
		if leaf.VerifyHostname(n) != nil {
			return time.Time{}, "name " + n + " is not in the certificate"
		}
	}
	return RenewAt(leaf.NotBefore, leaf.NotAfter), "due for renewal"
}

// RenewAt is when a certificate valid from nb to na is renewed: at two
// thirds of its lifetime (Let's Encrypt's advice: 30 days before the end
// of a 90-day certificate; a 6-day one is renewed after 4 days).
func RenewAt(nb, na time.Time) time.Time {
	return nb.Add(na.Sub(nb) * 2 / 3)
}

// Backoff is the wait after the n-th failure in a row: lo doubled n-1
// times, at most hi, less up to a tenth at random so that many servers
// failing together (a CA outage) do not come back together.
func Backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d - rand.N(d/10+1)
}

// challengeOrder is the challenge types to offer in this attempt: the
// preferred one first, rotating after each failure.
func (m *Manager) challengeOrder() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	cs := slices.Clone(m.opt.Challenges)
	k := m.next % len(cs)
	return append(cs[k:], cs[:k]...)
}

// rotate makes the next attempt lead with the next challenge type.
func (m *Manager) rotate() {
	m.mu.Lock()
	m.next++
	m.mu.Unlock()
}

// readLeaf reads the first certificate of a PEM file.
func readLeaf(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return firstCert(b)
}
