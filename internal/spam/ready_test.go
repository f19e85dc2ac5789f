package spam

import "testing"

// Ready says yes exactly when Classify can answer: an account's own
// model with a message of each class, or the global one.
func TestFilterReady(t *testing.T) {
	f := &Filter{}
	spamMsg := Tokens([]byte("Subject: cheap pills\r\n\r\nbuy now\r\n"))
	hamMsg := Tokens([]byte("Subject: minutes\r\n\r\nthe meeting notes\r\n"))
	check := func(acct int64, want bool) {
		t.Helper()
		got, err := f.Ready(acct)
		if err != nil {
			t.Fatal(err)
		}
		_, ok, err := f.Classify(acct, spamMsg)
		if err != nil {
			t.Fatal(err)
		}
		if got != want || ok != want {
			t.Fatalf("account %d: Ready %v, Classify ok %v, want %v", acct, got, ok, want)
		}
	}
	check(7, false)
	if err := f.Train(7, spamMsg, true, false); err != nil {
		t.Fatal(err)
	}
	check(7, false) // spam only: no opinion yet
	if err := f.Train(7, hamMsg, false, false); err != nil {
		t.Fatal(err)
	}
	check(7, true)
	check(8, true) // the global model learnt both through account 7
	g := &Filter{}
	for _, step := range []struct {
		acct int64
		spam bool
	}{{9, true}, {Global, false}} {
		if err := g.Train(step.acct, spamMsg, step.spam, false); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := g.Ready(9); !ok {
		t.Fatal("account 9 with a global ham and spam: not ready")
	}
}
