package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/testutil/pgdsn"
	"github.com/youju/youju/internal/testutil/s3test"
)

var ctx = context.Background()

func TestMain(m *testing.M) {
	code := m.Run()
	if bigStore != nil {
		bigStore.Close()
		if c, err := pgx.Connect(ctx, pgdsn.Value()); err == nil {
			c.Exec(ctx, `DROP SCHEMA IF EXISTS `+bigSchema+` CASCADE`)
			c.Close(ctx)
		}
	}
	s3test.Stop()
	os.Exit(code)
}

// testDSN returns the test database's DSN, or skips (fails in CI) when no
// server is reachable.
func testDSN(t testing.TB) string {
	t.Helper()
	return pgdsn.Get(t)
}

// schemaFor names the schema of a test store directory: a fresh one per
// directory, so tests are independent and may run in parallel, and the
// same one when the directory is opened again.
func schemaFor(dir string) string {
	h := sha256.Sum256([]byte(dir + "|" + os.Getenv("HOSTNAME")))
	return "t_" + hex.EncodeToString(h[:12])
}

var dropped sync.Map // schema → registered for dropping

// openSchema opens a store in schema, dropping the schema at the end of
// the test that first opened it.
func openSchema(t testing.TB, schema string, opts Options) *Store {
	t.Helper()
	dsn := testDSN(t)
	opts.Schema = schema
	if opts.MaxConns == 0 {
		opts.MaxConns = 8
	}
	s, err := Open(ctx, dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, loaded := dropped.LoadOrStore(schema, true); !loaded {
		t.Cleanup(func() {
			c, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Log("dropping test schema:", err)
				return
			}
			defer c.Close(ctx)
			if _, err := c.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`); err != nil {
				t.Log("dropping test schema:", err)
			}
		})
	}
	return s
}

// openStore opens the store of a test directory.
func openStore(t testing.TB, dir string) *Store {
	return openSchema(t, schemaFor(dir), Options{})
}

func newAccount(t testing.TB, s store.Store, addr string) store.Account {
	t.Helper()
	a, err := s.CreateAccount(ctx, store.Account{Address: addr, AllowIMAP: true})
	if err != nil {
		t.Fatal(err)
	}
	return a
}
