package postgres

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/youju/youju/internal/blob/fileblobs"
	"github.com/youju/youju/internal/store"
)

// TestPendingGrouped delivers concurrently, each delivery killed after
// its upload (testAfterPut): every object must be in blob_pending, once,
// whichever delivery's statement wrote it, and every delivery must have
// been answered (a lost hand-off would hang the test).
func TestPendingGrouped(t *testing.T) {
	fb, err := fileblobs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tb := &trackingBlobs{Blobs: fb}
	for _, b := range []store.Blobs{fb, tb} { // named before the upload, and not
		t.Run(fmt.Sprintf("%T", b), func(t *testing.T) {
			s := openSchema(t, schemaFor(t.Name()+t.TempDir()), Options{Blobs: b})
			defer s.Close()
			a := newAccount(t, s, "group@example.com")
			crash := errors.New("killed between Put and commit")
			testAfterPut = func() error { return crash }
			defer func() { testAfterPut = nil }()
			const n = 40
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					_, err := s.Deliver(ctx, store.Delivery{Data: fmt.Appendf(nil, "Subject: %d\r\n\r\nbody\r\n", i),
						Targets: []store.Target{{Account: a.ID}}})
					if !errors.Is(err, crash) {
						t.Errorf("delivery %d: %v", i, err)
					}
				})
			}
			wg.Wait()
			rows, err := s.pool.Query(ctx, `SELECT ext FROM blob_pending ORDER BY ext`)
			if err != nil {
				t.Fatal(err)
			}
			var pending []string
			for rows.Next() {
				var e string
				rows.Scan(&e)
				pending = append(pending, e)
			}
			if len(pending) != n || len(slices.Compact(pending)) != n {
				t.Fatalf("%d pending rows for %d uploads", len(pending), n)
			}
			for _, id := range pending {
				if err := exists(b, id); err != nil {
					t.Fatalf("pending object %s: %v", id, err)
				}
			}
		})
	}
}
