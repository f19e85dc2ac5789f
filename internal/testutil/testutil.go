// Package testutil holds helpers shared by tests.
package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// NeedCommand returns the path of the program name, for interoperability
// tests with third-party clients. Where it is missing the test is skipped
// on a developer's machine, but fails in CI (CI set): .ci/run installs
// every such program, so a missing one there is a broken CI script, not a
// reason to test less.
func NeedCommand(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	Missing(t, name+" is not installed ("+install+")")
	return ""
}

// Missing skips (locally) or fails (in CI) a test whose third-party
// dependency is absent.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: required in CI; add it to .ci/run", why)
	}
	t.Skip(why + ": skipped (CI installs it)")
}
