package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/control"
	"github.com/youju/youju/internal/dkimkeys"
	"github.com/youju/youju/internal/store"
)

// withStore loads the config of the data directory and runs fn with its
// accounts: through the running server's control socket if `serve` runs
// (the server owns the store), else on the store opened here. The server
// reads accounts on each login, so changes take effect at once.
func withStore(ctx context.Context, dataDir string, fn func(config.Config, store.Accounts) error) error {
	c, err := loadConfig(dataDir)
	if err != nil {
		return err
	}
	if cl, err := control.Dial(controlSocket(dataDir)); err == nil {
		return fn(c, cl)
	}
	st, err := openStore(ctx, dataDir, c)
	if err != nil {
		return err
	}
	ferr := fn(c, st)
	if cerr := st.Close(); ferr == nil && cerr != nil {
		ferr = fmt.Errorf("closing the store: %w", cerr)
	}
	return ferr
}

// controlSocket is where a running server listens for the CLI.
func controlSocket(dataDir string) string { return filepath.Join(dataDir, control.SocketName) }

// subcommand dispatches "youju GROUP VERB ...".
func subcommand(ctx context.Context, e *env, group string, args []string, verbs map[string]func(context.Context, *env, []string) error) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(e.stdout, "Usage: youju %s %s [flags] [arguments]   (each takes --help)\n", group, strings.Join(sortedKeys(verbs), "|"))
		if len(args) == 0 {
			return usagef("%s needs one of: %s", group, strings.Join(sortedKeys(verbs), ", "))
		}
		return nil
	}
	run, ok := verbs[args[0]]
	if !ok {
		return usagef("unknown command %q %q (one of: %s)", group, args[0], strings.Join(sortedKeys(verbs), ", "))
	}
	return run(ctx, e, args[1:])
}

// normAddress checks and lower-cases an address "local@domain".
func normAddress(a string) (string, error) {
	a = strings.ToLower(strings.TrimSpace(a))
	local, domain, ok := strings.Cut(a, "@")
	if !ok || local == "" || !validDomain(domain) || strings.ContainsAny(local, " \t<>()[],;:\\\"@") || strings.Contains(local, "+") {
		return "", fmt.Errorf("%q is not a valid address (want name@domain; '+' is kept for plus-addressing)", a)
	}
	return a, nil
}

// validDomain accepts ASCII host names (international names go in their
// A-label form, xn--...).
func validDomain(d string) bool {
	if d == "" || len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// readPassword reads one line from standard input.
func readPassword(e *env) (string, error) {
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("--password-stdin: nothing on standard input")
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("--password-stdin: the password is empty")
	}
	return pw, nil
}

// passwordFromFlags returns the password from standard input, or a new one
// (and true) that the caller prints once.
func passwordFromFlags(e *env, fromStdin bool) (pw string, generated bool, err error) {
	if fromStdin {
		pw, err = readPassword(e)
		return pw, false, err
	}
	return auth.GeneratePassword(16), true, nil
}

// ---- domain ----

func runDomain(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "domain", args, map[string]func(context.Context, *env, []string) error{
		"add":  domainAdd,
		"list": domainList,
		"del":  domainDel,
	})
}

func domainAdd(ctx context.Context, e *env, args []string) error {
	const usage = "domain add [--data DIR] DOMAIN"
	fs, data := flags(e, "domain add", usage)
	rest, err := parseArgs(fs, args, 1, 1, usage)
	if err != nil {
		return err
	}
	name := strings.ToLower(rest[0])
	if !validDomain(name) {
		return fmt.Errorf("%q is not a valid domain name", name)
	}
	return withStore(ctx, *data, func(c config.Config, st store.Accounts) error {
		if err := st.AddDomain(ctx, name); err != nil {
			if errors.Is(err, store.ErrExists) {
				return fmt.Errorf("domain %s exists already", name)
			}
			return err
		}
		if err := dkimkeys.Generate(*data, name); err != nil {
			return fmt.Errorf("creating DKIM keys for %s: %w", name, err)
		}
		fmt.Fprintf(e.stdout, "Added domain %s. Publish its DNS records: youju dns %s\n", name, name)
		return nil
	})
}

