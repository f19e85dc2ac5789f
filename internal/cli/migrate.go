package cli

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/delivery/queue"
	"github.com/youju/youju/internal/delivery/queue/pgqueue"
	"github.com/youju/youju/internal/migrate"
	"github.com/youju/youju/internal/store/postgres"
	"github.com/youju/youju/internal/store/sqlite"
)

const migrateUsage = "migrate --data DIR --to postgres://… [--blobs postgres|files|s3 [--blobs-dir DIR] [--s3-endpoint URL --s3-bucket B --s3-access-key K --s3-secret-file F [--s3-region R] [--s3-prefix P] [--s3-path-style]]] [--verify-only] [--no-verify]"

// runMigrate is "youju migrate": the installation of DIR (SQLite and
// segment files, the outbound queue directory) copied to PostgreSQL,
// resumable, then verified (docs/migrate.md). The server must be stopped:
// the SQLite store is opened exclusively, so a running server makes this
// fail at once rather than copy a moving target.
func runMigrate(ctx context.Context, e *env, args []string) error {
	fs, data := flags(e, "migrate", migrateUsage)
	to := fs.String("to", "", "the PostgreSQL DSN to copy to (required)")
	verifyOnly := fs.Bool("verify-only", false, "only compare the two stores")
	noVerify := fs.Bool("no-verify", false, "skip the verification pass")
	blobs := migrateBlobFlags(fs)
	if _, err := parseArgs(fs, args, 0, 0, migrateUsage); err != nil {
		return err
	}
	if *to == "" {
		return usagef("migrate needs --to (usage: youju %s)", migrateUsage)
	}
	c, err := loadConfig(*data)
	if err != nil {
		return err
	}
	if c.Store.Postgres() {
		return fmt.Errorf("%s already uses PostgreSQL ([store] backend = \"postgres\"): nothing to migrate", *data)
	}
	src, err := sqlite.Open(ctx, storeDir(*data), sqlite.Options{})
	if err != nil {
		return fmt.Errorf("opening the source store (stop youju serve first: docs/migrate.md): %w", err)
	}
	defer src.Close()
	// The target's config: what [store] and [blobs] will say after the
	// move; its blob store is opened as serve will open it.
	tc := c
	tc.Store.Backend, tc.Store.DSN, tc.Blobs = "postgres", *to, *blobs
	if tc.Blobs.Backend == "s3" && tc.Blobs.SecretFile == "" {
		tc.Blobs.Secret = os.Getenv("YOUJU_S3_SECRET")
	}
	if err := tc.Blobs.Validate("postgres"); err != nil {
		return usagef("%v (the --blobs and --s3-* flags)", err)
	}
	ext, err := openBlobs(ctx, *data, tc)
	if err != nil {
		return fmt.Errorf("opening the target's blob store: %w", err)
	}
	dst, err := postgres.Open(ctx, *to, postgres.Options{MaxMessageSize: c.Limits.MaxMessageBytes, Blobs: ext})
	if err != nil {
		return fmt.Errorf("opening the target: %w", err)
	}
	defer dst.Close()
	start := time.Now()
	bar := newBar(e.stdout)
	if !*verifyOnly {
		sum := sha256.Sum256([]byte(*to))
		err := migrate.Copy(ctx, migrate.Options{Source: src, Target: dst,
			StateFile: filepath.Join(*data, "migrate", "progress-"+hex.EncodeToString(sum[:6])+".json"),
			Progress: func(p migrate.Progress) {
				bar.show(p.Messages, p.TotalMessages, fmt.Sprintf("%.1f MB · %s", float64(p.Bytes)/1e6, p.Account))
			}})
		bar.done()
		if err != nil {
			return fmt.Errorf("migrate (run it again to resume): %w", err)
		}
		n, err := migrateQueue(ctx, *data, *to)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Copied in %s; %d queued outbound message(s) moved.\n", migrate.Elapsed(time.Since(start)), n)
	}
	if *noVerify {
		return nil
	}
	total := 0
	if accts, err := src.ListAccounts(ctx); err == nil {
		for _, a := range accts {
			boxes, _ := src.Mailboxes(ctx, a.ID)
			for _, b := range boxes {
				total += b.Messages
			}
		}
	}
	r, err := migrate.Verify(ctx, src, dst, func(done int) { bar.show(done, total, "verified") })
	bar.done()
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	for _, p := range r.Problems {
		fmt.Fprintln(e.stderr, "  "+p)
	}
	if len(r.Problems) > 0 {
		return fmt.Errorf("verify: %d difference(s) (the first %d above)", len(r.Problems), len(r.Problems))
	}
	fmt.Fprintf(e.stdout, "Verified: %d accounts, %d mailboxes, %d messages (%.1f MB, SHA-256 of each) are the same.\n",
		r.Accounts, r.Mailboxes, r.Messages, float64(r.Bytes)/1e6)
	fmt.Fprintf(e.stdout, `Next: in %s/youju.toml set
  [store]
  backend = "postgres"
  dsn = %q
%sthen start youju serve (every node: docs/several-nodes.md).
`, *data, *to, blobsSection(tc.Blobs))
	return nil
}

