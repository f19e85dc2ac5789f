package cli

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/web"
)

// TestAdminFlagAndTokens: the first account is admin, the second not;
// user set --admin[=false] switches it and user list shows it; tokens are
// made only for admins, stored hashed, listed and revoked.
func TestAdminFlagAndTokens(t *testing.T) {
	dir := newData(t)
	mustRun(t, "", "user", "add", "--data", dir, "--allow-weak", "boss@example.test")
	mustRun(t, "", "user", "add", "--data", dir, "--allow-weak", "staff@example.test")
	if !account(t, dir, "boss@example.test").Admin || account(t, dir, "staff@example.test").Admin {
		t.Fatal("want the first account admin and only it")
	}
	if code, _, errs := run(t, "", "admin", "token", "create", "--data", dir, "staff@example.test"); code == 0 || !strings.Contains(errs, "not an admin") {
		t.Fatalf("token for a non-admin: exit %d, %s", code, errs)
	}
	mustRun(t, "", "user", "set", "--data", dir, "--admin", "staff@example.test")
	if !account(t, dir, "staff@example.test").Admin {
		t.Fatal("--admin did not make staff admin")
	}
	list := mustRun(t, "", "user", "list", "--data", dir)
	if !regexp.MustCompile(`(?m)^staff@example\.test .*admin\s*$`).MatchString(list) {
		t.Fatalf("user list does not show the admin:\n%s", list)
	}
	out := mustRun(t, "", "admin", "token", "create", "--data", dir, "--name", "ci", "staff@example.test")
	secret := regexp.MustCompile(`yjat_[A-Za-z0-9_-]+`).FindString(out)
	if secret == "" {
		t.Fatalf("no token printed:\n%s", out)
	}
	var tok store.APIToken
	err := withStore(context.Background(), dir, func(_ config.Config, st store.Accounts) error {
		var err error
		tok, err = st.(store.APITokens).APITokenByHash(context.Background(), web.APITokenHash(secret))
		return err
	})
	if err != nil || tok.Name != "ci" {
		t.Fatalf("the printed token is not in the store: %+v, %v", tok, err)
	}
	if out := mustRun(t, "", "admin", "token", "list", "--data", dir, "staff@example.test"); !strings.Contains(out, "ci") || strings.Contains(out, secret) {
		t.Fatalf("token list:\n%s", out)
	}
	mustRun(t, "", "admin", "token", "revoke", "--data", dir, "staff@example.test", "1")
	if out := mustRun(t, "", "admin", "token", "list", "--data", dir, "staff@example.test"); !strings.Contains(out, "no API tokens") {
		t.Fatalf("after revoke:\n%s", out)
	}
	mustRun(t, "", "user", "set", "--data", dir, "--admin=false", "staff@example.test")
	if account(t, dir, "staff@example.test").Admin {
		t.Fatal("--admin=false left staff admin")
	}
}
