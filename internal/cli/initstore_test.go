package cli

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/store/postgres"
	"github.com/youju/youju/internal/store/postgres/pgtest"
)

// schemaDSN returns the test database's DSN with a fresh schema as its
// search_path.
func schemaDSN(t *testing.T) string {
	t.Helper()
	dsn := pgtest.DSN(t)
	schema := pgtest.NewSchema(t)
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(), `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestInitStorePostgres: three nodes run `youju init --store` on one
// empty database at once: each writes a config naming it, the schema is
// prepared once (advisory lock), and `config check` reaches the database
// and reports the schema current; a DSN nobody answers fails the check.
func TestInitStorePostgres(t *testing.T) {
	dsn := schemaDSN(t)
	base := t.TempDir()
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dir := filepath.Join(base, fmt.Sprint("node", i))
			if code, out, errs := run(t, "", "init", "--data", dir, "--domain", "example.test", "--store", dsn); code != 0 {
				t.Errorf("init node%d: exit %d\n%s\n%s", i, code, out, errs)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	dir := filepath.Join(base, "node1")
	b, err := os.ReadFile(filepath.Join(dir, "youju.toml"))
	if err != nil || !strings.Contains(string(b), "backend = \"postgres\"") || !strings.Contains(string(b), fmt.Sprintf("dsn = %q", dsn)) {
		t.Fatalf("config: %v\n%s", err, b)
	}
	if _, err := os.Stat(filepath.Join(dir, "mail")); err == nil {
		t.Error("init --store made a SQLite store too")
	}
	want := fmt.Sprintf("schema version %d (current)", postgres.SchemaVersion())
	if out := mustRun(t, "", "config", "check", "--data", dir); !strings.Contains(out, want) {
		t.Errorf("config check does not report %q:\n%s", want, out)
	}
	// The domain is there once, for every node.
	mustRun(t, "pw\n", "user", "add", "--data", filepath.Join(base, "node2"), "--password-stdin", "a@example.test")
	if out := mustRun(t, "", "user", "list", "--data", dir); !strings.Contains(out, "a@example.test") {
		t.Errorf("node1 does not see node2's account:\n%s", out)
	}

	// Nobody listens on port 1.
	cfg := filepath.Join(dir, "youju.toml")
	os.WriteFile(cfg, []byte(strings.Replace(string(b), dsn, "postgres://u:p@127.0.0.1:1/x?connect_timeout=2", 1)), 0o600)
	if code, _, errs := run(t, "", "config", "check", "--data", dir); code == 0 || !strings.Contains(errs, "store.dsn") {
		t.Errorf("config check with an unreachable database: exit %d, %s", code, errs)
	}
}
