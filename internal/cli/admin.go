package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/dnsrec"
	"github.com/youju/youju/internal/reports"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/web"
)

// runAdmin is "youju admin token create|list|revoke": the bearer tokens
// of the admin JSON API (docs/api.md), per admin account.
func runAdmin(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "admin", args, map[string]func(context.Context, *env, []string) error{
		"token": func(ctx context.Context, e *env, args []string) error {
			return subcommand(ctx, e, "admin token", args, map[string]func(context.Context, *env, []string) error{
				"create": adminTokenCreate,
				"list":   adminTokenList,
				"revoke": adminTokenRevoke,
			})
		},
	})
}

// withAdminTokens runs fn with the store's tokens and the admin account
// addr (an error if it is not an admin: a token of another account would
// be refused by the API anyway).
func withAdminTokens(ctx context.Context, dataDir, addr string, fn func(store.APITokens, store.Account) error) error {
	return withStore(ctx, dataDir, func(_ config.Config, st store.Accounts) error {
		a, err := lookupAccount(ctx, st, addr)
		if err != nil {
			return err
		}
		if !a.Admin {
			return fmt.Errorf("%s is not an admin (youju user set --admin %s)", a.Address, a.Address)
		}
		ts, ok := any(st).(store.APITokens)
		if !ok {
			return errors.New("this store keeps no API tokens")
		}
		return fn(ts, a)
	})
}

func adminTokenCreate(ctx context.Context, e *env, args []string) error {
	const usage = "admin token create [--data DIR] [--name NAME] ADDRESS"
	fs, data := flags(e, "admin token create", usage)
	name := fs.String("name", "", "what the token is for (default: cli-DATE)")
	rest, err := parseArgs(fs, args, 1, 1, usage)
	if err != nil {
		return err
	}
	if *name == "" {
		*name = "cli-" + time.Now().UTC().Format("20060102-150405")
	}
	return withAdminTokens(ctx, *data, rest[0], func(ts store.APITokens, a store.Account) error {
		secret, hash := web.NewAPIToken()
		t, err := ts.CreateAPIToken(ctx, store.APIToken{Account: a.ID, Name: *name, Hash: hash})
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("%s has a token named %q already", a.Address, *name)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Token %d %q of %s: %s\n(shown only now; use it as 'Authorization: Bearer TOKEN', see docs/api.md)\n", t.ID, t.Name, a.Address, secret)
		return nil
	})
}

func adminTokenList(ctx context.Context, e *env, args []string) error {
	const usage = "admin token list [--data DIR] ADDRESS"
	fs, data := flags(e, "admin token list", usage)
	rest, err := parseArgs(fs, args, 1, 1, usage)
	if err != nil {
		return err
	}
	return withAdminTokens(ctx, *data, rest[0], func(ts store.APITokens, a store.Account) error {
		list, err := ts.APITokens(ctx, a.ID)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			fmt.Fprintf(e.stdout, "%s has no API tokens.\n", a.Address)
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tCREATED\tLAST USED")
		for _, t := range list {
			last := "never"
			if !t.LastUsed.IsZero() {
				last = t.LastUsed.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", t.ID, t.Name, t.Created.Format(time.RFC3339), last)
		}
		return tw.Flush()
	})
}

func adminTokenRevoke(ctx context.Context, e *env, args []string) error {
	const usage = "admin token revoke [--data DIR] ADDRESS ID"
	fs, data := flags(e, "admin token revoke", usage)
	rest, err := parseArgs(fs, args, 2, 2, usage)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(rest[1], 10, 64)
	if err != nil {
		return usagef("token ID %q: want the number 'admin token list' shows", rest[1])
	}
	return withAdminTokens(ctx, *data, rest[0], func(ts store.APITokens, a store.Account) error {
		if err := ts.DeleteAPIToken(ctx, a.ID, id); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s has no token %d", a.Address, id)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Revoked token %d of %s.\n", id, a.Address)
		return nil
	})
}

// noPostmasterYet reports whether no account has been made postmaster:
// the account being created is the first, and becomes an admin.
func noPostmasterYet(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, postmasterFile))
	return errors.Is(err, fs.ErrNotExist)
}

// boolFlag is a flag given as --name or --name=false that remembers
// whether it was given (onOffFlag's value, with bool syntax).
type boolFlag onOffFlag

func (f *boolFlag) String() string   { return "" }
func (f *boolFlag) IsBoolFlag() bool { return true }
func (f *boolFlag) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false, not %q", s)
	}
	f.set, f.val = true, v
	return nil
}

// adminOptions gives the admin console and API (internal/web) the same
// operations as the commands: the queue storage "youju queue" uses, the
// records of "youju dns" checked through the server's resolver, the
// reports of "youju report list" and the recent mail log events.
func (d *deps) adminOptions() *web.AdminOptions {
	c := d.cfg
	o := &web.AdminOptions{
		Events:            d.events,
		DataDir:           d.dataDir,
		DefaultQuotaBytes: c.Limits.DefaultQuotaBytes,
		Reports:           reports.Store{Dir: reportsDir(d.dataDir)}.List,
		DNSRecords: func(_ context.Context, domain string) ([]dnsrec.Record, error) {
			p := dnsParams(c, domain, nil, nil, c.Outbound.MTASTS)
			keys, err := dkimRecords(&env{stdout: io.Discard, stderr: io.Discard}, d.dataDir, domain, false)
			if err != nil {
				return nil, err
			}
			p.DKIM = keys
			return dnsrec.Records(p), nil
		},
	}
	if d.dns != nil {
		o.DNSCheck = func(ctx context.Context, recs []dnsrec.Record) []dnsrec.Result { return dnsrec.Check(ctx, d.dns, recs) }
	}
	if d.outq != nil {
		o.Queue = d.outq.Storage()
	}
	for _, l := range listenerTable(c) {
		if l.addr != "" {
			o.Listeners = append(o.Listeners, web.Listener{Name: l.name, Addr: l.addr})
		}
	}
	return o
}
