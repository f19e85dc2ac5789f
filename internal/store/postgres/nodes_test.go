package postgres

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/store"
)

// twoNodes opens two stores on one schema, as two youju nodes on one
// database.
func twoNodes(t *testing.T) (a, b *Store) {
	schema := schemaFor(t.TempDir())
	a = openSchema(t, schema, Options{})
	t.Cleanup(func() { a.Close() })
	b = openSchema(t, schema, Options{})
	t.Cleanup(func() { b.Close() })
	return a, b
}

// waitEvent waits for an event of mbox with at least modseq.
func waitEvent(t *testing.T, ch <-chan store.Event, mbox store.MailboxID, modseq store.ModSeq, limit time.Duration) time.Duration {
	t.Helper()
	t0 := time.Now()
	timeout := time.After(limit)
	for {
		select {
		case e := <-ch:
			if e.Mailbox == mbox && e.ModSeq >= modseq {
				return time.Since(t0)
			}
		case <-timeout:
			t.Fatalf("no event for mailbox %d (MODSEQ >= %d) within %v", mbox, modseq, limit)
		}
	}
}

// A delivery through node A is announced on node B (NOTIFY/LISTEN).
func TestTwoNodesSeeEachOthersChanges(t *testing.T) {
	a, b := twoNodes(t)
	acct := newAccount(t, a, "u@example.com")
	ch, cancel := b.Notifier().Subscribe(acct.ID)
	defer cancel()
	res, err := a.Deliver(ctx, store.Delivery{Data: []byte("Subject: x\r\n\r\nhi\r\n"), Targets: []store.Target{{Account: acct.ID}}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	in, err := b.MailboxByID(ctx, acct.ID, res[0].Mailbox)
	if err != nil {
		t.Fatal(err)
	}
	// The bound the issue asks for is 1 s; 5 s only keeps a loaded
	// machine from failing the test (the latency is logged).
	d := waitEvent(t, ch, in.ID, in.HighestModSeq, 5*time.Second)
	t.Logf("event on node B %v after the delivery on node A returned", d)
	// A flag set on B is seen on A through Changes, and announced there.
	cha, cancelA := a.Notifier().Subscribe(acct.ID)
	defer cancelA()
	sr, err := b.StoreFlags(ctx, acct.ID, in.ID, store.UIDSet{{Lo: 1, Hi: 1}}, store.FlagAdd, store.Flags{System: store.FlagSeen}, 0)
	if err != nil || len(sr.Changed) != 1 {
		t.Fatal(err, sr)
	}
	waitEvent(t, cha, in.ID, sr.Changed[0].ModSeq, 5*time.Second)
	c, err := a.Changes(ctx, acct.ID, in.ID, in.HighestModSeq)
	if err != nil || len(c.Changed) != 1 || c.Changed[0].Flags.System != store.FlagSeen {
		t.Fatalf("changes on A: %+v %v", c, err)
	}
}

// A node's own NOTIFYs are not published twice: its events went out
// after commit already.
func TestOwnNotificationsSkipped(t *testing.T) {
	a, _ := twoNodes(t)
	if _, ok := a.parsePayload(a.payloads([]store.Event{{Account: 1, Mailbox: 2, ModSeq: 3}})[0]); ok {
		t.Fatal("own payload accepted")
	}
	e, ok := a.parsePayload("othernode 1 2 3")
	if !ok || e != (store.Event{Account: 1, Mailbox: 2, ModSeq: 3}) {
		t.Fatalf("parse %+v %v", e, ok)
	}
	for _, bad := range []string{"", "x", "n 1", "n 0 M", "n -1 2 3", "n 1 2", "n 1 x 3", "n 1 2 3 4", "n 1 0 3"} {
		if _, ok := a.parsePayload(bad); ok {
			t.Errorf("payload %q accepted", bad)
		}
	}
}

// Two nodes delivering to one INBOX at once never give a UID twice: the
// mailbox row's lock orders them.
func TestTwoNodesDeliverToOneMailbox(t *testing.T) {
	a, b := twoNodes(t)
	acct := newAccount(t, a, "u@example.com")
	const perNode, writers = 40, 8
	var mu sync.Mutex
	seen := map[store.UID]int{}
	var wg sync.WaitGroup
	for _, s := range []*Store{a, b} {
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perNode / writers {
					msg := fmt.Appendf(nil, "Subject: %p %d %d\r\n\r\nbody\r\n", s, w, i)
					res, err := s.Deliver(ctx, store.Delivery{Data: msg, Targets: []store.Target{{Account: acct.ID}}})
					if err != nil || res[0].Err != nil {
						t.Error(err, res)
						return
					}
					mu.Lock()
					seen[res[0].UID]++
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	n := 2 * perNode
	for u := store.UID(1); u <= store.UID(n); u++ {
		if seen[u] != 1 {
			t.Errorf("UID %d given %d times", u, seen[u])
		}
	}
	in, err := b.Mailbox(ctx, acct.ID, "INBOX")
	if err != nil || in.Messages != n || in.UIDNext != store.UID(n+1) || in.HighestModSeq != store.ModSeq(1+n) {
		t.Fatalf("INBOX %+v %v", in, err)
	}
}

// A lost LISTEN connection is reopened, and every subscribed account's
// mailboxes get an event (what was announced meanwhile may be lost).
func TestListenerReconnectResyncs(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	acct := newAccount(t, s, "u@example.com")
	in, _ := s.Mailbox(ctx, acct.ID, "INBOX")
	ch, cancel := s.Notifier().Subscribe(acct.ID)
	defer cancel()
	c, err := pgx.Connect(ctx, testDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var killed bool
	if err := c.QueryRow(ctx, `SELECT bool_or(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name=$1`,
		"youju-listen-"+s.node).Scan(&killed); err != nil || !killed {
		t.Fatalf("terminating the listener: %v %v", killed, err)
	}
	waitEvent(t, ch, in.ID, in.HighestModSeq, 10*time.Second)
}

// Opening a node while another is alive keeps the retained messages its
// IMAP sessions may still read; with no other node alive, Open drops them.
func TestRetainedSurviveAnotherNodesStart(t *testing.T) {
	schema := schemaFor(t.TempDir())
	a := openSchema(t, schema, Options{})
	defer a.Close()
	acct := newAccount(t, a, "u@example.com")
	res, err := a.Deliver(ctx, store.Delivery{Data: []byte("Subject: r\r\n\r\nretained\r\n"), Targets: []store.Target{{Account: acct.ID}}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	mb := res[0].Mailbox
	if _, err := a.Remove(ctx, acct.ID, mb, store.UIDSet{{Lo: 1, Hi: 1}}); err != nil {
		t.Fatal(err)
	}
	b := openSchema(t, schema, Options{})
	b.Close()
	r, err := a.OpenMessageWith(ctx, acct.ID, mb, 1, store.OpenOptions{Retained: true})
	if err != nil {
		t.Fatalf("retained message after another node started: %v", err)
	}
	r.Close()
}

// A partial read of a message larger than a chunk returns exactly the
// bytes of the range, across chunk boundaries.
func TestRangeReads(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	acct := newAccount(t, s, "u@example.com")
	body := make([]byte, 3*chunkSize+1234)
	for i := range body {
		body[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[i%36]
	}
	for i := 100; i < len(body); i += 100 {
		body[i-2], body[i-1] = '\r', '\n'
	}
	msg := append([]byte("Subject: big\r\n\r\n"), body...)
	res, err := s.Deliver(ctx, store.Delivery{Data: msg, Targets: []store.Target{{Account: acct.ID}}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	r, err := s.OpenMessage(ctx, acct.ID, res[0].Mailbox, res[0].UID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != int64(len(msg)) {
		t.Fatalf("size %d, want %d", r.Size(), len(msg))
	}
	for _, c := range []struct{ off, n int }{{0, 10}, {chunkSize - 5, 10}, {chunkSize, 1}, {2*chunkSize - 1, chunkSize + 2}, {len(msg) - 7, 7}, {5, len(msg) - 5}} {
		p := make([]byte, c.n)
		n, err := r.ReadAt(p, int64(c.off))
		if err != nil && !(err == io.EOF && c.off+c.n == len(msg)) || n != c.n || !bytes.Equal(p, msg[c.off:c.off+c.n]) {
			t.Fatalf("ReadAt(%d, %d) = %d, %v", c.off, c.n, n, err)
		}
	}
	if n, err := r.ReadAt(make([]byte, 10), int64(len(msg)-3)); n != 3 || err != io.EOF {
		t.Fatalf("ReadAt past the end = %d, %v", n, err)
	}
	all, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	if err != nil || !bytes.Equal(all, msg) {
		t.Fatalf("whole read: %d bytes, %v", len(all), err)
	}
	seq, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(seq, msg) {
		t.Fatalf("sequential read: %d bytes, %v", len(seq), err)
	}
}

// Several nodes starting at once on an empty schema migrate it once.
func TestConcurrentStartMigratesOnce(t *testing.T) {
	schema := schemaFor(t.TempDir())
	var wg sync.WaitGroup
	stores := make([]*Store, 4)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(ctx, testDSN(t), Options{Schema: schema, MaxConns: 4})
			if err != nil {
				t.Error(err)
				return
			}
			stores[i] = s
		}()
	}
	wg.Wait()
	// Dropped at the end (openSchema registers the cleanup).
	openSchema(t, schema, Options{}).Close()
	for _, s := range stores {
		if s != nil {
			var v int
			if err := s.pool.QueryRow(ctx, `SELECT v FROM schema_version`).Scan(&v); err != nil || v != len(migrations) {
				t.Errorf("schema version %d %v", v, err)
			}
			s.Close()
		}
	}
}
