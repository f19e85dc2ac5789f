package postgres

import (
	"testing"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/storetest"
)

// TestConformance runs the backend-agnostic suite on PostgreSQL, each
// store in a schema of its own.
func TestConformance(t *testing.T) {
	testDSN(t)
	storetest.Run(t, func(t *testing.T, dir string) store.Store {
		return openStore(t, dir)
	})
}
