package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/sieve"
	"github.com/youju/youju/internal/store"
)

const userSieveUsage = "user sieve [--data DIR] list ADDRESS | get ADDRESS NAME | put [--activate] ADDRESS NAME (script on standard input) | activate ADDRESS NAME|-"

// userSieve lets an administrator read and change an account's Sieve
// scripts (issue 16: `youju user sieve get|put|list`). With the embedded
// store the scripts are files in DATA/sieve, written atomically; a
// running server's cache checks their size and mtime, so a change takes
// effect at the next delivery without going through control.sock. With
// a shared store ([store] backend = "postgres") they are in the
// database, where every node reads them.
//
// A put goes through the same forwarding guard as ManageSieve and the
// settings page ([spam] max_forwards, issue 16 point 5): an
// administrator's tool must not be the way around the limit, and a new
// destination is logged and announced to the account by mail.
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
	c, err := loadConfig(*data)
	if err != nil {
		return err
	}
	return withSieveStore(ctx, *data, c, func(st store.Store, scripts sieve.Scripts) error {
		var acct store.Account
		err := accountsOf(ctx, *data, st, func(a store.Accounts) error {
			acct, err = a.Account(ctx, addr)
			return err
		})
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no account %s", addr)
		}
		if err != nil {
			return err
		}
		guarded := &sieve.ForwardGuard{Scripts: scripts, Max: c.Spam.MaxForwards,
			Added: func(ctx context.Context, id store.AccountID, added, all []string) {
				fmt.Fprintf(e.stderr, "%s: forwarding destination added: %s\n", acct.Address, strings.Join(added, ", "))
				if st != nil {
					delivery.New(st, nil, c.Hostname, slog.New(slog.NewTextHandler(e.stderr, nil))).ForwardAdded(ctx, id, added, all)
				} else {
					fmt.Fprintf(e.stderr, "%s: with the embedded store this command sends the account no notice by mail: tell its owner\n", acct.Address)
				}
			}}
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
			return putSieve(ctx, e, guarded, acct.ID, name, *activate)
		case "activate":
			if name == "-" {
				name = "" // RFC 5804 §2.8: SETACTIVE "" deactivates
			}
			return guarded.SetActive(ctx, acct.ID, name)
		}
		return usagef("usage: youju %s", userSieveUsage)
	})
}

// withSieveStore calls fn with the script store of the data directory:
// the shared store's state (st is then the open store), or DATA/sieve
// (st is nil: the accounts are looked up through the running server or
// a store opened for the moment, by accountsOf).
func withSieveStore(ctx context.Context, dataDir string, c config.Config, fn func(st store.Store, scripts sieve.Scripts) error) error {
	if !c.Store.Postgres() {
		return fn(nil, &sieve.FileStore{Dir: filepath.Join(dataDir, "sieve")})
	}
	return withStateStore(ctx, dataDir, c, func(st store.Store, state store.StateStore) error {
		return fn(st, &sieve.StateScripts{State: state})
	})
}

// withStateStore opens the store of the data directory and calls fn
// with it and its state seam.
func withStateStore(ctx context.Context, dataDir string, c config.Config, fn func(store.Store, store.StateStore) error) error {
	st, err := openStore(ctx, dataDir, c)
	if err != nil {
		return err
	}
	defer st.Close()
	state, ok := store.As[store.StateStore](st)
	if !ok {
		return errors.New("the store keeps no shared state")
	}
	return fn(st, state)
}

// accountsOf gives fn the accounts of st, or without it those of the
// data directory (withStore).
func accountsOf(ctx context.Context, dataDir string, st store.Store, fn func(store.Accounts) error) error {
	if st != nil {
		return fn(st)
	}
	return withStore(ctx, dataDir, func(_ config.Config, a store.Accounts) error { return fn(a) })
}

func listSieve(ctx context.Context, e *env, scripts sieve.Scripts, acct store.AccountID) error {
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
func putSieve(ctx context.Context, e *env, scripts sieve.Scripts, acct store.AccountID, name string, activate bool) error {
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
