package sieve

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
)

// TestStateScripts runs the script store's contract on the state-store
// implementation (over SQLite here; internal/cli's two-node test runs it
// on PostgreSQL) and on the file store, and checks that a second
// StateScripts on the same state (another node) sees every change.
func TestStateScripts(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a, b := &StateScripts{State: st}, &StateScripts{State: st}
	testScriptsContract(t, a, b)
	dir := t.TempDir()
	testScriptsContract(t, &FileStore{Dir: dir}, &FileStore{Dir: dir})
}

type scriptStore interface {
	Scripts
	Tracker
}

// testScriptsContract: x and y are two views of one store (two nodes, or
// before and after a restart).
func testScriptsContract(t *testing.T, x, y scriptStore) {
	ctx := context.Background()
	const acct = store.AccountID(7)
	if s, _, err := x.Active(ctx, acct); s != nil || err != nil {
		t.Fatalf("no scripts: %v %v", s, err)
	}
	if err := x.Put(ctx, acct, "a/../b", "keep;"); err != nil {
		t.Fatal(err)
	}
	if err := x.Put(ctx, acct, "bad\nname", "keep;"); err != ErrBadName {
		t.Errorf("bad name: %v", err)
	}
	if err := x.SetActive(ctx, acct, "a/../b"); err != nil {
		t.Fatal(err)
	}
	if err := x.SetActive(ctx, acct, "none"); err != ErrNoScript {
		t.Errorf("activate a missing script: %v", err)
	}
	s, name, err := y.Active(ctx, acct)
	if err != nil || s == nil || name != "a/../b" {
		t.Fatalf("active seen by the other: %q %v", name, err)
	}
	time.Sleep(10 * time.Millisecond) // the file store's mtime check
	if err := x.Put(ctx, acct, "a/../b", "discard;"); err != nil {
		t.Fatal(err)
	}
	if s2, _, _ := y.Active(ctx, acct); s2 == s {
		t.Error("the other's cached script returned after a change")
	}
	if err := y.Delete(ctx, acct, "a/../b"); err != ErrActive {
		t.Errorf("delete active: %v", err)
	}
	if err := x.Put(ctx, acct, "c", "keep;"); err != nil {
		t.Fatal(err)
	}
	if err := x.Rename(ctx, acct, "a/../b", "c"); err != ErrExists {
		t.Errorf("rename onto an existing name: %v", err)
	}
	if err := x.Delete(ctx, acct, "c"); err != nil {
		t.Fatal(err)
	}
	if err := x.Rename(ctx, acct, "a/../b", "c"); err != nil {
		t.Fatal(err)
	}
	if list, _ := y.List(ctx, acct); len(list) != 1 || list[0].Name != "c" || !list[0].Active {
		t.Errorf("list %+v", list)
	}
	if src, err := y.Get(ctx, acct, "c"); err != nil || src != "discard;" {
		t.Errorf("get renamed: %q %v", src, err)
	}
	if list, _ := y.List(ctx, acct+1); len(list) != 0 {
		t.Errorf("another account sees %+v", list)
	}
	for i := 0; i < MaxScripts-1; i++ {
		if err := x.Put(ctx, acct, fmt.Sprint("s", i), "keep;"); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Put(ctx, acct, "one-too-many", "keep;"); err != ErrTooMany {
		t.Errorf("script %d: %v", MaxScripts+1, err)
	}
	if err := x.SetActive(ctx, acct, ""); err != nil {
		t.Fatal(err)
	}
	if s, _, err := y.Active(ctx, acct); s != nil || err != nil {
		t.Errorf("deactivated: %v %v", s, err)
	}
	ok1, _ := x.Respond(ctx, acct, "k", time.Hour)
	ok2, _ := x.Respond(ctx, acct, "k", time.Hour)
	ok3, _ := y.Respond(ctx, acct, "k", time.Hour)
	ok4, _ := y.Respond(ctx, acct+1, "k", time.Hour)
	if !ok1 || ok2 || ok3 || !ok4 {
		t.Errorf("vacation tracking: %v %v %v %v, want true false false true", ok1, ok2, ok3, ok4)
	}
	r1, _ := y.Recorded(ctx, acct, "k")
	r2, _ := y.Recorded(ctx, acct, "other")
	if !r1 || r2 {
		t.Errorf("recorded: %v %v, want true false", r1, r2)
	}
}

// TestStateScriptsCopyFiles: the scripts of a data directory are copied
// into the shared state with the active one kept, once: an account that
// has scripts there already is left alone.
func TestStateScriptsCopyFiles(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	files := &FileStore{Dir: t.TempDir()}
	for _, n := range []string{"a", "b"} {
		if err := files.Put(ctx, 3, n, "keep;"); err != nil {
			t.Fatal(err)
		}
	}
	if err := files.SetActive(ctx, 3, "b"); err != nil {
		t.Fatal(err)
	}
	if err := files.Put(ctx, 4, "old", "discard;"); err != nil {
		t.Fatal(err)
	}
	shared := &StateScripts{State: st}
	if err := shared.Put(ctx, 4, "new", "keep;"); err != nil {
		t.Fatal(err)
	}
	accts, err := files.Accounts()
	if err != nil || len(accts) != 2 {
		t.Fatalf("accounts of the file store: %v %v", accts, err)
	}
	if n, err := shared.CopyFiles(ctx, files, accts); err != nil || n != 2 {
		t.Fatalf("copied %d, %v; want 2", n, err)
	}
	if _, name, err := shared.Active(ctx, 3); err != nil || name != "b" {
		t.Fatalf("active after the copy: %q %v", name, err)
	}
	if list, _ := shared.List(ctx, 4); len(list) != 1 || list[0].Name != "new" {
		t.Fatalf("account with shared scripts: %+v", list)
	}
	if n, _ := shared.CopyFiles(ctx, files, accts); n != 0 {
		t.Fatalf("second copy: %d", n)
	}
}
