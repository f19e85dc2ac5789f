package config

import (
	"strings"
	"testing"
)

func TestStoreSection(t *testing.T) {
	for _, tc := range []struct{ file, wantErr string }{
		{"[store]\nbackend = \"mysql\"\n", "store.backend"},
		{"[store]\nbackend = \"postgres\"\n", "store.dsn must be set"},
		{"[store]\ndsn = \"postgres://x\"\n", "store.dsn is for backend"},
		{"[store]\nbakend = \"postgres\"\n", "unknown key store.bakend"},
	} {
		_, err := Parse("youju.toml", []byte("domain = \"a.test\"\n"+tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: err = %v, want it to mention %q", tc.file, err, tc.wantErr)
		}
	}
	c, err := Parse("youju.toml", []byte("domain = \"a.test\"\n[store]\nbackend = \"postgres\"\ndsn = \"postgres://db/youju\"\n"))
	if err != nil || !c.Store.Postgres() || c.Store.DSN != "postgres://db/youju" {
		t.Fatalf("%+v %v", c.Store, err)
	}
	if c, err := Parse("youju.toml", []byte("domain = \"a.test\"\n")); err != nil || c.Store.Postgres() {
		t.Fatalf("default store: %+v %v", c.Store, err)
	}
	// The written file parses back with the default backend.
	if c, err := Parse("youju.toml", Marshal(Default("a.test"))); err != nil || c.Store.Postgres() {
		t.Fatalf("template: %+v %v", c.Store, err)
	}
}

// TestStoreSectionWritten: youju init --store writes the backend and the
// DSN (quoted), and the file reads back the same.
func TestStoreSectionWritten(t *testing.T) {
	c := Default("a.test")
	c.Store = Store{Backend: "postgres", DSN: `postgres://u:p"w@db:5432/youju?sslmode=disable`}
	got, err := Parse("youju.toml", Marshal(c))
	if err != nil || got.Store != c.Store {
		t.Fatalf("read back %+v, %v; want %+v", got.Store, err, c.Store)
	}
}
