package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/store"
)

func runUser(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "user", args, map[string]func(context.Context, *env, []string) error{
		"add":     userAdd,
		"list":    userList,
		"passwd":  userPasswd,
		"del":     userDel,
		"disable": func(ctx context.Context, e *env, a []string) error { return userSetDisabled(ctx, e, a, true) },
		"enable":  func(ctx context.Context, e *env, a []string) error { return userSetDisabled(ctx, e, a, false) },
		"set":     userSet,
		"sieve":   userSieve,
	})
}

func userAdd(ctx context.Context, e *env, args []string) error {
	const usage = "user add [--data DIR] [--password-stdin] [--allow-weak] [--quota BYTES] ADDRESS"
	fs, data := flags(e, "user add", usage)
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input (else one is generated and printed once)")
	allowWeak := fs.Bool("allow-weak", false, "accept a password that fails the strength rule (under 10 characters or a common password)")
	quota := fs.Int64("quota", -1, "quota in bytes (0 = unlimited; default from limits.default_quota_bytes)")
	rest, err := parseArgs(fs, args, 1, 1, usage)
	if err != nil {
		return err
	}
	addr, err := normAddress(rest[0])
	if err != nil {
		return err
	}
	pw, generated, err := passwordFromFlags(e, *fromStdin)
	if err != nil {
		return err
	}
	if err := checkStrength(pw, addr, generated, *allowWeak); err != nil {
		return err
	}
	return withStore(ctx, *data, func(c config.Config, st store.Accounts) error {
		_, domain, _ := strings.Cut(addr, "@")
		if ok, err := st.IsLocalDomain(ctx, domain); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("%s is not a local domain: add it first with 'youju domain add %s'", domain, domain)
		}
		q := c.Limits.DefaultQuotaBytes
		if *quota >= 0 {
			q = *quota
		}
		a := store.Account{Address: addr, AllowIMAP: true, AllowPOP3: true, AllowSMTP: true,
			QuotaBytes: q, POP3: store.POP3Options{Scope: store.POP3ScopeInbox, Delete: store.POP3DeleteExpunge}, Created: time.Now()}
		if err := auth.SetPassword(&a, nil, pw); err != nil {
			return err
		}
		// The first account, the postmaster's, runs the admin console.
		a.Admin = noPostmasterYet(*data)
		if _, err := st.CreateAccount(ctx, a); err != nil {
			if errors.Is(err, store.ErrExists) {
				return fmt.Errorf("account %s exists already", addr)
			}
			return err
		}
		fmt.Fprintf(e.stdout, "Created account %s.\n", addr)
		if first, err := setFirstPostmaster(*data, addr); err != nil {
			return err
		} else if first {
			fmt.Fprintf(e.stdout, "%s is the first account: it receives postmaster@ and abuse@ of every domain (change: youju postmaster ADDRESS)\n"+
				"and is an admin of the console at /admin/ (change: youju user set --admin=false %s).\n", addr, addr)
		}
		if generated {
			fmt.Fprintf(e.stdout, "Password: %s   (shown only now; change it with 'youju user passwd %s')\n", pw, addr)
		}
		return nil
	})
}

// testAllowWeak is set by this package's tests (strength_test.go), whose
// many fixtures sign in with short passwords; the strength test clears it.
var testAllowWeak bool

// checkStrength applies auth.CheckStrength, the rule the web page also
// applies, to a password the operator typed; --allow-weak overrides it
// (a migration that must keep users' old passwords).
func checkStrength(pw, addr string, generated, allowWeak bool) error {
	if generated || allowWeak || testAllowWeak {
		return nil
	}
	if err := auth.CheckStrength(pw, addr); err != nil {
		return fmt.Errorf("%w (at least %d characters, not a common password; --allow-weak to accept it anyway)", err, auth.MinPasswordLen)
	}
	return nil
}

