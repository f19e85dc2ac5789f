package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/dkimkeys"
)

// TestConfigARCSeal: [outbound] arc_seal is on by default and seals with
// the domain's DKIM key; off, the delivery target gets no sealer and
// config check says so; on without a key, config check warns.
func TestConfigARCSeal(t *testing.T) {
	dir := newData(t)
	out := mustRun(t, "", "config", "check", "--data", dir)
	if !strings.Contains(out, "ARC: forwarded mail is sealed as example.test with DKIM key y1r (rsa-sha256).") {
		t.Errorf("config check, default:\n%s", out)
	}
	c, err := config.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if arcSealer(dir, c) == nil {
		t.Error("no sealer with arc_seal on")
	}

	path := filepath.Join(dir, config.FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off := strings.Replace(string(b), "[outbound]\n", "[outbound]\narc_seal = false\n", 1)
	if off == string(b) {
		t.Fatal("no [outbound] table in the generated config")
	}
	if err := os.WriteFile(path, []byte(off), 0o600); err != nil {
		t.Fatal(err)
	}
	out = mustRun(t, "", "config", "check", "--data", dir)
	if !strings.Contains(out, "ARC: off (outbound.arc_seal = false)") {
		t.Errorf("config check, arc_seal = false:\n%s", out)
	}
	if c, err = config.Load(dir); err != nil {
		t.Fatal(err)
	}
	if s := arcSealer(dir, c); s != nil {
		t.Errorf("arc_seal = false still gives a sealer: %#v", s)
	}

	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dkimkeys.Dir(dir, "example.test")); err != nil {
		t.Fatal(err)
	}
	out = mustRun(t, "", "config", "check", "--data", dir)
	if !strings.Contains(out, "warning: outbound.arc_seal is on but example.test has no DKIM key") {
		t.Errorf("config check without keys:\n%s", out)
	}
}