func domainDel(ctx context.Context, e *env, args []string) error {
	const usage = "domain del [--data DIR] DOMAIN"
	return oneNameCmd(ctx, e, "domain del", usage, args, func(c config.Config, st store.Accounts, name string) error {
		if err := st.DeleteDomain(ctx, strings.ToLower(name)); err != nil {
			switch {
			case errors.Is(err, store.ErrNotFound):
				return fmt.Errorf("no domain %s", name)
			case errors.Is(err, store.ErrExists):
				return fmt.Errorf("domain %s still has accounts or aliases: delete them first", name)
			}
			return err
		}
		fmt.Fprintf(e.stdout, "Deleted domain %s.\n", name)
		return nil
	})
}

func domainList(ctx context.Context, e *env, args []string) error {
	fs, data := flags(e, "domain list", "domain list [--data DIR]")
	_, err := parseArgs(fs, args, 0, 0, "domain list [--data DIR]")
	if err != nil {
		return err
	}
	return withStore(ctx, *data, func(_ config.Config, st store.Accounts) error {
		ds, err := st.Domains(ctx)
		if err != nil {
			return err
		}
		for _, d := range ds {
			fmt.Fprintln(e.stdout, d.Name)
		}
		return nil
	})
}

// oneNameCmd runs a command that takes exactly one argument.
func oneNameCmd(ctx context.Context, e *env, name, usage string, args []string, fn func(config.Config, store.Accounts, string) error) error {
	fs, data := flags(e, name, usage)
	rest, err := parseArgs(fs, args, 1, 1, usage)
	if err != nil {
		return err
	}
	return withStore(ctx, *data, func(c config.Config, st store.Accounts) error { return fn(c, st, rest[0]) })
}

// ---- alias ----

func runAlias(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "alias", args, map[string]func(context.Context, *env, []string) error{
		"add":  aliasAdd,
		"list": aliasList,
		"del":  aliasDel,
	})
}

func aliasAdd(ctx context.Context, e *env, args []string) error {
	const usage = "alias add [--data DIR] ADDRESS|@DOMAIN TARGET [TARGET...]"
	fs, data := flags(e, "alias add", usage)
	rest, err := parseArgs(fs, args, 2, -1, usage)
	if err != nil {
		return err
	}
	addr := strings.ToLower(rest[0])
	domain := strings.TrimPrefix(addr, "@")
	if !strings.HasPrefix(addr, "@") {
		if addr, err = normAddress(addr); err != nil {
			return err
		}
		_, domain, _ = strings.Cut(addr, "@")
	}
	var targets []string
	for _, t := range rest[1:] {
		n, err := normAddress(t)
		if err != nil {
			return fmt.Errorf("target: %w", err)
		}
		targets = append(targets, n)
	}
	return withStore(ctx, *data, func(_ config.Config, st store.Accounts) error {
		if ok, err := st.IsLocalDomain(ctx, domain); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("%s is not a local domain: add it with 'youju domain add %s'", domain, domain)
		}
		if err := st.SetAlias(ctx, store.Alias{Address: addr, Targets: targets}); err != nil {
			return err
		}
		what := "Alias"
		if strings.HasPrefix(addr, "@") {
			what = "Catch-all"
		}
		fmt.Fprintf(e.stdout, "%s %s -> %s\n", what, addr, strings.Join(targets, ", "))
		return nil
	})
}

func aliasList(ctx context.Context, e *env, args []string) error {
	fs, data := flags(e, "alias list", "alias list [--data DIR]")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	return withStore(ctx, *data, func(_ config.Config, st store.Accounts) error {
		as, err := st.ListAliases(ctx)
		if err != nil {
			return err
		}
		for _, a := range as {
			fmt.Fprintf(e.stdout, "%s -> %s\n", a.Address, strings.Join(a.Targets, ", "))
		}
		return nil
	})
}

