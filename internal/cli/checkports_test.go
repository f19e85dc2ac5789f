package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/youju/youju/internal/config"
)

func TestConfigCheckWebPorts(t *testing.T) {
	dir := newData(t)
	out := mustRun(t, "", "config", "check", "--data", dir)
	if strings.Contains(out, "warning") {
		t.Errorf("warnings with the default ports:\n%s", out)
	}
	path := filepath.Join(dir, config.FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	if !strings.Contains(conf, "port_offset") && !strings.Contains(conf, "[listeners]") {
		t.Fatalf("template has no listeners section:\n%s", conf)
	}
	os.WriteFile(path, []byte(strings.Replace(conf, "[listeners]", "[listeners]\nhttp = \":8080\"", 1)), 0o600)
	out = mustRun(t, "", "config", "check", "--data", dir)
	if !strings.Contains(out, "http is on 8080, not port 80") || !strings.Contains(out, "autoconfig") {
		t.Errorf("no warning for http on 8080:\n%s", out)
	}
	if strings.Contains(out, "https is on") {
		t.Errorf("https warned although on 443:\n%s", out)
	}
}
