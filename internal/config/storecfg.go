package config

import (
	"fmt"
	"strings"
)

// Store chooses the mail store's backend: "sqlite" (the default: the
// index and the blobs in the data directory, one process) or "postgres"
// (index and blobs in PostgreSQL, shared by every node that names the
// same database; see docs/architecture.md, "The PostgreSQL store").
type Store struct {
	Backend string `toml:"backend"`
	// DSN is the PostgreSQL connection string for backend "postgres"
	// (postgres://user:password@host:5432/db?sslmode=verify-full, or the
	// key=value form).
	DSN string `toml:"dsn"`
}

// Postgres reports whether the PostgreSQL backend is chosen.
func (s *Store) Postgres() bool { return s.Backend == "postgres" }

// Validate checks the store settings; errors name the key.
func (s *Store) Validate() error {
	switch s.Backend {
	case "", "sqlite":
		if s.DSN != "" {
			return fmt.Errorf("store.dsn is for backend \"postgres\", not %q", s.Backend)
		}
	case "postgres":
		if strings.TrimSpace(s.DSN) == "" {
			return fmt.Errorf("store.dsn must be set for backend \"postgres\"")
		}
	default:
		return fmt.Errorf("store.backend %q: want \"sqlite\" or \"postgres\"", s.Backend)
	}
	return nil
}