func aliasDel(ctx context.Context, e *env, args []string) error {
	return oneNameCmd(ctx, e, "alias del", "alias del [--data DIR] ADDRESS|@DOMAIN", args, func(_ config.Config, st store.Accounts, a string) error {
		if err := st.DeleteAlias(ctx, strings.ToLower(a)); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no alias %s", a)
			}
			return err
		}
		fmt.Fprintf(e.stdout, "Deleted alias %s.\n", a)
		return nil
	})
}

// ---- app passwords ----

func runAppPass(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "apppass", args, map[string]func(context.Context, *env, []string) error{
		"add":  appPassAdd,
		"list": appPassList,
		"del":  appPassDel,
	})
}

func appPassAdd(ctx context.Context, e *env, args []string) error {
	const usage = "apppass add [--data DIR] ADDRESS NAME   (NAME: e.g. \"iPhone\"; the password is printed once)"
	fs, data := flags(e, "apppass add", usage)
	rest, err := parseArgs(fs, args, 2, 2, usage)
	if err != nil {
		return err
	}
	return withAccount(ctx, *data, rest[0], func(st store.Accounts, a store.Account) error {
		pw := auth.GeneratePassword(16)
		apps, err := st.AppPasswords(ctx, a.ID)
		if err != nil {
			return err
		}
		p, err := auth.NewAppPassword(a, apps, rest[1], pw)
		if err != nil {
			return err
		}
		p.Created = time.Now()
		if _, err := st.AddAppPassword(ctx, p); err != nil {
			if errors.Is(err, store.ErrExists) {
				return fmt.Errorf("%s already has an app password named %q", a.Address, rest[1])
			}
			return err
		}
		fmt.Fprintf(e.stdout, "App password %q for %s: %s\nUse it instead of the account password in that mail client. It is shown only now.\n", rest[1], a.Address, pw)
		return nil
	})
}

func appPassList(ctx context.Context, e *env, args []string) error {
	const usage = "apppass list [--data DIR] ADDRESS"
	return oneNameCmd(ctx, e, "apppass list", usage, args, func(_ config.Config, st store.Accounts, addr string) error {
		a, err := lookupAccount(ctx, st, addr)
		if err != nil {
			return err
		}
		ps, err := st.AppPasswords(ctx, a.ID)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tCREATED\tLAST USED")
		for _, p := range ps {
			last := "never"
			if !p.LastUsed.IsZero() {
				last = p.LastUsed.Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.Created.Format(time.DateTime), last)
		}
		return tw.Flush()
	})
}

func appPassDel(ctx context.Context, e *env, args []string) error {
	const usage = "apppass del [--data DIR] ADDRESS NAME"
	fs, data := flags(e, "apppass del", usage)
	rest, err := parseArgs(fs, args, 2, 2, usage)
	if err != nil {
		return err
	}
	return withAccount(ctx, *data, rest[0], func(st store.Accounts, a store.Account) error {
		if err := st.DeleteAppPassword(ctx, a.ID, rest[1]); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("%s has no app password named %q", a.Address, rest[1])
			}
			return err
		}
		fmt.Fprintf(e.stdout, "Revoked app password %q of %s.\n", rest[1], a.Address)
		return nil
	})
}

func lookupAccount(ctx context.Context, st store.Accounts, addr string) (store.Account, error) {
	a, err := st.Account(ctx, strings.ToLower(strings.TrimSpace(addr)))
	if errors.Is(err, store.ErrNotFound) {
		return a, fmt.Errorf("no account %s", addr)
	}
	return a, err
}

func withAccount(ctx context.Context, dataDir, addr string, fn func(store.Accounts, store.Account) error) error {
	return withStore(ctx, dataDir, func(_ config.Config, st store.Accounts) error {
		a, err := lookupAccount(ctx, st, addr)
		if err != nil {
			return err
		}
		return fn(st, a)
	})
}
