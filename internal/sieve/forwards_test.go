package sieve

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/youju/youju/internal/store"
)

func TestForwards(t *testing.T) {
	s, err := Compile(`require ["copy", "variables"];
if header :contains "subject" "a" { redirect "A@x.example"; }
elsif true { redirect :copy "b@x.example"; } else { if true { redirect "a@x.example"; redirect "${v}"; } }`)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Forwards(); !slices.Equal(got, []string{"a@x.example", "b@x.example", "${v}"}) {
		t.Fatalf("Forwards = %q", got)
	}
}

// TestForwardGuard: activating or changing the active script to add a
// destination is reported; past the limit it is refused; other scripts
// are stored without checks until activated.
func TestForwardGuard(t *testing.T) {
	ctx := context.Background()
	var added [][]string
	g := &ForwardGuard{Scripts: &FileStore{Dir: t.TempDir()}, Max: 2,
		Added: func(_ context.Context, _ store.AccountID, a, _ []string) { added = append(added, a) }}
	const acct = store.AccountID(1)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(g.Put(ctx, acct, "one", `redirect "a@x.example";`))
	must(g.Put(ctx, acct, "many", `redirect "a@x.example"; redirect "b@x.example"; redirect "c@x.example";`))
	if len(added) != 0 {
		t.Fatalf("inactive scripts reported: %v", added)
	}
	must(g.SetActive(ctx, acct, "one"))
	if err := g.SetActive(ctx, acct, "many"); !errors.Is(err, ErrTooManyForwards) {
		t.Fatalf("activating 3 destinations: %v", err)
	}
	must(g.Put(ctx, acct, "one", `redirect "a@x.example"; redirect "b@x.example";`))
	must(g.Put(ctx, acct, "one", `redirect "b@x.example";`)) // fewer: nothing new
	if len(added) != 2 || !slices.Equal(added[0], []string{"a@x.example"}) || !slices.Equal(added[1], []string{"b@x.example"}) {
		t.Fatalf("reported %v", added)
	}
	if _, name, _ := g.Active(ctx, acct); name != "one" {
		t.Fatalf("active %q", name)
	}
	// No forwarding allowed at all.
	g.Max = -1
	if err := g.Put(ctx, acct, "one", `redirect "c@x.example";`); !errors.Is(err, ErrTooManyForwards) {
		t.Fatalf("max -1: %v", err)
	}
}
