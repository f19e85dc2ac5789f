package spam

import (
	"context"
	"fmt"
	"testing"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/postgres"
	"github.com/youju/youju/internal/store/postgres/pgtest"
)

// TestFilterShared trains the corpus's first few messages through one
// Filter on a shared store (node A) and checks that another (node B)
// classifies every message exactly as an in-memory filter trained the
// same way does, and that a message is counted once across both.
func TestFilterShared(t *testing.T) {
	st := openState(t)
	a, b, mem := &Filter{State: st}, &Filter{State: st}, &Filter{}
	ham, spamMsgs := loadCorpus(t, "ham"), loadCorpus(t, "spam")
	n := min(20, len(ham), len(spamMsgs))
	for i := range n {
		for _, f := range []*Filter{a, mem} {
			if err := f.Learn(1, ham[i], false); err != nil {
				t.Fatal(err)
			}
			if err := f.Learn(1, spamMsgs[i], true); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The same message through B: already counted.
	if err := b.Learn(1, spamMsgs[0], true); err != nil {
		t.Fatal(err)
	}
	if h, s, err := b.Classes(1); err != nil || h != uint32(n) || s != uint32(n) {
		t.Fatalf("classes on B: %d %d %v, want %d %d", h, s, err, n, n)
	}
	if h, s, _ := b.Classes(Global); h != uint32(n) || s != uint32(n) {
		t.Fatalf("global classes on B: %d %d", h, s)
	}
	for _, msgs := range [][][]byte{ham[n:], spamMsgs[n:]} {
		for _, m := range msgs[:min(len(msgs), 30)] {
			toks := Tokens(m)
			for _, acct := range []int64{1, 2} { // 2: untrained, the global model decides
				p1, ok1, err := b.Classify(acct, toks)
				p2, ok2, _ := mem.Classify(acct, toks)
				if err != nil || ok1 != ok2 || p1 != p2 {
					t.Fatalf("account %d: shared %v %v %v, in memory %v %v", acct, p1, ok1, err, p2, ok2)
				}
			}
		}
	}
	// A change of mind through B untrains what A trained.
	if err := b.Learn(1, spamMsgs[0], false); err != nil {
		t.Fatal(err)
	}
	if h, s, _ := a.Classes(1); h != uint32(n+1) || s != uint32(n-1) {
		t.Fatalf("after the move back: %d %d", h, s)
	}
	if s, known, _ := a.Trained(1, spamMsgs[0]); !known || s {
		t.Fatalf("trained record: spam=%v known=%v", s, known)
	}
}

// TestFilterSharedPrune: a shared model past MaxTokens by more than a
// tenth loses its rarest tokens down to MaxTokens (the frequent ones
// stay, and so does the verdict they carry); one node prunes per period.
func TestFilterSharedPrune(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		st := openState(t)
		testFilterSharedPrune(t, st, st)
	})
	t.Run("postgres", func(t *testing.T) {
		schema := pgtest.NewSchema(t)
		testFilterSharedPrune(t, pgtest.Open(t, schema, postgres.Options{}), pgtest.Open(t, schema, postgres.Options{}))
	})
}

func testFilterSharedPrune(t *testing.T, sa, sb store.StateStore) {
	ctx := context.Background()
	defer func(n int) { pruneBatch = n }(pruneBatch)
	pruneBatch = 7 // many batches, merged across h/ and s/
	const max = 40
	a, b := &Filter{State: sa, MaxTokens: max}, &Filter{State: sb, MaxTokens: max}
	// Each message: the frequent words of its class and rare ones of
	// its own (seen once), 5 × 30 rare tokens in all in each model.
	for i := range 5 {
		var rare []string
		for j := range 30 {
			rare = append(rare, fmt.Sprintf("rare%d-%d", i, j))
		}
		if err := a.Train(7, append([]string{"viagra", "casino", "lottery"}, rare...), true, false); err != nil {
			t.Fatal(err)
		}
		if err := a.Train(7, []string{"meeting", "agenda", "minutes"}, false, false); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := b.PruneShared(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Models 7 and the global one: 156 tokens each, 116 too many.
	if removed != 2*(156-max) {
		t.Fatalf("removed %d tokens, want %d", removed, 2*(156-max))
	}
	for _, model := range []string{"bayes/7/", "bayes/0/"} {
		n := 0
		if err := b.eachSharedToken(ctx, model, func(string, int64, int64) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != max {
			t.Errorf("%s: %d tokens after pruning, want %d", model, n, max)
		}
	}
	cs, err := sa.Counters(ctx, []string{"bayes/7/s/viagra", "bayes/7/h/agenda", "bayes/0/s/casino", "bayes/7/n/s"})
	if err != nil || cs[0] != 5 || cs[1] != 5 || cs[2] != 5 || cs[3] != 5 {
		t.Fatalf("frequent tokens and class counts after pruning: %v %v", cs, err)
	}
	if p, ok, err := a.Classify(7, []string{"viagra", "casino", "lottery"}); err != nil || !ok || p < 0.9 {
		t.Fatalf("spam words after pruning: %v %v %v", p, ok, err)
	}
	// Within the period, no node prunes again.
	if err := a.Train(7, []string{"new1", "new2", "new3", "new4", "new5"}, true, false); err != nil {
		t.Fatal(err)
	}
	if n, err := a.PruneShared(ctx); n != 0 || err != nil {
		t.Fatalf("second prune within the period: %d %v", n, err)
	}
}
