package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/store/postgres"
)

// configChecks reach the servers a configuration names (config check):
// each returns a line to print, or an error. Other shared services (the
// blob storage's [blobs]) add theirs here.
var configChecks = []func(ctx context.Context, c config.Config) (string, error){
	checkPostgres,
}

// checkPostgres connects to the [store] database and compares its schema
// version with this program's.
func checkPostgres(ctx context.Context, c config.Config) (string, error) {
	if !c.Store.Postgres() {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	server, v, err := postgres.Probe(ctx, c.Store.DSN)
	if err != nil {
		return "", fmt.Errorf("store.dsn: %w", err)
	}
	want := postgres.SchemaVersion()
	switch {
	case v > want:
		return "", fmt.Errorf("store.dsn: the schema is at version %d, newer than this program's %d: upgrade youju first", v, want)
	case v == 0:
		return fmt.Sprintf("PostgreSQL %s: reachable, no youju schema yet (serve or init creates version %d).", server, want), nil
	case v < want:
		return fmt.Sprintf("PostgreSQL %s: reachable, schema version %d (serve migrates it to %d).", server, v, want), nil
	}
	return fmt.Sprintf("PostgreSQL %s: reachable, schema version %d (current).", server, v), nil
}
