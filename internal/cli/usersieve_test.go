package cli

import (
	"context"
	"fmt"
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

// TestUserSieveForwardLimit: the administrator's put goes through the
// same forwarding guard as ManageSieve ([spam] max_forwards, default 5):
// a script forwarding to more destinations is not activated, one within
// the limit is, and the new destination is reported.
func TestUserSieveForwardLimit(t *testing.T) {
	dir := newData(t)
	mustRun(t, "secret-password-1\n", "user", "add", "--data", dir, "--password-stdin", "ann@example.test")
	var many strings.Builder
	for i := range sieve.DefaultMaxForwards + 1 {
		fmt.Fprintf(&many, "redirect \"x%d@elsewhere.example\";\n", i)
	}
	code, _, errs := run(t, many.String(), "user", "sieve", "--data", dir, "put", "--activate", "ann@example.test", "many")
	if code == 0 || !strings.Contains(errs, "forward") {
		t.Fatalf("%d destinations: exit %d, stderr %q", sieve.DefaultMaxForwards+1, code, errs)
	}
	if out := mustRun(t, "", "user", "sieve", "--data", dir, "list", "ann@example.test"); strings.Contains(out, "(active)") {
		t.Fatalf("the script over the limit is active:\n%s", out)
	}
	code, _, errs = run(t, "redirect \"boss@elsewhere.example\";\n", "user", "sieve", "--data", dir, "put", "--activate", "ann@example.test", "one")
	if code != 0 || !strings.Contains(errs, "boss@elsewhere.example") {
		t.Fatalf("one destination: exit %d, stderr %q", code, errs)
	}
}
