package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// TestProfileWindow opens and closes a window and finds its four files.
func TestProfileWindow(t *testing.T) {
	w := &profileWindow{dir: t.TempDir()}
	if err := w.toggle(); err != nil {
		t.Fatal("open:", err)
	}
	if w.cpu == nil {
		t.Fatal("window not open")
	}
	if err := w.toggle(); err != nil {
		t.Fatal("close:", err)
	}
	if w.cpu != nil {
		t.Fatal("window still open")
	}
	for _, name := range []string{"cpu.prof", "trace.out", "block.prof", "mutex.prof"} {
		fi, err := os.Stat(filepath.Join(w.dir, name))
		if err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v (size %v)", name, err, fi)
		}
	}
}
