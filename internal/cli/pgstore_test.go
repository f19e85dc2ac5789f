package cli

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/smtp"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/blob/s3blobs"
	"github.com/youju/youju/internal/store/postgres/pgtest"
	"github.com/youju/youju/internal/testutil/s3test"
)

// TestServeOnPostgres runs serve with [store] backend = "postgres": an
// account added with the CLI lands in PostgreSQL, mail received on the MX
// port is stored there and IMAP shows it; with every [blobs] backend
// (the bytes in the database, in files, in S3: an in-process fake and
// SeaweedFS).
func TestServeOnPostgres(t *testing.T) {
	t.Run("blobs=postgres", func(t *testing.T) { serveOnPostgres(t, "", nil) })
	t.Run("blobs=files", func(t *testing.T) {
		serveOnPostgres(t, `backend = "files"`, func(t *testing.T, dir string) {
			n := 0
			filepath.WalkDir(filepath.Join(dir, "blobs"), func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					n++
				}
				return nil
			})
			if n != 1 {
				t.Fatalf("%d files in DATA/blobs, want the one message", n)
			}
		})
	})
	t.Run("blobs=s3fake", func(t *testing.T) {
		f, url := s3test.NewFake(t)
		// The bucket must exist: serve does not create it.
		if _, err := s3blobs.Open(context.Background(), s3blobs.Config{Endpoint: url, Bucket: "mail-test", AccessKey: "a", Secret: "s", PathStyle: true, CreateBucket: true}); err != nil {
			t.Fatal(err)
		}
		serveOnPostgres(t, fmt.Sprintf("backend = \"s3\"\nendpoint = %q\nbucket = \"mail-test\"\naccess_key = \"a\"\nsecret = \"s\"\npath_style = true", url),
			func(t *testing.T, dir string) {
				if f.Gets.Load() == 0 {
					t.Fatal("IMAP read the message without a GET from S3")
				}
			})
	})
	t.Run("blobs=s3", func(t *testing.T) {
		c := s3test.Config(t)
		serveOnPostgres(t, fmt.Sprintf("backend = \"s3\"\nendpoint = %q\nbucket = %q\naccess_key = %q\nsecret = %q\npath_style = true\nprefix = %q",
			c.Endpoint, c.Bucket, c.AccessKey, c.Secret, c.Prefix), nil)
	})
}

func serveOnPostgres(t *testing.T, blobs string, check func(t *testing.T, dir string)) {
	dsn := pgtest.DSN(t)
	schema := pgtest.NewSchema(t)
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(context.Background(), `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	c.Close(context.Background())
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()

	dir := newData(t)
	cfgPath := filepath.Join(dir, "youju.toml")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	s := regexp.MustCompile(`(?m)^# backend = "sqlite".*$`).ReplaceAllString(string(b), `backend = "postgres"`)
	s = regexp.MustCompile(`(?m)^# dsn = "".*$`).ReplaceAllString(s, fmt.Sprintf("dsn = %q", u.String()))
	if !strings.Contains(s, `backend = "postgres"`) || !strings.Contains(s, "search_path") {
		t.Fatalf("config template without a [store] section:\n%s", s)
	}
	if blobs != "" {
		if !strings.Contains(s, "\n[blobs]\n") {
			t.Fatalf("config template without a [blobs] section:\n%s", s)
		}
		s = strings.Replace(s, "\n[blobs]\n", "\n[blobs]\n"+blobs+"\n", 1)
	}
	if err := os.WriteFile(cfgPath, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "", "config", "check", "--data", dir)
	mustRun(t, "", "domain", "add", "--data", dir, "example.test")
	mustRun(t, "alicepw\n", "user", "add", "--data", dir, "--password-stdin", "alice@example.test")
	addrs, errs, stop := startServe(t, dir)

	mx, err := smtp.Dial(addrs["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	if err := mx.Mail("sender@remote.test"); err != nil {
		t.Fatal(err)
	}
	if err := mx.Rcpt("alice@example.test"); err != nil {
		t.Fatalf("RCPT: %v\n%s", err, errs)
	}
	mw, _ := mx.Data()
	fmt.Fprint(mw, "From: sender@remote.test\r\nSubject: into postgres\r\n\r\nhello\r\n")
	if err := mw.Close(); err != nil {
		t.Fatalf("MX DATA: %v\n%s", err, errs)
	}
	mx.Quit()
	conn, err := net.Dial("tcp", addrs["imap"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	r.ReadString('\n')
	fmt.Fprintf(conn, "a LOGIN alice@example.test alicepw\r\nb SELECT INBOX\r\nc FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]\r\nd LOGOUT\r\n")
	var all strings.Builder
	for {
		l, err := r.ReadString('\n')
		all.WriteString(l)
		if err != nil || strings.HasPrefix(l, "d ") {
			break
		}
	}
	if !strings.Contains(all.String(), "* 1 EXISTS") || !strings.Contains(all.String(), "Subject: into postgres") {
		t.Fatalf("IMAP on the PostgreSQL store:\n%s", all.String())
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if check != nil {
		check(t, dir)
	}
}
