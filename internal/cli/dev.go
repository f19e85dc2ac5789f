package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/clientconf"
	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/fsutil"
	"github.com/youju/youju/internal/store"
)

// The --dev defaults: a first try on a laptop, nothing to configure.
const (
	devDomain     = "example.test"
	devUser       = "demo@" + devDomain
	devPortOffset = 10000
	// devAccountFile keeps the demo password so that a second start can
	// show it again. Only --dev writes it; a real installation never
	// stores a password in clear.
	devAccountFile = "dev-account.txt"
)

// devAccount is the demo account of --dev.
type devAccount struct{ address, password string }

// ensureDev creates the --dev data directory if it does not exist and
// returns the demo account.
func ensureDev(ctx context.Context, e *env, dataDir string) (*devAccount, error) {
	pwFile := filepath.Join(dataDir, devAccountFile)
	if _, err := os.Stat(filepath.Join(dataDir, config.FileName)); err == nil {
		b, err := os.ReadFile(pwFile)
		if err != nil {
			return &devAccount{address: devUser, password: "(not stored: reset it with 'youju user passwd " + devUser + "')"}, nil
		}
		return &devAccount{address: devUser, password: strings.TrimSpace(string(b))}, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	c := config.Default(devDomain)
	c.Listen = "127.0.0.1"
	c.PortOffset = devPortOffset
	// Loopback only, so a plaintext login cannot leave the machine; lets
	// people try with telnet or nc.
	c.Auth.AllowPlaintextLoopback = true
	if err := initData(ctx, dataDir, c); err != nil {
		return nil, err
	}
	pw := auth.GeneratePassword(12)
	acct := store.Account{Address: devUser, AllowIMAP: true, AllowPOP3: true, AllowSMTP: true,
		POP3: store.POP3Options{Scope: store.POP3ScopeInbox, Delete: store.POP3DeleteExpunge}, Created: time.Now(),
		Admin: true} // the first account runs the admin console
	if err := auth.SetPassword(&acct, nil, pw); err != nil {
		return nil, err
	}
	st, err := openStore(ctx, dataDir, c)
	if err != nil {
		return nil, err
	}
	_, err = st.CreateAccount(ctx, acct)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("creating the demo account: %w", err)
	}
	if _, err := setFirstPostmaster(dataDir, devUser); err != nil {
		return nil, err
	}
	if err := fsutil.WriteFileAtomic(pwFile, []byte(pw+"\n"), 0o600); err != nil {
		return nil, err
	}
	fmt.Fprintf(e.stdout, "Created %s (domain %s) for a first try.\n", dataDir, devDomain)
	return &devAccount{address: devUser, password: pw}, nil
}

// listenerTable lists every listener of c with its bind address ("" = off).
func listenerTable(c config.Config) []struct{ name, addr string } {
	var out []struct{ name, addr string }
	for _, l := range c.Listeners.NamedAll() {
		addr, _ := c.Address(l.Setting)
		out = append(out, struct{ name, addr string }{l.Name, addr})
	}
	return out
}

// printStartup tells people what they need: where each service listens
// and, above all, what to type into a mail client.
func printStartup(w io.Writer, c config.Config, host string, rs []running, demo *devAccount) {
	fmt.Fprintf(w, "youju is running for %s (server name %s).\n\n", c.Domain, c.Hostname)
	if demo != nil {
		fmt.Fprintf(w, "Demo account:  %s\nPassword:      %s\n\n", demo.address, demo.password)
	}
	fmt.Fprintln(w, "Mail client settings (user name: the full e-mail address):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  PROTOCOL\tSERVER\tPORT\tSECURITY")
	for _, s := range clientconf.Settings(c, host) {
		fmt.Fprintf(tw, "  %s (%s)\t%s\t%d\t%s\n", s.Protocol, s.Role, s.Host, s.Port, s.Security)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nListening:")
	for _, r := range rs {
		fmt.Fprintf(w, "  %-12s %s\n", r.name, r.addr)
	}
	if demo != nil {
		fmt.Fprintln(w, "\nThe certificate is self-signed: accept it in the client for this try.")
	}
	fmt.Fprintln(w, "Stop with Ctrl-C.")
}
