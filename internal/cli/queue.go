package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/delivery/queue"
	"github.com/youju/youju/internal/delivery/queue/pgqueue"
)

// outboundDir is where the outbound queue (internal/delivery/queue) keeps
// mail for other domains, inside the data directory.
func outboundDir(dataDir string) string { return filepath.Join(dataDir, "outbound") }

// runQueue is "youju queue list|show|retry|delete|flush|hold|release".
// The commands work on the queue's storage itself, which is safe while
// the server runs: in the queue directory every change replaces whole
// files, and retry/flush/hold/release touch a file the running queue
// checks every second; in PostgreSQL ([store] backend = "postgres") they
// are single statements, and every node re-reads the queue each second.
func runQueue(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "queue", args, map[string]func(context.Context, *env, []string) error{
		"list":    queueList,
		"show":    queueShow,
		"retry":   queueRetry,
		"delete":  queueDelete,
		"flush":   queueFlush,
		"hold":    queueHold,
		"release": queueRelease,
	})
}

// openQueueDir opens the queue of an existing data directory: its queue
// directory, or the shared queue in PostgreSQL when the store is there.
func openQueueDir(dataDir string) (queue.Storage, error) {
	if _, err := os.Stat(dataDir); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dataDir, err)
	}
	c, err := config.Load(dataDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		// Which queue to open depends on it: never guess.
		return nil, err
	}
	if err == nil && c.Store.Postgres() {
		return openQueueStorage(c, nil)
	}
	d, err := queue.OpenDir(outboundDir(dataDir))
	if err != nil {
		return nil, err
	}
	return queue.FileStorage(d), nil
}

// openQueueStorage opens the shared queue when the store is PostgreSQL;
// nil (the queue directory) otherwise.
func openQueueStorage(c config.Config, log *slog.Logger) (queue.Storage, error) {
	if !c.Store.Postgres() {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := pgqueue.Open(ctx, c.Store.DSN, pgqueue.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("opening the outbound queue in PostgreSQL: %w", err)
	}
	return s, nil
}

// closeStorage closes a database storage (the queue directory has
// nothing to close).
func closeStorage(s queue.Storage) {
	if c, ok := s.(interface{ Close() }); ok {
		c.Close()
	}
}

func queueList(ctx context.Context, e *env, args []string) error {
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
	defer closeStorage(d)
	all, err := d.List(ctx)
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
		next := until(now, st.NextAttempt)
		if st.Held {
			next = "held"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", st.ID, now.Sub(st.Created).Round(time.Second),
			st.Size, st.Attempts, next, from, strings.Join(pending, ","), short(last, 60))
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

func queueShow(ctx context.Context, e *env, args []string) error {
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
	defer closeStorage(d)
	st, err := d.State(ctx, rest[0])
	if errors.Is(err, queue.ErrNotFound) {
		return fmt.Errorf("no queued message %s", rest[0])
	} else if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "ID:       %s\nFrom:     <%s>\nCreated:  %s\nSize:     %d\nAttempts: %d\nNext:     %s\n",
		st.ID, st.From, st.Created.Format(time.RFC3339), st.Size, st.Attempts, st.NextAttempt.Format(time.RFC3339))
	if st.Held {
		fmt.Fprintln(e.stdout, "State:    held (youju queue release to send it)")
	}
	if st.Account != "" {
		fmt.Fprintf(e.stdout, "Account:  %s\n", st.Account)
	}
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
		b, err := d.Data(ctx, st.ID)
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
	defer closeStorage(d)
	n, err := d.Retry(context.Background(), id, time.Now())
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

func queueDelete(ctx context.Context, e *env, args []string) error {
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
	defer closeStorage(d)
	if err := d.Remove(ctx, rest[0]); errors.Is(err, queue.ErrNotFound) {
		return fmt.Errorf("no queued message %s", rest[0])
	} else if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Deleted %s (no bounce sent).\n", rest[0])
	return nil
}

// queueHold is "youju queue hold ID|--all-from ADDRESS": held messages
// stay queued but are not tried (an account that looks compromised, mail
// to review) until released.
func queueHold(ctx context.Context, e *env, args []string) error {
	const usage = "queue hold [--data DIR] ID|--all-from ADDRESS"
	fs, data := flags(e, "queue hold", usage)
	from := fs.String("all-from", "", "hold every message whose sender or submitting account is ADDRESS")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if (*from == "") == (len(rest) == 0) || len(rest) > 1 {
		return usagef("usage: youju %s", usage)
	}
	d, err := openQueueDir(*data)
	if err != nil {
		return err
	}
	defer closeStorage(d)
	if *from != "" {
		n, err := d.HoldFrom(ctx, *from)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Held %d message(s) from %s.\n", n, *from)
		return nil
	}
	if err := d.SetHeld(ctx, rest[0], true); errors.Is(err, queue.ErrNotFound) {
		return fmt.Errorf("no queued message %s", rest[0])
	} else if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Held %s: it is not sent until 'youju queue release %s'.\n", rest[0], rest[0])
	return nil
}

// queueRelease is "youju queue release ID": the message is due at once.
func queueRelease(ctx context.Context, e *env, args []string) error {
	const usage = "queue release [--data DIR] ID"
	fs, data := flags(e, "queue release", usage)
	rest, err := parseArgs(fs, args, 1, 1, usage)
	if err != nil {
		return err
	}
	d, err := openQueueDir(*data)
	if err != nil {
		return err
	}
	defer closeStorage(d)
	if err := d.SetHeld(ctx, rest[0], false); errors.Is(err, queue.ErrNotFound) {
		return fmt.Errorf("no queued message %s", rest[0])
	} else if err != nil {
		return err
	}
	if _, err := d.Retry(ctx, rest[0], time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Released %s; a running server sends it within a second.\n", rest[0])
	return nil
}
