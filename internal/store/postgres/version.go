package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// SchemaVersion is the schema version this program migrates to.
func SchemaVersion() int { return len(migrations) }

// Probe connects to the database of dsn without changing anything (for
// youju config check) and returns the server's version and the schema
// version found in it (0: no youju schema yet; Open creates it).
func Probe(ctx context.Context, dsn string) (server string, schema int, err error) {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", 0, fmt.Errorf("postgres: %w", err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	if err := c.QueryRow(ctx, `SHOW server_version`).Scan(&server); err != nil {
		return "", 0, fmt.Errorf("postgres: %w", err)
	}
	err = c.QueryRow(ctx, `SELECT v FROM schema_version`).Scan(&schema)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" || errors.Is(err, pgx.ErrNoRows) {
		return server, 0, nil // undefined_table: a fresh database
	} else if err != nil {
		return server, 0, fmt.Errorf("postgres: schema version: %w", err)
	}
	return server, schema, nil
}
