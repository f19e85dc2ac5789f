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

	"github.com/youju/youju/internal/store/postgres/pgtest"
)

// TestServeOnPostgres runs serve with [store] backend = "postgres": an
// account added with the CLI lands in PostgreSQL, mail received on the MX
// port is stored there and IMAP shows it.
func TestServeOnPostgres(t *testing.T) {
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
	if err := os.WriteFile(cfgPath, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
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
}
