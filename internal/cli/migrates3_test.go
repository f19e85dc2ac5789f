package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/testutil/s3test"
)

// TestMigrateCommandS3: an installation is migrated to PostgreSQL with
// the message bytes in S3 (SeaweedFS): the index has no chunk rows, a blob
// COPY shared is uploaded once, the verification reads every message back
// from S3 (SHA-256), a second run uploads nothing, and switched to
// PostgreSQL + S3 the server shows an IMAP client the same UIDVALIDITY,
// UIDs and flags.
func TestMigrateCommandS3(t *testing.T) {
	s3 := s3test.Config(t)
	dsn := schemaDSN(t)
	dir := newData(t)
	ctx := context.Background()
	src, a := aliceWithMail(t, dir, 12)
	inbox, _ := src.Mailbox(ctx, a.ID, "INBOX")
	arch, _ := src.Mailbox(ctx, a.ID, "Archive")
	// Two messages copied: their blobs are shared, 14 messages on 12 blobs.
	if _, err := src.Copy(ctx, a.ID, inbox.ID, store.UIDSet{{Lo: 1, Hi: 2}}, arch.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Remove(ctx, a.ID, inbox.ID, store.UIDSet{{Lo: 4, Hi: 4}}); err != nil {
		t.Fatal(err)
	}
	src.Close()
	addrs, _, stop := startServe(t, dir)
	before := imapView(t, addrs["imaps"], "alice@example.test", "alicepw")
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	secret := filepath.Join(t.TempDir(), "s3-secret")
	if err := os.WriteFile(secret, []byte(s3.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"migrate", "--data", dir, "--to", dsn, "--blobs", "s3", "--s3-endpoint", s3.Endpoint,
		"--s3-bucket", s3.Bucket, "--s3-access-key", s3.AccessKey, "--s3-secret-file", secret,
		"--s3-prefix", s3.Prefix, "--s3-path-style"}
	out := mustRun(t, "", args...)
	if !strings.Contains(out, "Verified: 1 accounts") || !strings.Contains(out, "13 messages") || !strings.Contains(out, `backend = "s3"`) {
		t.Fatalf("migrate said:\n%s", out)
	}
	counts := func() (ext, chunks int) {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		if err := c.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM blobs WHERE ext IS NOT NULL), (SELECT COUNT(*) FROM blob_chunks)`).Scan(&ext, &chunks); err != nil {
			t.Fatal(err)
		}
		return ext, chunks
	}
	// 11 blobs in INBOX (one removed), the 2 of Archive shared with it.
	if ext, chunks := counts(); ext != 11 || chunks != 0 {
		t.Fatalf("%d blobs in S3 (want 11: shared ones once), %d chunk rows (want 0)", ext, chunks)
	}
	if out := mustRun(t, "", args...); !strings.Contains(out, "Verified") {
		t.Fatalf("second run said:\n%s", out)
	}
	if ext, _ := counts(); ext != 11 {
		t.Fatalf("%d blobs after a second run, want 11", ext)
	}
	// A target blob store the flags cannot describe is refused up front.
	if code, _, errs := run(t, "", "migrate", "--data", dir, "--to", dsn, "--blobs", "s3"); code == 0 || !strings.Contains(errs, "blobs.endpoint") {
		t.Errorf("migrate --blobs s3 without S3 settings: exit %d, %s", code, errs)
	}

	cfg := filepath.Join(dir, "youju.toml")
	pgConfig(t, cfg, dsn)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	blobs := fmt.Sprintf("backend = \"s3\"\nendpoint = %q\nbucket = %q\naccess_key = %q\nsecret_file = %q\npath_style = true\nprefix = %q\n",
		s3.Endpoint, s3.Bucket, s3.AccessKey, secret, s3.Prefix)
	s := strings.Replace(string(b), "\n[blobs]\n", "\n[blobs]\n"+blobs, 1)
	if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	addrs, errs, _ := startServe(t, dir)
	after := imapView(t, addrs["imaps"], "alice@example.test", "alicepw")
	if after != before || !strings.Contains(after, "UID 12") {
		t.Errorf("IMAP view changed by the migration:\nbefore:\n%s\nafter:\n%s\n%s", before, after, errs)
	}
}
