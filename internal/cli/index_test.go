package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/store"
)

// unindexed counts the messages of INBOX the text index does not cover
// yet: the candidates of a term found nowhere.
func unindexed(t *testing.T, st store.Store, acct store.AccountID, mbox store.MailboxID) int {
	t.Helper()
	m, ok, err := st.(store.TextIndex).TextCandidates(context.Background(), acct, mbox, store.TextBody, "qqzzjjxx")
	if err != nil || !ok {
		t.Fatalf("TextCandidates: %v %v", ok, err)
	}
	n := 0
	for _, r := range m.Candidates {
		n += int(r.Hi-r.Lo) + 1
	}
	return n
}

func TestIndexRebuild(t *testing.T) {
	dir := newData(t)
	mustRun(t, "", "user", "add", "--data", dir, "alice@example.test")
	ctx := context.Background()
	c, err := config.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(ctx, dir, c)
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.Account(ctx, "alice@example.test")
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.Mailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		msg := fmt.Sprintf("From: b@example.net\r\nSubject: invoice n%d\r\n\r\nhello\r\n", i)
		if _, err := st.Deliver(ctx, store.Delivery{Data: []byte(msg), Targets: []store.Target{{Account: a.ID, Mailbox: m.ID}}}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); unindexed(t, st, a.ID, m.ID) != want; {
			if time.Now().After(deadline) {
				t.Fatalf("unindexed: %d, want %d", unindexed(t, st, a.ID, m.ID), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(0)
	st.Close()

	out := mustRun(t, "", "index", "rebuild", "--data", dir, "alice@example.test")
	if !strings.Contains(out, "Queued 3 messages") {
		t.Fatalf("index rebuild: %q", out)
	}
	if code, _, errs := run(t, "", "index", "rebuild", "--data", dir, "nobody@example.test"); code == 0 {
		t.Fatalf("rebuild of an unknown account succeeded (%s)", errs)
	}
	// Reopened, the queued messages are candidates of everything until
	// the indexer has indexed them again.
	st, err = openStore(ctx, dir, c)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	waitFor(0)
	ti, isIndex := st.(store.TextIndex)
	if !isIndex {
		t.Fatal("the SQLite store has no text index")
	}
	res, ok, err := ti.TextCandidates(ctx, a.ID, m.ID, store.TextSubject, "invoice n1")
	if err != nil || !ok || len(res.Candidates) != 1 || res.Candidates[0] != (store.UIDRange{Lo: 2, Hi: 2}) {
		t.Fatalf("after rebuild, SUBJECT \"invoice n1\" candidates: %v %v %v", res, ok, err)
	}
}

// TestIndexRebuildWhileServing: with serve running, the command goes
// through control.sock to the server's store (it cannot open the store
// itself: serve holds it).
func TestIndexRebuildWhileServing(t *testing.T) {
	dir := newData(t)
	mustRun(t, "", "user", "add", "--data", dir, "carol@example.test")
	_, _, stop := startServe(t, dir)
	out := mustRun(t, "", "index", "rebuild", "--data", dir, "carol@example.test")
	if !strings.Contains(out, "Queued 0 messages of carol@example.test") {
		t.Fatalf("index rebuild while serving: %q", out)
	}
	if code, _, errs := run(t, "", "index", "rebuild", "--data", dir, "nobody@example.test"); code == 0 {
		t.Fatalf("rebuild of an unknown account succeeded while serving (%s)", errs)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
