package cli

import (
	"strings"
	"testing"
	"time"
)

// TestIndexStatus: `youju index status` answers with and without a
// running server (through control.sock while serve holds the store),
// and reaches 0 once the indexer has nothing left.
func TestIndexStatus(t *testing.T) {
	dir := newData(t)
	mustRun(t, "", "user", "add", "--data", dir, "dave@example.test")
	if out := mustRun(t, "", "index", "status", "--data", dir); !strings.HasPrefix(out, "0 messages waiting") {
		t.Fatalf("index status of an empty store: %q", out)
	}
	_, _, stop := startServe(t, dir)
	defer stop()
	out := ""
	for deadline := time.Now().Add(20 * time.Second); ; {
		out = mustRun(t, "", "index", "status", "--data", dir)
		if strings.HasPrefix(out, "0 messages waiting") || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.HasPrefix(out, "0 messages waiting") {
		t.Fatalf("index status while serving: %q", out)
	}
	if code, _, _ := run(t, "", "index", "status", "--data", dir, "extra"); code == 0 {
		t.Fatal("index status with an argument succeeded")
	}
}
