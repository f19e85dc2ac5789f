package cli

import (
	"context"
	"fmt"
	"net"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/tlsconf"
)

func runConfig(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "config", args, map[string]func(context.Context, *env, []string) error{
		"check": configCheck,
	})
}

// configCheck loads the config strictly and the certificate, and prints
// where each listener will bind.
func configCheck(ctx context.Context, e *env, args []string) error {
	fs, data := flags(e, "config check", "config check [--data DIR]")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	c, err := loadConfig(*data)
	if err != nil {
		return err
	}
	if _, err := tlsconf.NewManager(config.Path(*data, c.TLS.Cert), config.Path(*data, c.TLS.Key)); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	fmt.Fprintf(e.stdout, "%s/%s is valid: domain %s, hostname %s.\n", *data, config.FileName, c.Domain, c.Hostname)
	for _, check := range configChecks {
		line, err := check(ctx, c)
		if err != nil {
			return err
		}
		if line != "" {
			fmt.Fprintln(e.stdout, line)
		}
	}
	for _, l := range listenerTable(c) {
		addr := l.addr
		if addr == "" {
			addr = "off"
		}
		fmt.Fprintf(e.stdout, "  %-12s %s\n", l.name, addr)
	}
	for _, w := range webPortWarnings(c) {
		fmt.Fprintf(e.stdout, "warning: %s\n", w)
	}
	fmt.Fprintln(e.stdout, arcSealStatus(*data, c))
	if err := checkBlobs(ctx, e, *data, c); err != nil {
		return err
	}
	if on, why := acmeWanted(c, false); on {
		fmt.Fprintf(e.stdout, "ACME: on (challenges %v); certificate in %s once obtained.\n", acmeChallenges(c), acmeDir(*data))
	} else {
		fmt.Fprintf(e.stdout, "ACME: off (%s): the certificate in %s is served.\n", why, config.Path(*data, c.TLS.Cert))
	}
	return nil
}

// webPortWarnings says what breaks when the web listeners are not on the
// standard ports: clients and other servers look only there.
func webPortWarnings(c config.Config) []string {
	port := func(setting string) string {
		addr, err := c.Address(setting)
		if err != nil || addr == "" {
			return "off"
		}
		_, p, _ := net.SplitHostPort(addr)
		return p
	}
	var out []string
	if p := port(c.Listeners.HTTP); p != "80" {
		out = append(out, fmt.Sprintf("http is on %s, not port 80: Thunderbird's autoconfig (http://autoconfig.DOMAIN/), "+
			"Outlook's autodiscover redirect and ACME's HTTP-01 challenge look only on port 80, so they will fail unless a proxy forwards port 80", p))
	}
	if p := port(c.Listeners.HTTPS); p != "443" {
		out = append(out, fmt.Sprintf("https is on %s, not port 443: senders fetch the MTA-STS policy from port 443 only (RFC 8461 §3.3) "+
			"and clients look for autoconfig/autodiscover there, so they will fail unless a proxy forwards port 443", p))
	}
	return out
}
