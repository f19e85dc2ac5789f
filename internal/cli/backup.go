package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/youju/youju/internal/backup"
	"github.com/youju/youju/internal/control"
	"github.com/youju/youju/internal/store"
)

// runBackup is "youju backup --data DIR DEST": a consistent copy while
// serve runs (or not), incremental when DEST holds an earlier backup.
func runBackup(ctx context.Context, e *env, args []string) error {
	fs, data := flags(e, "backup", "backup [--data DIR] DEST")
	rest, err := parseArgs(fs, args, 1, 1, "backup [--data DIR] DEST")
	if err != nil {
		return err
	}
	if _, err := loadConfig(*data); err != nil {
		return err
	}
	start := time.Now()
	rep, err := backup.Backup(ctx, *data, rest[0])
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(e.stdout, "backup of %s in %s: %d files, %.1f MB, %.1f MB written (%d segments only extended), in %s; manifest %s\n",
		*data, rest[0], rep.Files, float64(rep.Bytes)/1e6, float64(rep.Written)/1e6, rep.SegmentsKept,
		time.Since(start).Round(time.Millisecond), backup.ManifestName)
	return nil
}

// runRestore is "youju restore --data NEWDIR DEST".
func runRestore(ctx context.Context, e *env, args []string) error {
	fs, data := flags(e, "restore", "restore --data NEWDIR DEST")
	rest, err := parseArgs(fs, args, 1, 1, "restore --data NEWDIR DEST")
	if err != nil {
		return err
	}
	if err := backup.Restore(rest[0], *data); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	// Open the store once: its recovery cuts the segments back to what
	// the index references.
	c, err := loadConfig(*data)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, *data, c)
	if err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "restored %s into %s (every file checked against the manifest)\n", rest[0], *data)
	return nil
}

// runExport is "youju export ACCOUNT --format mbox|maildir DEST".
func runExport(ctx context.Context, e *env, args []string) error {
	usage := "export [--data DIR] --format mbox|maildir ACCOUNT DEST"
	fs, data := flags(e, "export", usage)
	format := fs.String("format", "mbox", "mbox (one file per folder) or maildir (Maildir++, as Dovecot reads it)")
	rest, err := parseArgs(fs, args, 2, 2, usage)
	if err != nil {
		return err
	}
	if *format != "mbox" && *format != "maildir" {
		return usagef("--format is mbox or maildir, not %q", *format)
	}
	address, err := normAddress(rest[0])
	if err != nil {
		return err
	}
	var src backup.ExportSource
	var accts store.Accounts
	if cl, err := control.Dial(controlSocket(*data)); err == nil {
		src, accts = cl, cl
	} else {
		c, err := loadConfig(*data)
		if err != nil {
			return err
		}
		st, err := openStore(ctx, *data, c)
		if err != nil {
			return err
		}
		defer st.Close()
		src, accts = backup.LocalExport{Mail: st}, st
	}
	a, err := accts.Account(ctx, address)
	if err != nil {
		return fmt.Errorf("account %s: %w", address, err)
	}
	s, err := backup.Export(ctx, src, a.ID, *format, rest[1])
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: %d mailboxes, %d messages (%.1f MB) exported as %s into %s\n", address, s.Mailboxes, s.Messages, float64(s.Bytes)/1e6, *format, rest[1])
	return nil
}
