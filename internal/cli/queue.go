package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/youju/youju/internal/delivery/queue"
)

// outboundDir is where the outbound queue (internal/delivery/queue) keeps
// mail for other domains, inside the data directory.
func outboundDir(dataDir string) string { return filepath.Join(dataDir, "outbound") }

// runQueue is "youju queue list|show|retry|delete|flush". The commands
// work on the queue directory itself, which is safe while the server
// runs: every change replaces whole files, and retry/flush touch a file
// the running queue checks every second.
func runQueue(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "queue", args, map[string]func(context.Context, *env, []string) error{
		"list":   queueList,
		"show":   queueShow,
		"retry":  queueRetry,
		"delete": queueDelete,
		"flush":  queueFlush,
	})
}

// openQueueDir opens the queue of an existing data directory.
func openQueueDir(dataDir string) (*queue.Dir, error) {
	if _, err := os.Stat(dataDir); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dataDir, err)
	}
	return queue.OpenDir(outboundDir(dataDir))
}

func queueList(_ context.Context, e *env, args []string) error {
	const usage = "queue list [--data DIR]"
	fs, data := flags(e, "queue list", usage)
	_, err := parseArgs(fs, args, 0, 0, usage)
	if err != nil {
		return err
	}
	d, err := openQueueDir(*data)
	if err != nil {
		return err
	}
	all, err := d.List()
	if err != nil {
		return err
	}
	if len(all) == 0 {
		fmt.Fprintln(e.stdout, "The queue is empty.")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAGE\tSIZE\tTRIES\tNEXT\tFROM\tPENDING\tLAST ERROR")
	now := time.Now()
	for _, st := range all {
		if st.Broken != "" {
			fmt.Fprintf(tw, "%s	?	?	?	?	?	?	unreadable state: %s\n", st.ID, short(st.Broken, 60))
			continue
		}
		var pending []string
		last := ""
		for _, r := range st.Pending() {
			pending = append(pending, r.Addr)
			if r.Diag != "" {
				last = r.Diag
			}
		}
		from := st.From
		if from == "" {
			from = "<>"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", st.ID, now.Sub(st.Created).Round(time.Second),
			st.Size, st.Attempts, until(now, st.NextAttempt), from, strings.Join(pending, ","), short(last, 60))
	}
	return tw.Flush()
}

func until(now, t time.Time) string {
	if !t.After(now) {
		return "now"
	}
	return "in " + t.Sub(now).Round(time.Second).String()
}

func short(s string, n int) string {
	if len(s) > n {
		return s[:n-3] + "..."
	}
	return s
}

func queueShow(_ context.Context, e *env, args []string) error {
	const usage = "queue show [--data DIR] [--body] ID"
	fs, data := flags(e, "queue show", usage)
	body := fs.Bool("body", false, "print the message too")
	rest, err := parseArgs(fs, args, 1, 1, usage)
	if err != nil {
		return err
	}
	d, err := openQueueDir(*data)
	if err != nil {
		return err
	}
	st, err := d.State(rest[0])
	if errors.Is(err, queue.ErrNotFound) {
		return fmt.Errorf("no queued message %s", rest[0])
	} else if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "ID:       %s\nFrom:     <%s>\nCreated:  %s\nSize:     %d\nAttempts: %d\nNext:     %s\n",
		st.ID, st.From, st.Created.Format(time.RFC3339), st.Size, st.Attempts, st.NextAttempt.Format(time.RFC3339))
	if st.Ret != "" || st.EnvID != "" {
		fmt.Fprintf(e.stdout, "DSN:      RET=%s ENVID=%s\n", st.Ret, st.EnvID)
	}
	for _, r := range st.Rcpts {
		fmt.Fprintf(e.stdout, "To:       <%s> %s", r.Addr, r.Status)
		if r.Code != 0 || r.Diag != "" {
			fmt.Fprintf(e.stdout, " (%d %s %s; %s)", r.Code, r.Enhanced, r.Diag, r.RemoteMTA)
		}
		fmt.Fprintln(e.stdout)
	}
	if *body {
		b, err := d.Data(st.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "\n%s", b)
	}
	return nil
}

func queueRetry(_ context.Context, e *env, args []string) error {
	const usage = "queue retry [--data DIR] ID|--all"
	fs, data := flags(e, "queue retry", usage)
	all := fs.Bool("all", false, "retry every message")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	id := ""
	if !*all {
		if err := wantArgs(rest, 1, 1, usage); err != nil {
			return err
		}
		id = rest[0]
	} else if err := wantArgs(rest, 0, 0, usage); err != nil {
		return err
	}
	return retry(e, *data, id)
}

func retry(e *env, dataDir, id string) error {
	d, err := openQueueDir(dataDir)
	if err != nil {
		return err
	}
	n, err := d.Retry(id, time.Now())
	if errors.Is(err, queue.ErrNotFound) {
		return fmt.Errorf("no queued message %s", id)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%d message(s) due now; a running server retries within a second.\n", n)
	return nil
}

func queueFlush(_ context.Context, e *env, args []string) error {
	const usage = "queue flush [--data DIR]"
	fs, data := flags(e, "queue flush", usage)
	_, err := parseArgs(fs, args, 0, 0, usage)
	if err != nil {
		return err
	}
	return retry(e, *data, "")
}

func queueDelete(_ context.Context, e *env, args []string) error {
	const usage = "queue delete [--data DIR] ID"
	fs, data := flags(e, "queue delete", usage)
	rest, err := parseArgs(fs, args, 1, 1, usage)
	if err != nil {
		return err
	}
	d, err := openQueueDir(*data)
	if err != nil {
		return err
	}
	if err := d.Remove(rest[0]); errors.Is(err, queue.ErrNotFound) {
		return fmt.Errorf("no queued message %s", rest[0])
	} else if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Deleted %s (no bounce sent).\n", rest[0])
	return nil
}
