package spam

import (
	"context"
	"testing"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
)

// TestGreylistShared runs the greylisting rules with the state in a
// store (SQLite here; internal/cli's two-node test uses PostgreSQL): the
// second Greylist, like a second node, sees what the first recorded.
func TestGreylistShared(t *testing.T) {
	st := openState(t)
	testGreylist(t, func() *Greylist {
		g, _ := OpenGreylist("")
		g.State = st
		return g
	}, func(*Greylist) {})
}

// openState opens a state store (SQLite, in a temporary directory) for
// the shared-state tests, closed at the end of the test.
func openState(t *testing.T) store.StateStore {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
