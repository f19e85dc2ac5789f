package sqlite

import (
	"context"
	"fmt"
	"testing"

	"github.com/youju/youju/internal/store"
)

func pending(t *testing.T, s *Store) int64 {
	t.Helper()
	n, err := s.TextIndexPending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTextIndexPending counts what the indexer has still to do, over
// two mailboxes, and reaches 0 once it has done it.
func TestTextIndexPending(t *testing.T) {
	runTextIndexer = false
	defer func() { runTextIndexer = true }()
	s := newTestStore(t)
	a := newAccount(t, s, "lag@example.org")
	m := inbox(t, s, a.ID)
	if n := pending(t, s); n != 0 {
		t.Fatalf("empty store: %d pending", n)
	}
	for i := range 5 {
		deliver(t, s, a.ID, m.ID, []byte(fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i)), store.Flags{})
	}
	b := newAccount(t, s, "lag2@example.org")
	deliver(t, s, b.ID, inbox(t, s, b.ID).ID, []byte("Subject: x\r\n\r\nbody\r\n"), store.Flags{})
	if n := pending(t, s); n != 6 {
		t.Fatalf("after 6 deliveries: %d pending", n)
	}
	indexAll(t, s)
	if n := pending(t, s); n != 0 {
		t.Fatalf("after indexing: %d pending", n)
	}
	deliver(t, s, a.ID, m.ID, []byte("Subject: late\r\n\r\nbody\r\n"), store.Flags{})
	if n := pending(t, s); n != 1 {
		t.Fatalf("one more: %d pending", n)
	}
}
