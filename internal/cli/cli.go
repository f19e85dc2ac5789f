// Package cli implements the youju command line: init, serve, domain, user,
// alias, config. Every command takes --data DIR (default $YOUJU_DATA, else
// ./youju-data), and flags may come before or after arguments.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// env is what a command runs with; tests pass their own.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func commands() []command {
	return []command{
		{"init", "create a data directory: config, store, TLS certificate", runInit},
		{"serve", "run the mail server (all listeners)", runServe},
		{"domain", "add, list or delete mail domains", runDomain},
		{"user", "add, list, change or delete accounts", runUser},
		{"apppass", "add, list or revoke an account's app passwords", runAppPass},
		{"admin", "create, list or revoke admin API tokens (admin token ...)", runAdmin},
		{"alias", "add, list or delete aliases and catch-alls", runAlias},
		{"config", "check the configuration", runConfig},
		{"dns", "print or check the DNS records a domain needs", runDNS},
		{"queue", "list, show, retry, delete, flush, hold or release outbound mail", runQueue},
		{"migrate", "copy this installation from SQLite to PostgreSQL, then verify", runMigrate},
		{"index", "rebuild an account's SEARCH text index", runIndex},
		{"postmaster", "show or set the account that gets postmaster@ and abuse@ of every domain", runPostmaster},
		{"report", "summarise DMARC aggregate and TLS-RPT reports: received (report list) or files", runReport},
		{"import", "import mail into an account: IMAP (QQ, 163, Gmail, Dovecot), mbox, Maildir", runImport},
		{"backup", "copy the data directory consistently, while serve runs", runBackup},
		{"restore", "restore a backup into a new data directory", runRestore},
		{"export", "write an account's mail as mbox files or a Maildir", runExport},
		{"version", "print the version", runVersion},
	}
}

// Version is set at build time with -ldflags "-X ...cli.Version=...".
var Version = "dev"

// Main runs the command line and returns the exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(context.Background(), e, args[1:])
			return report(stderr, err)
		}
	}
	fmt.Fprintf(stderr, "youju: unknown command %q (see youju --help)\n", args[0])
	return 2
}

func report(stderr io.Writer, err error) int {
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "youju: %s\n", ue.msg)
		return 2
	}
	// One clear line: the first line of the error.
	msg, _, _ := strings.Cut(err.Error(), "\n")
	fmt.Fprintf(stderr, "youju: %s\n", msg)
	return 1
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "youju — a complete mail server (SMTP, IMAP, POP3, autoconfig) in one binary.")
	fmt.Fprintln(w, "\nUsage: youju COMMAND [flags] [arguments]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nFirst try:  youju serve --dev")
	fmt.Fprintln(w, "Every command takes --data DIR (default $YOUJU_DATA, else ./youju-data) and --help.")
}

// flags makes a FlagSet for a command with the --data flag.
func flags(e *env, name, usage string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stdout)
	def := os.Getenv("YOUJU_DATA")
	if def == "" {
		def = "youju-data"
	}
	data := fs.String("data", def, "data directory (env YOUJU_DATA)")
	fs.Usage = func() {
		fmt.Fprintf(e.stdout, "Usage: youju %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs, data
}

// parse parses flags that may come before, between or after arguments and
// returns the arguments. A flag error is a usage error.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag stops at the first argument; "--" ends flags for good.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parseArgs is parse followed by wantArgs.
func parseArgs(fs *flag.FlagSet, args []string, min, max int, usage string) ([]string, error) {
	rest, err := parse(fs, args)
	if err != nil {
		return nil, err
	}
	return rest, wantArgs(rest, min, max, usage)
}

// wantArgs checks the number of positional arguments.
func wantArgs(args []string, min, max int, usage string) error {
	if len(args) < min || (max >= 0 && len(args) > max) {
		return usagef("usage: youju %s", usage)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func runVersion(_ context.Context, e *env, args []string) error {
	fmt.Fprintf(e.stdout, "youju %s\n", Version)
	return nil
}
