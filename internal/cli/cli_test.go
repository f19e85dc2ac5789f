package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/store"
)

// run runs the command line as main does and returns exit status, stdout
// and stderr.
func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	code, out, errs := run(t, stdin, args...)
	if code != 0 {
		t.Fatalf("youju %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func newData(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	out := mustRun(t, "", "init", "--data", dir, "--domain", "Example.TEST")
	if !strings.Contains(out, "youju user add --data "+dir+" you@example.test") {
		t.Fatalf("init did not say what to do next:\n%s", out)
	}
	return dir
}

// account reads an account straight from the store.
func account(t *testing.T, dir, addr string) store.Account {
	t.Helper()
	var a store.Account
	err := withStore(context.Background(), dir, func(_ config.Config, st store.Accounts) error {
		var err error
		a, err = st.Account(context.Background(), addr)
		return err
	})
	if err != nil {
		t.Fatalf("account %s: %v", addr, err)
	}
	return a
}

func TestInitCreatesConfigCertAndStore(t *testing.T) {
	dir := newData(t)
	for _, f := range []string{"youju.toml", "tls/cert.pem", "tls/key.pem", "mail"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("init did not create %s: %v", f, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "tls/key.pem")); err == nil && fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("key file mode %v is readable by others", fi.Mode())
	}
	c, err := config.Load(dir)
	if err != nil || c.Domain != "example.test" || c.Hostname != "mail.example.test" {
		t.Fatalf("config = %+v, %v", c, err)
	}
	if out := mustRun(t, "", "domain", "list", "--data", dir); out != "example.test\n" {
		t.Errorf("domain list = %q", out)
	}
	code, _, errs := run(t, "", "init", "--data", dir, "--domain", "example.test")
	if code == 0 || !strings.Contains(errs, "exists already") {
		t.Errorf("second init: exit %d, %q", code, errs)
	}
	out := mustRun(t, "", "config", "check", "--data", dir)
	if !strings.Contains(out, "is valid") || !strings.Contains(out, "imaps") {
		t.Errorf("config check said %q", out)
	}
}

func TestUserLifecycle(t *testing.T) {
	dir := newData(t)
	// Flags after the argument, password from standard input.
	out := mustRun(t, "s3cret pass\n", "user", "add", "Alice@example.test", "--data", dir, "--password-stdin")
	if strings.Contains(out, "Password:") {
		t.Errorf("a password was printed although it came from stdin: %q", out)
	}
	a := account(t, dir, "alice@example.test")
	if !auth.VerifyPassword(a.PasswordHash, "s3cret pass") || !a.AllowIMAP || !a.AllowPOP3 || !a.AllowSMTP || a.Disabled {
		t.Fatalf("account after add: %+v", a)
	}
	// Generated password, printed once, and it works.
	out = mustRun(t, "", "user", "add", "--data", dir, "bob@example.test")
	m := regexp.MustCompile(`Password: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no generated password in %q", out)
	}
	if !auth.VerifyPassword(account(t, dir, "bob@example.test").PasswordHash, m[1]) {
		t.Fatal("the printed password does not verify")
	}
	mustRun(t, "new pw\n", "user", "passwd", "--data", dir, "--password-stdin", "alice@example.test")
	if !auth.VerifyPassword(account(t, dir, "alice@example.test").PasswordHash, "new pw") {
		t.Fatal("passwd did not change the password")
	}
	mustRun(t, "", "user", "disable", "--data", dir, "alice@example.test")
	if !account(t, dir, "alice@example.test").Disabled {
		t.Fatal("disable did not disable")
	}
	mustRun(t, "", "user", "enable", "--data", dir, "alice@example.test")
	mustRun(t, "", "user", "set", "--data", dir, "--pop3", "off", "--quota", "1000000", "--pop3-delete", "trash", "alice@example.test")
	a = account(t, dir, "alice@example.test")
	if a.Disabled || a.AllowPOP3 || !a.AllowIMAP || a.QuotaBytes != 1000000 || a.POP3.Delete != store.POP3DeleteTrash {
		t.Fatalf("after enable + set: %+v", a)
	}
	list := mustRun(t, "", "user", "list", "--data", dir)
	if !regexp.MustCompile(`alice@example.test\s+active\s+on\s+off\s+on`).MatchString(list) || !strings.Contains(list, "bob@example.test") {
		t.Fatalf("user list:\n%s", list)
	}
	mustRun(t, "", "user", "del", "--data", dir, "bob@example.test")
	if strings.Contains(mustRun(t, "", "user", "list", "--data", dir), "bob@") {
		t.Fatal("bob still listed after del")
	}
}

func TestAppPasswords(t *testing.T) {
	dir := newData(t)
	mustRun(t, "pw\n", "user", "add", "--data", dir, "--password-stdin", "alice@example.test")
	out := mustRun(t, "", "apppass", "add", "--data", dir, "alice@example.test", "iPhone")
	m := regexp.MustCompile(`: (\S{16})\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no app password printed: %q", out)
	}
	var st store.Accounts
	err := withStore(context.Background(), dir, func(_ config.Config, s store.Accounts) error {
		st = s
		authn := auth.New(s, auth.Options{})
		_, err := authn.Login(context.Background(), auth.Request{Username: "alice@example.test", Password: m[1], Service: store.ServiceIMAP})
		return err
	})
	if err != nil || st == nil {
		t.Fatalf("login with the app password: %v", err)
	}
	if list := mustRun(t, "", "apppass", "list", "--data", dir, "alice@example.test"); !strings.Contains(list, "iPhone") {
		t.Fatalf("apppass list: %q", list)
	}
	if code, _, errs := run(t, "", "apppass", "add", "--data", dir, "alice@example.test", "iPhone"); code == 0 || !strings.Contains(errs, "already") {
		t.Fatalf("duplicate app password: %d %q", code, errs)
	}
	mustRun(t, "", "apppass", "del", "--data", dir, "alice@example.test", "iPhone")
	err = withStore(context.Background(), dir, func(_ config.Config, s store.Accounts) error {
		_, err := auth.New(s, auth.Options{}).Login(context.Background(), auth.Request{Username: "alice@example.test", Password: m[1]})
		return err
	})
	if err == nil {
		t.Fatal("revoked app password still logs in")
	}
}

