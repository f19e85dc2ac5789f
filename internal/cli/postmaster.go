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
	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/dkimkeys"
	"github.com/youju/youju/internal/fsutil"
	"github.com/youju/youju/internal/mailauth"
	"github.com/youju/youju/internal/srs"
	"github.com/youju/youju/internal/store"
)

// postmasterFile names the account that gets postmaster@ and abuse@ of
// every domain (RFC 5321 §4.5.1, RFC 2142) that has no account or alias
// of that name. The first account created sets it; 'youju postmaster'
// changes it. A file rather than a config key, so that the CLI can change
// it while the server runs (read at each use).
const postmasterFile = "postmaster"

// srsKeyFile holds the SRS secrets (created at first use, 0600).
const srsKeyFile = "srs.key"

// readPostmaster returns the administrator's address, "" if none is set.
func readPostmaster(dataDir string) string {
	b, err := os.ReadFile(filepath.Join(dataDir, postmasterFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func writePostmaster(dataDir, addr string) error {
	return fsutil.WriteFileAtomic(filepath.Join(dataDir, postmasterFile), []byte(addr+"\n"), 0o644)
}

// setFirstPostmaster makes addr the postmaster if there is none yet.
func setFirstPostmaster(dataDir, addr string) (bool, error) {
	if _, err := os.Stat(filepath.Join(dataDir, postmasterFile)); !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, writePostmaster(dataDir, addr)
}

const postmasterUsage = "postmaster [--data DIR] [ADDRESS]"

// runPostmaster shows or sets who receives postmaster@ and abuse@.
func runPostmaster(ctx context.Context, e *env, args []string) error {
	fs, data := flags(e, "postmaster", postmasterUsage)
	rest, err := parseArgs(fs, args, 0, 1, postmasterUsage)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		if _, err := loadConfig(*data); err != nil {
			return err
		}
		cur := readPostmaster(*data)
		if cur == "" {
			cur = "(none: postmaster@ and abuse@ are refused unless an account or alias has that name; set one with 'youju postmaster ADDRESS')"
		}
		fmt.Fprintf(e.stdout, "postmaster@ and abuse@ of every domain go to: %s\n", cur)
		return nil
	}
	addr, err := normAddress(rest[0])
	if err != nil {
		return err
	}
	err = withStore(ctx, *data, func(c config.Config, st store.Accounts) error {
		if _, err := st.Account(ctx, addr); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no account %s: the postmaster must be a local account", addr)
			}
			return err
		}
		return writePostmaster(*data, addr)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "postmaster@ and abuse@ of every domain now go to %s (takes effect at once).\n", addr)
	return nil
}

// wireRoles gives the resolver the postmaster and, if on, SRS.
func wireRoles(dataDir string, c config.Config, r *delivery.Resolver) error {
	r.Postmaster = func(context.Context) string { return readPostmaster(dataDir) }
	if !c.SRS.Enabled {
		return nil
	}
	keys, err := srs.LoadKeyFile(filepath.Join(dataDir, srsKeyFile))
	if err != nil {
		return err
	}
	rw, err := srs.New(forwardDomain(c), keys...)
	if err != nil {
		return err
	}
	rw.MaxAge = c.SRS.MaxAgeDays
	r.SRS = rw
	return nil
}

// forwardDomain is the domain our forwarded mail goes out as: of its SRS
// sender and of its ARC seal.
func forwardDomain(c config.Config) string {
	if c.SRS.Domain != "" {
		return c.SRS.Domain
	}
	return c.Domain
}

// arcSealer seals the mail aliases and Sieve redirects forward (RFC
// 8617) with the DKIM key of forwardDomain, vouching for the verdicts
// of our Authentication-Results (authserv-id: the host name). It is nil
// (a nil interface, which delivery tests for) when [outbound] arc_seal
// is off.
func arcSealer(dataDir string, c config.Config) delivery.ARCSealer {
	if !c.Outbound.ARCSeal {
		return nil
	}
	return &mailauth.Sealer{DataDir: dataDir, Hostname: c.Hostname, Domain: forwardDomain(c)}
}

// arcSealStatus is config check's line on ARC sealing: off, on with the
// key it signs with, or on without a key (forwarded mail then goes on
// unsealed, which is worth a warning).
func arcSealStatus(dataDir string, c config.Config) string {
	if !c.Outbound.ARCSeal {
		return "ARC: off (outbound.arc_seal = false): forwarded mail is not sealed."
	}
	d := forwardDomain(c)
	keys, err := dkimkeys.Load(dataDir, d)
	k, ok := mailauth.SealKey(keys)
	if err != nil || !ok {
		return fmt.Sprintf("warning: outbound.arc_seal is on but %s has no DKIM key (%v): forwarded mail goes unsealed; 'youju dns %s' creates the keys.", d, err, d)
	}
	return fmt.Sprintf("ARC: forwarded mail is sealed as %s with DKIM key %s (%s).", d, k.Selector, k.Algorithm)
}