// migrateBlobFlags are the [blobs] settings of the target, as flags (the
// source's config is SQLite's, whose [blobs] cannot name S3). The S3
// secret is read from a file or $YOUJU_S3_SECRET, never the command line
// (which other users see in ps).
func migrateBlobFlags(fs *flag.FlagSet) *config.Blobs {
	b := &config.Blobs{}
	fs.StringVar(&b.Backend, "blobs", "postgres", "where the target keeps message bytes: postgres (chunk rows), files or s3 ([blobs] backend)")
	fs.StringVar(&b.Dir, "blobs-dir", "", "directory of --blobs files (default DIR/blobs)")
	fs.StringVar(&b.Endpoint, "s3-endpoint", "", "S3 endpoint, https://host[:port]")
	fs.StringVar(&b.Bucket, "s3-bucket", "", "S3 bucket (must exist)")
	fs.StringVar(&b.AccessKey, "s3-access-key", "", "S3 access key")
	fs.StringVar(&b.SecretFile, "s3-secret-file", "", "file holding the S3 secret key (else $YOUJU_S3_SECRET)")
	fs.StringVar(&b.Region, "s3-region", "", "S3 region")
	fs.StringVar(&b.Prefix, "s3-prefix", "", "prefix of every object name")
	fs.BoolVar(&b.PathStyle, "s3-path-style", false, "address the bucket as endpoint/bucket (SeaweedFS, MinIO, Ceph)")
	return b
}

// blobsSection is the [blobs] section matching b, for the closing advice
// ("" for chunk rows in PostgreSQL, the default).
func blobsSection(b config.Blobs) string {
	var sb strings.Builder
	add := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&sb, "  %s = %q\n", k, v)
		}
	}
	switch b.Backend {
	case "files":
		sb.WriteString("  [blobs]\n  backend = \"files\"\n")
		add("dir", b.Dir)
	case "s3":
		sb.WriteString("  [blobs]\n  backend = \"s3\"\n")
		add("endpoint", b.Endpoint)
		add("bucket", b.Bucket)
		add("access_key", b.AccessKey)
		add("secret_file", cmp.Or(b.SecretFile, "(a file holding the secret)"))
		add("region", b.Region)
		add("prefix", b.Prefix)
		if b.PathStyle {
			sb.WriteString("  path_style = true\n")
		}
	}
	return sb.String()
}

// migrateQueue moves the queue directory's messages into the shared
// queue; each is removed from the directory once it is in the database,
// so that a rerun does not send it twice.
func migrateQueue(ctx context.Context, dataDir, dsn string) (int, error) {
	if _, err := os.Stat(outboundDir(dataDir)); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	d, err := queue.OpenDir(outboundDir(dataDir))
	if err != nil {
		return 0, err
	}
	all, err := d.List()
	if err != nil {
		return 0, err
	}
	if len(all) == 0 {
		return 0, nil
	}
	pq, err := pgqueue.Open(ctx, dsn, pgqueue.Options{})
	if err != nil {
		return 0, err
	}
	defer pq.Close()
	n := 0
	for _, st := range all {
		if st.Broken != "" {
			continue // left in the directory, for the operator to see
		}
		b, err := d.Data(st.ID)
		if err != nil {
			return n, err
		}
		if _, err := pq.Import(ctx, st, b); err != nil {
			return n, err
		}
		if err := d.Remove(st.ID); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// bar is a progress bar on a terminal, at most four updates a second;
// elsewhere (a log, a pipe) it prints nothing.
type bar struct {
	w    io.Writer
	tty  bool
	last time.Time
	on   bool
}

func newBar(w io.Writer) *bar {
	b := &bar{w: w}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			b.tty = true
		}
	}
	return b
}

func (b *bar) show(done, total int, what string) {
	if !b.tty || time.Since(b.last) < 250*time.Millisecond && done < total {
		return
	}
	b.last, b.on = time.Now(), true
	const width = 30
	fill := width
	if total > 0 {
		fill = min(width, done*width/total)
	}
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = ' '
		if i < fill {
			bar[i] = '#'
		}
	}
	fmt.Fprintf(b.w, "\r[%s] %d/%d %s   ", bar, done, total, what)
}

func (b *bar) done() {
	if b.on {
		fmt.Fprintln(b.w)
		b.on = false
	}
}
