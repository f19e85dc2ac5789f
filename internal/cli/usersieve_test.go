package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/youju/youju/internal/sieve"
)

// TestUserSieve checks `youju user sieve`: a script with an error is
// refused with its line and column, a good one is stored and activated,
// listed, read back, and deactivated; the store delivery reads sees it.
func TestUserSieve(t *testing.T) {
	dir := newData(t)
	mustRun(t, "secret-password-1\n", "user", "add", "--data", dir, "--password-stdin", "ann@example.test")

	code, _, errs := run(t, "if header :contains \"subject\" \"发票\" {\n  fileinto \"发票\"\n", "user", "sieve", "--data", dir, "put", "ann@example.test", "rules")
	if code == 0 || !strings.Contains(errs, "line ") {
		t.Fatalf("a broken script: exit %d, stderr %q", code, errs)
	}
	src := "require \"fileinto\";\nif header :contains \"subject\" \"发票\" {\n  fileinto \"发票\";\n}\n"
	mustRun(t, src, "user", "sieve", "--data", dir, "put", "--activate", "ann@example.test", "rules")
	mustRun(t, "keep;\n", "user", "sieve", "--data", dir, "put", "ann@example.test", "spare")
	if out := mustRun(t, "", "user", "sieve", "--data", dir, "list", "ann@example.test"); !strings.Contains(out, "rules (active)\n") || !strings.Contains(out, "spare\n") {
		t.Fatalf("list:\n%s", out)
	}
	if out := mustRun(t, "", "user", "sieve", "--data", dir, "get", "ann@example.test", "rules"); out != src {
		t.Fatalf("get: %q, want %q", out, src)
	}
	a := account(t, dir, "ann@example.test")
	fs := &sieve.FileStore{Dir: filepath.Join(dir, "sieve")}
	if s, name, err := fs.Active(context.Background(), a.ID); err != nil || s == nil || name != "rules" {
		t.Fatalf("active script for delivery: %v %q %v", s, name, err)
	}
	mustRun(t, "", "user", "sieve", "--data", dir, "activate", "ann@example.test", "-")
	if out := mustRun(t, "", "user", "sieve", "--data", dir, "list", "ann@example.test"); strings.Contains(out, "(active)") {
		t.Fatalf("after deactivation:\n%s", out)
	}
	if code, _, _ := run(t, "", "user", "sieve", "--data", dir, "list", "nobody@example.test"); code == 0 {
		t.Fatal("list of an unknown account succeeded")
	}
}
