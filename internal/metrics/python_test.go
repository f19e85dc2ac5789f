package metrics

import (
	"bytes"
	"encoding/json"
	"maps"
	"os/exec"
	"strings"
	"testing"

	"github.com/youju/youju/internal/testutil"
)

// promScript parses the exposition on stdin with the official Python
// client's parser and prints one JSON object per sample.
const promScript = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        print(json.dumps({"type": fam.type, "name": s.name, "labels": s.labels, "value": s.value}))
`

// TestPrometheusClientParses feeds our output to prometheus_client, an
// independent implementation of the format (Debian python3-prometheus-client).
func TestPrometheusClientParses(t *testing.T) {
	var py string
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import prometheus_client").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		testutil.Missing(t, "python3 with prometheus_client is not installed (apt-get install python3-prometheus-client)")
	}
	var b bytes.Buffer
	small().WriteTo(&b)
	ours, err := parseExposition(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", promScript)
	cmd.Stdin = &b
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("prometheus_client rejected the output: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(ours) {
		t.Fatalf("prometheus_client saw %d samples, we wrote %d:\n%s", len(lines), len(ours), out)
	}
	for i, line := range lines {
		var s struct {
			Type   string
			Name   string
			Labels map[string]string
			Value  float64
		}
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatal(err)
		}
		if s.Name != ours[i].name || !maps.Equal(s.Labels, ours[i].labels) || s.Value != ours[i].value {
			t.Errorf("sample %d: prometheus_client read %+v, we wrote %+v", i, s, ours[i])
		}
		if s.Type == "unknown" || s.Type == "untyped" {
			t.Errorf("sample %s has no type for prometheus_client", s.Name)
		}
	}
}
