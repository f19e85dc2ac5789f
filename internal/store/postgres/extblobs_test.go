package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/youju/youju/internal/blob/fileblobs"
	"github.com/youju/youju/internal/blob/s3blobs"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/testutil/s3test"
)

// trackingBlobs records the ids a store.Blobs was given to keep and to
// delete, so that a test can check every object of the index exists and
// every other was deleted.
type trackingBlobs struct {
	store.Blobs
	mu      sync.Mutex
	put     []string
	deleted []string
}

func (b *trackingBlobs) Put(ctx context.Context, r io.Reader, size int64) (string, error) {
	id, err := b.Blobs.Put(ctx, r, size)
	if err == nil {
		b.mu.Lock()
		b.put = append(b.put, id)
		b.mu.Unlock()
	}
	return id, err
}

func (b *trackingBlobs) Delete(ctx context.Context, id string) error {
	err := b.Blobs.Delete(ctx, id)
	if err == nil {
		b.mu.Lock()
		b.deleted = append(b.deleted, id)
		b.mu.Unlock()
	}
	return err
}

// live returns the ids put and not deleted.
func (b *trackingBlobs) live() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, id := range b.put {
		if !slices.Contains(b.deleted, id) {
			out = append(out, id)
		}
	}
	return out
}

// exists reads a blob whole: nil if there, ErrNotFound if gone.
func exists(b store.Blobs, id string) error {
	r, err := b.Open(ctx, id, -1)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.ReadAll(r)
	return err
}

func extBackends(t *testing.T) map[string]func(t *testing.T) store.Blobs {
	return map[string]func(t *testing.T) store.Blobs{
		"files": func(t *testing.T) store.Blobs {
			b, err := fileblobs.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		"s3fake": func(t *testing.T) store.Blobs {
			_, url := s3test.NewFake(t)
			return openS3(t, s3blobs.Config{Endpoint: url, Bucket: "youju-fake", AccessKey: "a", Secret: "s", PathStyle: true, CreateBucket: true})
		},
		"s3": func(t *testing.T) store.Blobs { return openS3(t, s3test.Config(t)) },
	}
}

// TestExternalBlobsLifecycle follows the objects of an external blob
// store through delivery, copy, a delivery refused for quota, expunge
// with retention, and account deletion: no object in the database, none
// lost while referenced, none left once nothing refers to it.
func TestExternalBlobsLifecycle(t *testing.T) {
	for name, mk := range extBackends(t) {
		t.Run(name, func(t *testing.T) {
			testDSN(t)
			tb := &trackingBlobs{Blobs: mk(t)}
			s := openSchema(t, schemaFor(t.Name()+t.TempDir()), Options{Blobs: tb, ExpungeRetention: 20 * time.Millisecond})
			a := newAccount(t, s, "ext@example.com")
			a.QuotaBytes = 3000
			if err := s.UpdateAccount(ctx, a); err != nil {
				t.Fatal(err)
			}
			inbox, _ := s.Mailbox(ctx, a.ID, "INBOX")
			arch, _ := s.Mailbox(ctx, a.ID, "Archive")
			msg := func(i int) []byte {
				return []byte("Subject: ext " + string(rune('a'+i)) + "\r\n\r\nbody of an external blob\r\n")
			}
			for i := range 3 {
				res, err := s.Deliver(ctx, store.Delivery{Data: msg(i), Targets: []store.Target{{Account: a.ID}}})
				if err != nil || res[0].Err != nil {
					t.Fatal(err, res)
				}
			}
			var chunks int
			s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM blob_chunks`).Scan(&chunks)
			if chunks != 0 {
				t.Fatalf("%d chunk rows with an external blob store", chunks)
			}
			if _, err := s.Copy(ctx, a.ID, inbox.ID, store.UIDSet{{Lo: 2, Hi: 2}}, arch.ID); err != nil {
				t.Fatal(err)
			}
			big := make([]byte, 4000)
			copy(big, "Subject: big\r\n\r\n")
			res, err := s.Deliver(ctx, store.Delivery{Data: big, Targets: []store.Target{{Account: a.ID}}})
			if err != nil || !errors.Is(res[0].Err, store.ErrQuotaExceeded) {
				t.Fatalf("over quota: %v %v", err, res)
			}
			sweep(t, s)
			if n := len(tb.live()); n != 3 {
				t.Fatalf("%d objects after the refused delivery, want 3", n)
			}
			if _, err := s.Remove(ctx, a.ID, inbox.ID, nil); err != nil {
				t.Fatal(err)
			}
			// The purger drops the retained rows after 20 ms; the blob of
			// the copy in Archive stays.
			deadline := time.Now().Add(10 * time.Second)
			for len(tb.live()) != 1 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
				sweep(t, s)
			}
			if n := len(tb.live()); n != 1 {
				t.Fatalf("%d objects after expunge, want 1 (the copy's)", n)
			}
			r, err := s.OpenMessage(ctx, a.ID, arch.ID, 1)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || string(got) != string(msg(1)) {
				t.Fatalf("the copy reads %q, %v", got, err)
			}
			if err := s.DeleteAccount(ctx, a.ID); err != nil {
				t.Fatal(err)
			}
			sweep(t, s)
			if n := len(tb.live()); n != 0 {
				t.Fatalf("%d objects after deleting the account", n)
			}
			for _, id := range tb.put {
				if err := exists(tb.Blobs, id); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("object %s after its deletion: %v", id, err)
				}
			}
			var trash int
			s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM blob_trash`).Scan(&trash)
			if trash != 0 {
				t.Errorf("%d rows left in blob_trash", trash)
			}
		})
	}
}

