// Package pgtest opens PostgreSQL stores for tests: the DSN comes from
// YOUJU_TEST_PG_DSN (or the database .ci/run prepares); a test skips when
// no server is reachable, and fails in CI (CI set). Each store gets a
// schema of its own, dropped when the test ends, so tests are independent
// and may run in parallel.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/store/postgres"
	"github.com/youju/youju/internal/testutil/pgdsn"
)

// DefaultDSN is the database .ci/run prepares; tried when
// YOUJU_TEST_PG_DSN is not set.
const DefaultDSN = pgdsn.Default

// DSN returns the test database's DSN, or skips t (fails it in CI) when
// no server is reachable.
func DSN(t testing.TB) string {
	t.Helper()
	return pgdsn.Get(t)
}

// NewSchema returns the name of a fresh schema, dropped when t ends.
func NewSchema(t testing.TB) string {
	t.Helper()
	d := DSN(t)
	var b [10]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx := context.Background()
		c, err := pgx.Connect(ctx, d)
		if err != nil {
			t.Log("dropping test schema:", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`); err != nil {
			t.Log("dropping test schema:", err)
		}
	})
	return schema
}

// Open opens a store in schema (NewSchema's), closed when t ends.
func Open(t testing.TB, schema string, opts postgres.Options) *postgres.Store {
	t.Helper()
	opts.Schema = schema
	if opts.MaxConns == 0 {
		opts.MaxConns = 8
	}
	s, err := postgres.Open(context.Background(), DSN(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
