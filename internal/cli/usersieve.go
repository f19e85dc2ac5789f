package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/sieve"
	"github.com/youju/youju/internal/store"
)

const userSieveUsage = "user sieve [--data DIR] list ADDRESS | get ADDRESS NAME | put [--activate] ADDRESS NAME (script on standard input) | activate ADDRESS NAME|-"

// userSieve lets an administrator read and change an account's Sieve
// scripts (issue 16: `youju user sieve get|put|list`). The scripts are
// files in DATA/sieve, written atomically; a running server's cache
// checks their size and mtime, so a change takes effect at the next
// delivery without going through control.sock.
func userSieve(ctx context.Context, e *env, args []string) error {
	fs, data := flags(e, "user sieve", userSieveUsage)
	activate := fs.Bool("activate", false, "put: make the script the active one")
	rest, err := parseArgs(fs, args, 2, 3, userSieveUsage)
	if err != nil {
		return err
	}
	verb, addr := rest[0], rest[1]
	if addr, err = normAddress(addr); err != nil {
		return err
	}
	name := ""
	if len(rest) == 3 {
		name = rest[2]
	}
	if (verb == "list") != (name == "") {
		return usagef("usage: youju %s", userSieveUsage)
	}
	var acct store.Account
	err = withStore(ctx, *data, func(_ config.Config, st store.Accounts) error {
		acct, err = st.Account(ctx, addr)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no account %s", addr)
	}
	if err != nil {
		return err
	}
	scripts := &sieve.FileStore{Dir: filepath.Join(*data, "sieve")}
	switch verb {
	case "list":
		return listSieve(ctx, e, scripts, acct.ID)
	case "get":
		src, err := scripts.Get(ctx, acct.ID, name)
		if err != nil {
			return err
		}
		_, err = io.WriteString(e.stdout, src)
		return err
	case "put":
		return putSieve(ctx, e, scripts, acct.ID, name, *activate)
	case "activate":
		if name == "-" {
			name = "" // RFC 5804 §2.8: SETACTIVE "" deactivates
		}
		return scripts.SetActive(ctx, acct.ID, name)
	}
	return usagef("usage: youju %s", userSieveUsage)
}

func listSieve(ctx context.Context, e *env, scripts *sieve.FileStore, acct store.AccountID) error {
	list, err := scripts.List(ctx, acct)
	if err != nil {
		return err
	}
	for _, s := range list {
		mark := ""
		if s.Active {
			mark = " (active)"
		}
		fmt.Fprintf(e.stdout, "%s%s\n", s.Name, mark)
	}
	return nil
}

// putSieve stores a script read from standard input after checking it,
// with the compiler's line and column on an error, as CHECKSCRIPT does.
func putSieve(ctx context.Context, e *env, scripts *sieve.FileStore, acct store.AccountID, name string, activate bool) error {
	src, err := io.ReadAll(io.LimitReader(e.stdin, sieve.MaxScriptSize+1))
	if err != nil {
		return err
	}
	if len(src) > sieve.MaxScriptSize {
		return sieve.ErrScriptSize
	}
	if _, err := sieve.Compile(string(src)); err != nil {
		return fmt.Errorf("script %s: %w", name, err)
	}
	if err := scripts.Put(ctx, acct, name, string(src)); err != nil {
		return err
	}
	if activate {
		return scripts.SetActive(ctx, acct, name)
	}
	return nil
}
