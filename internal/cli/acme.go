package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/youju/youju/internal/acme"
	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/dnsrec"
	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/tlsconf"
)

// acmeDir is where the ACME account key and certificate live.
func acmeDir(dataDir string) string { return filepath.Join(dataDir, "acme") }

// acmeWanted says whether ACME runs for c, and if not, why. "auto" turns
// it on when a CA could validate us: a public host name, and the web
// listeners on the standard ports (HTTP-01 is checked on 80, TLS-ALPN-01
// on 443, RFC 8555 §8.3, RFC 8737 §3) on an address that is not loopback,
// and the certificate files left at the self-signed default (an
// administrator who put their own certificate there keeps it).
func acmeWanted(c config.Config, dev bool) (bool, string) {
	switch {
	case dev:
		return false, "--dev"
	case c.ACME.Mode == config.ACMEOff:
		return false, "acme.mode is off"
	case c.ACME.Mode == config.ACMEOn:
		return true, ""
	}
	if ok, why := acme.PublicName(c.Hostname); !ok {
		return false, "host name " + c.Hostname + ": " + why
	}
	if len(acmeChallenges(c)) == 0 {
		return false, "neither http on port 80 nor https on port 443 listens on a public address"
	}
	def := config.Default(c.Domain)
	if c.TLS.Cert != def.TLS.Cert || c.TLS.Key != def.TLS.Key {
		return false, "tls.cert/tls.key name your own certificate"
	}
	return true, ""
}

// acmeChallenges are the challenge types our listeners can answer:
// http-01 when http is on port 80, tls-alpn-01 when https is on 443.
func acmeChallenges(c config.Config) []string {
	var out []string
	for _, x := range []struct{ setting, port, typ string }{
		{c.Listeners.HTTP, "80", acme.HTTP01}, {c.Listeners.HTTPS, "443", acme.TLSALPN01},
	} {
		addr, err := c.Address(x.setting)
		if err != nil || addr == "" {
			continue
		}
		host, port, _ := net.SplitHostPort(addr)
		if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() || host == "localhost" {
			continue
		}
		if port == x.port {
			out = append(out, x.typ)
		}
	}
	if len(c.ACME.Challenges) > 0 {
		var keep []string
		for _, want := range c.ACME.Challenges {
			for _, have := range out {
				if want == have {
					keep = append(keep, want)
				}
			}
		}
		return keep
	}
	return out
}

// setupACME makes the ACME manager when ACME is wanted (nil otherwise),
// and serves the certificate it obtained earlier if there is one. The
// listeners keep the self-signed certificate until the first issuance.
func setupACME(c config.Config, dataDir string, tlsm *tlsconf.Manager, st store.Accounts, log *slog.Logger, dev bool) (*acme.Manager, error) {
	on, why := acmeWanted(c, dev)
	if !on {
		log.Info("ACME off: the configured certificate is served", "why", why, "cert", config.Path(dataDir, c.TLS.Cert))
		return nil, nil
	}
	hc := http.DefaultClient
	if c.ACME.CAFile != "" {
		pem, err := os.ReadFile(config.Path(dataDir, c.ACME.CAFile))
		if err != nil {
			return nil, fmt.Errorf("acme.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("acme.ca_file %s: no PEM certificate", c.ACME.CAFile)
		}
		hc = &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	challenges := acmeChallenges(c)
	if c.ACME.Mode == config.ACMEOn && len(challenges) == 0 {
		// Behind a port forward (443 -> 8443) our ports differ from
		// what the CA dials; the administrator said it works.
		challenges = c.ACME.Challenges
	}
	m, err := acme.New(acme.Options{
		Directory: c.ACME.Directory, Dir: acmeDir(dataDir), Email: c.ACME.Email, Profile: c.ACME.Profile,
		Challenges: challenges, HTTPClient: hc, Logger: log,
		Names: func(ctx context.Context) ([]string, error) {
			ds, err := st.Domains(ctx)
			if err != nil {
				return nil, err
			}
			names := make([]string, len(ds))
			for i, d := range ds {
				names[i] = d.Name
			}
			return acme.Names(c.Hostname, names), nil
		},
		Installed: func(path string) error { return tlsm.SetFiles(path, path) },
	})
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(m.CertPath()); err == nil {
		if err := tlsm.SetFiles(m.CertPath(), m.CertPath()); err != nil {
			log.Warn("ACME: the stored certificate does not load; serving the self-signed one until a new one is obtained", "err", err)
		}
	}
	tlsm.SetALPNChallenge(m.ALPNCert)
	return m, nil
}

// acmeHTTP is the HTTP-01 handler for the web listener, nil without ACME.
func (d *deps) acmeHTTP() http.Handler {
	if d.acme == nil {
		return nil
	}
	return d.acme.HTTPHandler()
}

// reportACME tells, after 'youju dns check', whether ACME can work for
// the checked domain's names. Warnings only: a server with its own
// certificate does not need it.
func reportACME(ctx context.Context, e *env, dataDir string, r dnsresolver.Resolver, p dnsrec.Params, ips []netip.Addr) {
	c, err := loadConfig(dataDir)
	if err != nil {
		return
	}
	fmt.Fprintln(e.stdout, "\nACME certificates (Let's Encrypt):")
	if on, why := acmeWanted(c, false); !on {
		fmt.Fprintf(e.stdout, "  off: %s. Provide a certificate in %s and send SIGHUP after each renewal.\n", why, config.Path(dataDir, c.TLS.Cert))
		return
	}
	names := acme.Names(c.Hostname, []string{p.Domain})
	probs := dnsrec.ACMEProblems(ctx, r, names, ips)
	for _, pr := range probs {
		fmt.Fprintf(e.stdout, "  WARN   %s\n", pr)
	}
	if len(probs) == 0 {
		fmt.Fprintf(e.stdout, "  OK     %s resolve", strings.Join(names, ", "))
		if len(ips) == 0 {
			fmt.Fprint(e.stdout, " (give --ip to check they point at this server)")
		}
		fmt.Fprintln(e.stdout)
	}
	fmt.Fprintf(e.stdout, "  NOTE   challenges used: %s. Whether ports 80/443 are reachable from the internet cannot be checked from here;\n"+
		"         from another network: curl -i http://%s/.well-known/acme-challenge/test (youju answers 404).\n",
		strings.Join(acmeChallenges(c), ", "), c.Hostname)
}
