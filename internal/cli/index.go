package cli

import (
	"context"
	"fmt"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/store"
)

func runIndex(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "index", args, map[string]func(context.Context, *env, []string) error{
		"rebuild": indexRebuild,
		"status":  indexStatus,
	})
}

// indexRebuild drops an account's SEARCH text index and queues its mail
// for indexing again; the server's indexer does the work in the
// background, and SEARCH scans what is queued meanwhile, so its answers
// stay exact.
func indexRebuild(ctx context.Context, e *env, args []string) error {
	const usage = "index rebuild [--data DIR] ADDRESS   (drops and rebuilds the account's SEARCH index)"
	return oneNameCmd(ctx, e, "index rebuild", usage, args, func(_ config.Config, st store.Accounts, addr string) error {
		a, err := lookupAccount(ctx, st, addr)
		if err != nil {
			return err
		}
		r, ok := st.(store.TextIndexRebuilder)
		if !ok {
			return fmt.Errorf("this store has no text index")
		}
		n, err := r.RebuildTextIndex(ctx, a.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Queued %d messages of %s for indexing; the server indexes them in the background.\n", n, a.Address)
		return nil
	})
}

// indexStatus prints how many messages wait for the SEARCH text index
// (0: it has caught up); bench/compare waits for 0 before timing SEARCH.
func indexStatus(ctx context.Context, e *env, args []string) error {
	const usage = "index status [--data DIR]   (messages waiting for the SEARCH index; 0 = caught up)"
	fs, data := flags(e, "index status", usage)
	if _, err := parseArgs(fs, args, 0, 0, usage); err != nil {
		return err
	}
	return withStore(ctx, *data, func(_ config.Config, st store.Accounts) error {
		r, ok := st.(store.TextIndexStatus)
		if !ok {
			return fmt.Errorf("this store has no text index")
		}
		n, err := r.TextIndexPending(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%d messages waiting for the text index\n", n)
		return nil
	})
}
