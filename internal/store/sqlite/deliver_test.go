package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/youju/youju/internal/store"
)

// The committer keeps the delivery targets' state between batches; every
// other request must make it read them again. These tests interleave
// deliveries with such requests and check counts, UIDs, quota and bytes.

func readMessage(t *testing.T, s *Store, acct store.AccountID, mbox store.MailboxID, uid store.UID) []byte {
	t.Helper()
	r, err := s.OpenMessage(context.Background(), acct, mbox, uid)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDeliverStateAfterOtherRequests(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	a := newAccount(t, s, "state@example.com")
	in := inbox(t, s, a.ID)
	for i := 0; i < 3; i++ {
		deliver(t, s, a.ID, 0, testMessage(i), store.Flags{})
	}
	if _, err := s.Remove(ctx, a.ID, in.ID, store.UIDSet{{Lo: 1, Hi: 3}}); err != nil {
		t.Fatal(err)
	}
	r := deliver(t, s, a.ID, 0, testMessage(3), store.Flags{})
	if r.UID != 4 {
		t.Fatalf("UID after expunge = %d, want 4 (never reused)", r.UID)
	}
	mb, err := s.MailboxByID(ctx, a.ID, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if mb.Messages != 1 || mb.Unseen != 1 || mb.Size != int64(len(readMessage(t, s, a.ID, in.ID, 4))) {
		t.Fatalf("mailbox after expunge and delivery: %+v", mb)
	}
	// A quota set between deliveries applies to the next one.
	used, _, err := s.Quota(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	msg := testMessage(4)
	acct, err := s.Account(ctx, a.Address)
	if err != nil {
		t.Fatal(err)
	}
	acct.QuotaBytes = used + int64(len(bytes.ReplaceAll(msg, []byte("\n"), []byte("\r\n"))))
	if err := s.UpdateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	deliver(t, s, a.ID, 0, msg, store.Flags{})
	res, err := s.Deliver(ctx, store.Delivery{Data: testMessage(5), Targets: []store.Target{{Account: a.ID}}})
	if err != nil || !errors.Is(res[0].Err, store.ErrQuotaExceeded) {
		t.Fatalf("delivery over quota: %v %+v", err, res)
	}
}

// TestDeliverBatchesKeepBytes delivers concurrently (large batches), to
// several accounts, with and without shared blobs, across a reopen, and
// checks every message's bytes and every mailbox's counters.
func TestDeliverBatchesKeepBytes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir)
	accts := []store.Account{newAccount(t, s, "b1@example.com"), newAccount(t, s, "b2@example.com"), newAccount(t, s, "b3@example.com")}
	run := func(s *Store, base int) {
		var wg sync.WaitGroup
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					n := base + w*20 + i
					targets := []store.Target{{Account: accts[n%3].ID}}
					if n%5 == 0 { // one blob, two mailboxes
						targets = append(targets, store.Target{Account: accts[(n+1)%3].ID, Flags: store.Flags{System: store.FlagSeen}})
					}
					res, err := s.Deliver(ctx, store.Delivery{Data: testMessage(n), Targets: targets})
					if err != nil {
						t.Error(err)
						return
					}
					for _, r := range res {
						if r.Err != nil {
							t.Error(r.Err)
						}
					}
				}
			}()
		}
		wg.Wait()
	}
	run(s, 0)
	s.Close()
	s = openStore(t, dir)
	defer s.Close()
	run(s, 1000)
	total := 0
	for _, a := range accts {
		in := inbox(t, s, a.ID)
		var uids []store.UID
		var size int64
		unseen := 0
		err := s.ListMessages(ctx, a.ID, in.ID, store.ListOptions{}, func(m *store.Message) error {
			uids = append(uids, m.UID)
			size += m.Size
			if m.Flags.System&store.FlagSeen == 0 {
				unseen++
			}
			body := readMessage(t, s, a.ID, in.ID, m.UID)
			if int64(len(body)) != m.Size || !bytes.Contains(body, []byte("Subject: test ")) {
				return fmt.Errorf("message %d: %q", m.UID, body)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, u := range uids {
			if u != store.UID(i+1) {
				t.Fatalf("%s: UIDs %v not 1..n", a.Address, uids)
			}
		}
		if in.Messages != len(uids) || in.Size != size || in.Unseen != unseen || in.UIDNext != store.UID(len(uids)+1) {
			t.Fatalf("%s: mailbox %+v, listed %d messages %d bytes %d unseen", a.Address, in, len(uids), size, unseen)
		}
		total += len(uids)
	}
	if want := 2 * 16 * 20 * 6 / 5; total != want {
		t.Fatalf("%d messages stored, want %d", total, want)
	}
}