func TestAliasesAndDomains(t *testing.T) {
	dir := newData(t)
	mustRun(t, "", "domain", "add", "--data", dir, "example.org")
	mustRun(t, "pw\n", "user", "add", "--data", dir, "--password-stdin", "bob@example.org")
	mustRun(t, "", "alias", "add", "--data", dir, "sales@example.test", "bob@example.org", "boss@elsewhere.test")
	mustRun(t, "", "alias", "add", "--data", dir, "@example.org", "bob@example.org")
	list := mustRun(t, "", "alias", "list", "--data", dir)
	for _, want := range []string{"sales@example.test -> bob@example.org, boss@elsewhere.test", "@example.org -> bob@example.org"} {
		if !strings.Contains(list, want) {
			t.Errorf("alias list lacks %q:\n%s", want, list)
		}
	}
	if code, _, errs := run(t, "", "alias", "add", "--data", dir, "x@notours.test", "bob@example.org"); code != 1 || !strings.Contains(errs, "not a local domain") {
		t.Errorf("alias on a foreign domain: %d %q", code, errs)
	}
	if code, _, errs := run(t, "", "domain", "del", "--data", dir, "example.org"); code != 1 || !strings.Contains(errs, "still has") {
		t.Errorf("deleting a domain in use: %d %q", code, errs)
	}
	mustRun(t, "", "alias", "del", "--data", dir, "@example.org")
	if strings.Contains(mustRun(t, "", "alias", "list", "--data", dir), "@example.org ->") {
		t.Error("catch-all still listed after del")
	}
}

func TestErrorsAreOneLineAndNonZero(t *testing.T) {
	dir := newData(t)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"user"}, 2, "user needs one of"},
		{[]string{"user", "add", "--data", dir}, 2, "usage: youju user add"},
		{[]string{"user", "add", "--data", dir, "not-an-address"}, 1, "not a valid address"},
		{[]string{"user", "add", "--data", dir, "x@other.test"}, 1, "not a local domain"},
		{[]string{"user", "passwd", "--data", dir, "nobody@example.test"}, 1, "no account nobody@example.test"},
		{[]string{"user", "set", "--data", dir, "--pop3", "maybe", "a@example.test"}, 2, "want on or off"},
		{[]string{"user", "list", "--data", filepath.Join(dir, "missing")}, 1, "run 'youju init"},
		{[]string{"init", "--data", dir + "2"}, 2, "needs --domain"},
		{[]string{"serve", "--data", dir, "--bogus"}, 2, "flag provided but not defined"},
	}
	for _, tc := range tests {
		code, _, errs := run(t, "", tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("youju %v: exit %d, stderr %q; want exit %d and one line with %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
	if code, out, _ := run(t, "", "user", "add", "--help"); code != 0 || !strings.Contains(out, "--password-stdin") {
		t.Errorf("user add --help: %d %q", code, out)
	}
	if code, out, _ := run(t, "", "--help"); code != 0 || !strings.Contains(out, "serve") {
		t.Errorf("--help: %d %q", code, out)
	}
}
