package migrate

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadProgress: whatever the progress file holds (a disk error, an
// edit), loading it either works or says so; it never panics.
func FuzzLoadProgress(f *testing.F) {
	f.Add([]byte(`{"mailboxes":{"a@b\u0000INBOX\u00001":42}}`))
	f.Add([]byte(`{"mailboxes":null}`))
	f.Add([]byte(`{"mailboxes":{"x":-1}}`))
	f.Add([]byte(`[`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "progress.json")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		c := &copier{opt: Options{StateFile: p}, st: state{Mailboxes: map[string]uint32{}}}
		if err := c.load(); err == nil && c.st.Mailboxes == nil {
			t.Fatal("loaded without a map")
		}
	})
}
