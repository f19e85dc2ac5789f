// Package pgdsn finds the PostgreSQL server tests use: the DSN comes from
// YOUJU_TEST_PG_DSN, else the database .ci/run prepares; a test skips when
// no server is reachable, and fails in CI (CI set). A package of its own
// so that the postgres package's internal tests and pgtest (which imports
// postgres) share it without an import cycle, and testutil stays free of
// pgx.
package pgdsn

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/testutil"
)

// Default is the database .ci/run prepares; tried when YOUJU_TEST_PG_DSN
// is not set.
const Default = "postgres://youju_test:youju_test@127.0.0.1:5432/youju_test?sslmode=disable"

var (
	once   sync.Once
	dsn    string
	dsnErr error
)

// Get returns the test database's DSN, or skips t (fails it in CI) when
// no server is reachable. The server is tried once per test binary.
func Get(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		dsn = os.Getenv("YOUJU_TEST_PG_DSN")
		if dsn == "" {
			dsn = Default
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			dsnErr = err
			return
		}
		c.Close(ctx)
	})
	if dsnErr != nil {
		testutil.Missing(t, "PostgreSQL is not reachable (set YOUJU_TEST_PG_DSN; .ci/run starts it): "+dsnErr.Error())
	}
	return dsn
}

// Value returns the DSN Get found ("" before any Get), for clean-ups that
// run after the tests (TestMain) and have no testing.TB.
func Value() string {
	if dsnErr != nil {
		return ""
	}
	return dsn
}
