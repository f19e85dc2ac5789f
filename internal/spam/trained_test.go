package spam

import (
	"testing"
)

// A message is trained once however often it is moved or flagged, and
// the last verdict alone counts (Junk → INBOX → Junk: spam, once).
func TestLearnOnce(t *testing.T) {
	dir := t.TempDir()
	f := &Filter{Dir: dir}
	msg := []byte("From: a@spam.example\r\nSubject: cheap pills\r\n\r\nbuy now 便宜 发票\r\n")
	classes := func(f *Filter, acct int64) [2]uint32 {
		t.Helper()
		h, s, err := f.Classes(acct)
		if err != nil {
			t.Fatal(err)
		}
		return [2]uint32{h, s}
	}
	step := func(spam bool, want [2]uint32) {
		t.Helper()
		if err := f.Learn(5, msg, spam); err != nil {
			t.Fatal(err)
		}
		if got := classes(f, 5); got != want {
			t.Fatalf("account after Learn(%v): ham/spam %v, want %v", spam, got, want)
		}
		if got := classes(f, Global); got != want {
			t.Fatalf("global after Learn(%v): ham/spam %v, want %v", spam, got, want)
		}
	}
	step(true, [2]uint32{0, 1})  // moved into Junk
	step(true, [2]uint32{0, 1})  // and $Junk set by the same client
	step(false, [2]uint32{1, 0}) // moved back to INBOX: untrained, ham
	step(true, [2]uint32{0, 1})  // and into Junk again
	// The token counts follow: each token of the message once, as spam.
	fm, _ := f.model(5)
	for _, tok := range Tokens(msg) {
		if c := fm.m.Counts[tok]; c != [2]uint32{0, 1} {
			t.Fatalf("token %q counts %v", tok, c)
		}
	}
	// The record survives a restart.
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	g := &Filter{Dir: dir}
	if s, known, err := g.Trained(5, msg); err != nil || !known || !s {
		t.Fatalf("after reload: spam=%v known=%v err=%v", s, known, err)
	}
	if err := g.Learn(5, msg, true); err != nil {
		t.Fatal(err)
	}
	if got := classes(g, 5); got != [2]uint32{0, 1} {
		t.Fatalf("trained again after reload: %v", got)
	}
	// Another message is another training.
	if err := g.Learn(5, append(msg, 'x'), true); err != nil {
		t.Fatal(err)
	}
	if got := classes(g, 5); got != [2]uint32{0, 2} {
		t.Fatalf("second message: %v", got)
	}
}