func userList(ctx context.Context, e *env, args []string) error {
	fs, data := flags(e, "user list", "user list [--data DIR]")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	return withStore(ctx, *data, func(_ config.Config, st store.Accounts) error {
		as, err := st.ListAccounts(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ADDRESS\tSTATUS\tIMAP\tPOP3\tSMTP\tUSED\tQUOTA\tADMIN")
		for _, a := range as {
			status := "active"
			if a.Disabled {
				status = "disabled"
			}
			quota := "unlimited"
			if a.QuotaBytes > 0 {
				quota = humanBytes(a.QuotaBytes)
			}
			admin := "-"
			if a.Admin {
				admin = "admin"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Address, status, onOff(a.AllowIMAP), onOff(a.AllowPOP3), onOff(a.AllowSMTP), humanBytes(a.UsedBytes), quota, admin)
		}
		return tw.Flush()
	})
}

func userPasswd(ctx context.Context, e *env, args []string) error {
	const usage = "user passwd [--data DIR] [--password-stdin] [--allow-weak] ADDRESS"
	fs, data := flags(e, "user passwd", usage)
	fromStdin := fs.Bool("password-stdin", false, "read the new password from standard input (else one is generated and printed once)")
	allowWeak := fs.Bool("allow-weak", false, "accept a password that fails the strength rule (under 10 characters or a common password)")
	rest, err := parseArgs(fs, args, 1, 1, usage)
	if err != nil {
		return err
	}
	pw, generated, err := passwordFromFlags(e, *fromStdin)
	if err != nil {
		return err
	}
	if err := checkStrength(pw, rest[0], generated, *allowWeak); err != nil {
		return err
	}
	return withAccount(ctx, *data, rest[0], func(st store.Accounts, a store.Account) error {
		// The app passwords' SCRAM salt is kept (auth.SetPassword), so
		// they go on working with SCRAM.
		apps, err := st.AppPasswords(ctx, a.ID)
		if err != nil {
			return err
		}
		if err := auth.SetPassword(&a, apps, pw); err != nil {
			return err
		}
		if err := st.UpdateAccount(ctx, a); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Changed the password of %s.\n", a.Address)
		if generated {
			fmt.Fprintf(e.stdout, "Password: %s   (shown only now)\n", pw)
		}
		return nil
	})
}

func userDel(ctx context.Context, e *env, args []string) error {
	const usage = "user del [--data DIR] ADDRESS   (deletes the account and all its mail)"
	return oneNameCmd(ctx, e, "user del", usage, args, func(_ config.Config, st store.Accounts, addr string) error {
		a, err := lookupAccount(ctx, st, addr)
		if err != nil {
			return err
		}
		if err := st.DeleteAccount(ctx, a.ID); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Deleted account %s and its mail.\n", a.Address)
		return nil
	})
}

func userSetDisabled(ctx context.Context, e *env, args []string, disabled bool) error {
	verb := map[bool]string{true: "disable", false: "enable"}[disabled]
	return oneNameCmd(ctx, e, "user "+verb, "user "+verb+" [--data DIR] ADDRESS", args, func(_ config.Config, st store.Accounts, addr string) error {
		a, err := lookupAccount(ctx, st, addr)
		if err != nil {
			return err
		}
		a.Disabled = disabled
		if err := st.UpdateAccount(ctx, a); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Account %s is now %sd.\n", a.Address, verb)
		if disabled {
			fmt.Fprintf(e.stdout, "It cannot sign in, and mail to it is refused (\"mailbox disabled\").\n"+
				"To stop sign-ins but keep receiving: youju user set --imap off --pop3 off --smtp off %s\n", a.Address)
		}
		return nil
	})
}

// onOffFlag is a flag that takes "on" or "off" and remembers whether it was set.
type onOffFlag struct {
	set, val bool
}

func (f *onOffFlag) String() string { return "" }
func (f *onOffFlag) Set(s string) error {
	switch strings.ToLower(s) {
	case "on", "true", "yes", "1":
		f.val = true
	case "off", "false", "no", "0":
		f.val = false
	default:
		return fmt.Errorf("want on or off, not %q", s)
	}
	f.set = true
	return nil
}

func userSet(ctx context.Context, e *env, args []string) error {
	const usage = "user set [--data DIR] [--admin[=false]] [--imap on|off] [--pop3 on|off] [--smtp on|off] [--quota BYTES] [--pop3-scope inbox|all|recent|allrecent] [--pop3-days N] [--pop3-delete delete|trash|hide] [--send-limit HOUR/DAY|default] ADDRESS"
	fs, data := flags(e, "user set", usage)
	sendLimit := fs.String("send-limit", "", "messages the account may send to other domains per hour/per day, e.g. 50/200 (-1/-1: none; default: the server's [spam] limits)")
	var imap, pop3, smtp onOffFlag
	var admin boolFlag
	fs.Var(&admin, "admin", "may use the admin console /admin/ and the admin API (--admin=false: no more)")
	fs.Var(&imap, "imap", "allow IMAP (on|off)")
	fs.Var(&pop3, "pop3", "allow POP3 (on|off)")
	fs.Var(&smtp, "smtp", "allow sending over SMTP submission (on|off)")
	quota := fs.Int64("quota", -1, "quota in bytes (0 = unlimited)")
	scope := fs.String("pop3-scope", "", "what POP3 shows: inbox, all (every folder but Trash and Junk), recent or allrecent (last --pop3-days days)")
	days := fs.Int("pop3-days", -1, "days for the recent scopes")
	del := fs.String("pop3-delete", "", "what a POP3 client's delete does: delete, trash (move to Trash) or hide (from POP3 only)")
	rest, err := parseArgs(fs, args, 1, 1, usage)
	if err != nil {
		return err
	}
	if err := checkPOP3Flags(*scope, *del); err != nil {
		return err
	}
	hour, day, err := parseSendLimit(*sendLimit)
	if err != nil {
		return err
	}
	return withAccount(ctx, *data, rest[0], func(st store.Accounts, a store.Account) error {
		if *sendLimit != "" {
			if err := setSendLimit(ctx, *data, a, hour, day, e); err != nil {
				return err
			}
		}
		applyOnOff(&a.AllowIMAP, imap)
		applyOnOff(&a.AllowPOP3, pop3)
		applyOnOff(&a.AllowSMTP, smtp)
		applyOnOff(&a.Admin, onOffFlag(admin))
		if *quota >= 0 {
			a.QuotaBytes = *quota
		}
		if *scope != "" {
			a.POP3.Scope = store.POP3Scope(*scope)
		}
		if *days >= 0 {
			a.POP3.Days = *days
		}
		if *del != "" {
			a.POP3.Delete = store.POP3Delete(*del)
		}
		if err := st.UpdateAccount(ctx, a); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s: IMAP %s, POP3 %s, SMTP %s, quota %s, POP3 shows %s, POP3 delete %s, admin %s\n", a.Address,
			onOff(a.AllowIMAP), onOff(a.AllowPOP3), onOff(a.AllowSMTP), quotaString(a.QuotaBytes), a.POP3.Scope, a.POP3.Delete, onOff(a.Admin))
		return nil
	})
}

func checkPOP3Flags(scope, del string) error {
	switch store.POP3Scope(scope) {
	case "", store.POP3ScopeInbox, store.POP3ScopeAll, store.POP3ScopeRecent, store.POP3ScopeAllRecnt:
	default:
		return usagef("--pop3-scope %q: want inbox, all, recent or allrecent", scope)
	}
	switch store.POP3Delete(del) {
	case "", store.POP3DeleteExpunge, store.POP3DeleteTrash, store.POP3DeleteHide:
	default:
		return usagef("--pop3-delete %q: want delete, trash or hide", del)
	}
	return nil
}

func applyOnOff(dst *bool, f onOffFlag) {
	if f.set {
		*dst = f.val
	}
}

var _ flag.Value = (*onOffFlag)(nil)

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func quotaString(q int64) string {
	if q <= 0 {
		return "unlimited"
	}
	return humanBytes(q)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