func sweep(t *testing.T, s *Store) {
	t.Helper()
	for {
		n, err := s.SweepBlobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n < sweepBatch {
			return
		}
	}
}

// failingBlobs fails every Put after the first n.
type failingBlobs struct {
	store.Blobs
	n int
}

func (b *failingBlobs) Put(ctx context.Context, r io.Reader, size int64) (string, error) {
	if b.n <= 0 {
		return "", errors.New("injected: blob store down")
	}
	b.n--
	return b.Blobs.Put(ctx, r, size)
}

// TestExternalBlobPutFails checks that a delivery whose bytes cannot be
// stored fails as a whole (a temporary error for SMTP), stores no index
// row, and that a multi-message APPEND failing half-way leaves its
// stored objects to the sweeper.
func TestExternalBlobPutFails(t *testing.T) {
	testDSN(t)
	fb, err := fileblobs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tb := &trackingBlobs{Blobs: fb}
	s := openSchema(t, schemaFor(t.Name()+t.TempDir()), Options{Blobs: &failingBlobs{Blobs: tb, n: 1}})
	a := newAccount(t, s, "fail@example.com")
	msg := []byte("Subject: x\r\n\r\nx\r\n")
	res, err := s.AppendMessages(ctx, a.ID, []store.Append{{Messages: []store.AppendMessage{{Data: msg}, {Data: msg}}}})
	if err == nil {
		t.Fatalf("append with a failing blob store succeeded: %v", res)
	}
	if _, err := s.Deliver(ctx, store.Delivery{Data: msg, Targets: []store.Target{{Account: a.ID}}}); err == nil {
		t.Fatal("delivery with a failing blob store succeeded")
	}
	inbox, _ := s.Mailbox(ctx, a.ID, "INBOX")
	if inbox.Messages != 0 {
		t.Fatalf("%d messages stored", inbox.Messages)
	}
	sweep(t, s)
	if n := len(tb.live()); n != 0 {
		t.Fatalf("%d objects left by the failed append", n)
	}
}

// TestPendingObjectsCollected: a process killed between the blob Put and
// the index commit (testAfterPut) leaves an object no message references;
// the sweeper leaves it alone while its delivery could still commit, and
// deletes it once its blob_pending row is an hour old, keeping the
// objects messages reference. The objects are named before the upload
// (store.NamedBlobs) or, for a store.Blobs that cannot (trackingBlobs
// hides it), recorded right after it.
func TestPendingObjectsCollected(t *testing.T) {
	for name, mk := range extBackends(t) {
		for _, wrap := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/unnamed=%v", name, wrap), func(t *testing.T) {
				testDSN(t)
				b := mk(t)
				if wrap {
					b = &trackingBlobs{Blobs: b}
				}
				s := openSchema(t, schemaFor(t.Name()+t.TempDir()), Options{Blobs: b})
				a := newAccount(t, s, "pending@example.com")
				deliver := func(subject string) error {
					res, err := s.Deliver(ctx, store.Delivery{Data: []byte("Subject: " + subject + "\r\n\r\nbody\r\n"),
						Targets: []store.Target{{Account: a.ID}}})
					if err == nil {
						err = res[0].Err
					}
					return err
				}
				if err := deliver("kept"); err != nil {
					t.Fatal(err)
				}
				crash := errors.New("killed between Put and commit")
				testAfterPut = func() error { return crash }
				err := deliver("lost")
				testAfterPut = nil
				if !errors.Is(err, crash) {
					t.Fatalf("delivery with the crash hook: %v", err)
				}
				var kept, orphan string
				if err := s.pool.QueryRow(ctx, `SELECT ext FROM blobs`).Scan(&kept); err != nil {
					t.Fatal(err)
				}
				if err := s.pool.QueryRow(ctx, `SELECT ext FROM blob_pending WHERE ext <> $1`, kept).Scan(&orphan); err != nil {
					t.Fatalf("the crashed delivery's object is not pending: %v", err)
				}
				if err := exists(b, orphan); err != nil {
					t.Fatalf("the crashed delivery's object %s: %v", orphan, err)
				}
				// Young: its delivery could still be committing.
				if _, err := s.SweepBlobs(ctx); err != nil {
					t.Fatal(err)
				}
				if err := exists(b, orphan); err != nil {
					t.Fatalf("a young pending object was swept: %v", err)
				}
				var pending int
				s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM blob_pending`).Scan(&pending)
				if pending != 1 {
					t.Fatalf("%d pending rows after a sweep, want 1 (the committed one forgotten)", pending)
				}
				if _, err := s.pool.Exec(ctx, `UPDATE blob_pending SET added = added - $1`, (pendingAge + time.Minute).Nanoseconds()); err != nil {
					t.Fatal(err)
				}
				if _, err := s.SweepBlobs(ctx); err != nil {
					t.Fatal(err)
				}
				if err := exists(b, orphan); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("the orphan after an hour: %v, want ErrNotFound", err)
				}
				if err := exists(b, kept); err != nil {
					t.Fatalf("the referenced object: %v", err)
				}
				inbox, _ := s.Mailbox(ctx, a.ID, "INBOX")
				if inbox.Messages != 1 {
					t.Fatalf("INBOX has %d messages, want 1", inbox.Messages)
				}
				s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM blob_pending`).Scan(&pending)
				if pending != 0 {
					t.Fatalf("%d pending rows left", pending)
				}
			})
		}
	}
}
