package spam

import (
	"testing"
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
