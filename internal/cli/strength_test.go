package cli

import (
	"strings"
	"testing"

	"github.com/youju/youju/internal/auth"
)

// The fixtures of this package use short passwords ("pw"); the rule is
// tested on its own below.
func init() { testAllowWeak = true }

func TestUserAddPasswordStrength(t *testing.T) {
	testAllowWeak = false
	defer func() { testAllowWeak = true }()
	dir := newData(t)
	for _, pw := range []string{"short", "1234567890", "Password2024"} {
		code, _, errs := run(t, pw+"\n", "user", "add", "--data", dir, "--password-stdin", "alice@example.test")
		if code == 0 || !strings.Contains(errs, "--allow-weak") {
			t.Errorf("user add with %q: exit %d, stderr %q; want a refusal naming --allow-weak", pw, code, errs)
		}
	}
	if out := mustRun(t, "", "user", "list", "--data", dir); strings.Contains(out, "alice@") {
		t.Fatalf("a refused account was created:\n%s", out)
	}
	mustRun(t, "a long enough passphrase\n", "user", "add", "--data", dir, "--password-stdin", "alice@example.test")
	mustRun(t, "", "user", "add", "--data", dir, "bob@example.test") // generated: always strong
	mustRun(t, "pw\n", "user", "add", "--data", dir, "--password-stdin", "--allow-weak", "carol@example.test")

	if code, _, errs := run(t, "qwertyuiop\n", "user", "passwd", "--data", dir, "--password-stdin", "alice@example.test"); code == 0 || !strings.Contains(errs, "common") {
		t.Errorf("user passwd with a common password: exit %d, stderr %q", code, errs)
	}
	mustRun(t, "qwertyuiop\n", "user", "passwd", "--data", dir, "--password-stdin", "--allow-weak", "alice@example.test")
	a := account(t, dir, "alice@example.test")
	if !auth.VerifyPassword(a.PasswordHash, "qwertyuiop") {
		t.Fatal("user passwd --allow-weak did not set the password")
	}
}
