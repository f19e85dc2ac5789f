package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestYoujuDataEnv: the README's production block exports YOUJU_DATA and
// then runs init, user add and dns without --data; they must all act on
// that directory.
func TestYoujuDataEnv(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	t.Setenv("YOUJU_DATA", dir)
	mustRun(t, "", "init", "--domain", "example.test")
	mustRun(t, "pw\n", "user", "add", "--password-stdin", "alice@example.test")
	if a := account(t, dir, "alice@example.test"); a.Address != "alice@example.test" {
		t.Fatalf("account in %s: %+v", dir, a)
	}
	if out := mustRun(t, "", "dns"); !strings.Contains(out, "example.test.") {
		t.Errorf("dns without --data did not read %s:\n%s", dir, out)
	}
}
