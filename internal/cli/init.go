package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/dkimkeys"
	"github.com/youju/youju/internal/fsutil"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/postgres"
	"github.com/youju/youju/internal/store/sqlite"
	"github.com/youju/youju/internal/tlsconf"
)

const initUsage = "init --data DIR --domain DOMAIN [--hostname HOST] [--listen ADDR] [--port-offset N] [--store postgres://…]"

func runInit(ctx context.Context, e *env, args []string) error {
	fs, data := flags(e, "init", initUsage)
	domain := fs.String("domain", "", "primary mail domain, e.g. example.com (required)")
	hostname := fs.String("hostname", "", "the server's host name (default mail.DOMAIN)")
	listen := fs.String("listen", "", "address every listener binds (default all)")
	offset := fs.Int("port-offset", 0, "add N to every port (10000: 25 -> 10025)")
	dsn := fs.String("store", "", "keep mail in PostgreSQL at this DSN (postgres://user:pass@host/db) instead of SQLite in DIR; the schema is prepared now")
	_, err := parseArgs(fs, args, 0, 0, initUsage)
	if err != nil {
		return err
	}
	if *domain == "" {
		return usagef("init needs --domain (usage: youju %s)", initUsage)
	}
	c := config.Default(strings.ToLower(*domain))
	if *hostname != "" {
		c.Hostname = strings.ToLower(*hostname)
	}
	c.Listen, c.PortOffset = *listen, *offset
	if *dsn != "" {
		c.Store = config.Store{Backend: "postgres", DSN: *dsn}
	}
	if err := initData(ctx, *data, c); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Created %s for %s (server name %s).\n\n", *data, c.Domain, c.Hostname)
	fmt.Fprintf(e.stdout, `Next:
  1. Add an account:   youju user add --data %[1]s you@%[2]s
  2. Run the server:   youju serve --data %[1]s
  3. Publish DNS:      youju dns --data %[1]s   (MX, SPF, DKIM, DMARC, SRV, autoconfig; docs/dns.md)
  4. Certificate: with a public host name and ports 80/443, serve obtains one for %[3]s
     from Let's Encrypt by itself and renews it ([acme] in the config; files in %[1]s/acme/).
     Otherwise put your own in %[1]s/tls/ and send SIGHUP to reload it.
`, *data, c.Domain, c.Hostname)
	return nil
}

// initData creates a data directory: youju.toml, a self-signed certificate
// for the host name, and the store with the primary domain.
func initData(ctx context.Context, dir string, c config.Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	cfgPath := filepath.Join(dir, config.FileName)
	if _, err := os.Stat(cfgPath); err == nil {
		return fmt.Errorf("%s exists already: this directory is initialised", cfgPath)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o700); err != nil {
		return err
	}
	// The web part answers on these names too (autoconfig, autodiscover,
	// MTA-STS), so the self-signed certificate covers them.
	hosts := []string{c.Hostname, c.Domain, "autoconfig." + c.Domain, "autodiscover." + c.Domain, "mta-sts." + c.Domain,
		"localhost", "127.0.0.1", "::1"}
	if err := tlsconf.WriteSelfSigned(config.Path(dir, c.TLS.Cert), config.Path(dir, c.TLS.Key), hosts); err != nil {
		return fmt.Errorf("writing the self-signed certificate: %w", err)
	}
	st, err := openStore(ctx, dir, c)
	if err != nil {
		return err
	}
	defer st.Close()
	// Another node of a PostgreSQL installation may have added it.
	if err := st.AddDomain(ctx, c.Domain); err != nil && !(c.Store.Postgres() && errors.Is(err, store.ErrExists)) {
		return fmt.Errorf("adding domain %s: %w", c.Domain, err)
	}
	if err := dkimkeys.Generate(dir, c.Domain); err != nil {
		return fmt.Errorf("creating DKIM keys for %s: %w", c.Domain, err)
	}
	// The config is written last: its presence means "initialised".
	return fsutil.WriteFileAtomic(cfgPath, config.Marshal(c), 0o600)
}

// storeDir is where the store lives inside the data directory.
func storeDir(dataDir string) string { return filepath.Join(dataDir, "mail") }

// backend is what serve needs of a store beyond store.Store; both
// backends have it.
type backend interface {
	store.Store
	store.KnownAddresses
	SetSCRAM(ctx context.Context, acct store.AccountID, appID int64, hash, scram string) error
	SCRAMReady(ctx context.Context) (bool, error)
}

func openStore(ctx context.Context, dataDir string, c config.Config) (backend, error) {
	if c.Store.Postgres() {
		blobs, err := openBlobs(ctx, dataDir, c)
		if err != nil {
			return nil, err
		}
		st, err := postgres.Open(ctx, c.Store.DSN, postgres.Options{MaxMessageSize: c.Limits.MaxMessageBytes, Blobs: blobs})
		if err != nil {
			return nil, fmt.Errorf("opening the PostgreSQL store: %w", err)
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, storeDir(dataDir), sqlite.Options{MaxMessageSize: c.Limits.MaxMessageBytes, Observer: storeObserver()})
	if err != nil {
		return nil, fmt.Errorf("opening the store in %s: %w", storeDir(dataDir), err)
	}
	return st, nil
}

// loadConfig reads the config of a data directory with a helpful error.
func loadConfig(dataDir string) (config.Config, error) {
	c, err := config.Load(dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return c, fmt.Errorf("no %s in %s: run 'youju init --data %s --domain YOUR.DOMAIN' first (or 'youju serve --dev')",
			config.FileName, dataDir, dataDir)
	}
	return c, err
}
