package cli

import (
	"context"
	"fmt"

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
	for _, l := range listenerTable(c) {
		addr := l.addr
		if addr == "" {
			addr = "off"
		}
		fmt.Fprintf(e.stdout, "  %-12s %s\n", l.name, addr)
	}
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
