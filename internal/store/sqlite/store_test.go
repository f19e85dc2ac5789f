package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/storetest"
)

var ctx = context.Background()

// TestConformance runs the backend-agnostic suite, with the flag cache and
// without it (every read then goes to SQLite).
func TestConformance(t *testing.T) {
	for _, cache := range []int{0, -1} {
		t.Run(fmt.Sprint("cache=", cache), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, key string) store.Store {
				s, err := Open(ctx, storetest.Dir(t, key), Options{CacheMessages: cache})
				if err != nil {
					t.Fatal(err)
				}
				return s
			})
		})
	}
}

func readAll(t *testing.T, s *Store, acct store.AccountID, mbox store.MailboxID, uid store.UID) []byte {
	t.Helper()
	r, err := s.OpenMessage(ctx, acct, mbox, uid)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != r.Size() {
		t.Fatalf("read %d bytes, Size %d", len(b), r.Size())
	}
	return b
}

func count(t *testing.T, s *Store, q string) int {
	t.Helper()
	var n int
	if err := s.rdb.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// purgeNow drops every retained message, as the purger does once their
// retention has passed.
func purgeNow(t *testing.T, s *Store) {
	t.Helper()
	if err := s.do(ctx, nil, func(w *wtx) error { return w.purgeRetained(math.MaxInt64) }); err != nil {
		t.Fatal(err)
	}
}

// TestBlobsSharedAndCounted checks that copies share one blob, that
// reference counts always equal the messages and the retained expunged
// messages, and that blobs go with their last message once purged.
func TestBlobsSharedAndCounted(t *testing.T) {
	s := newTestStore(t)
	a := newAccount(t, s, "a@example.com")
	b := newAccount(t, s, "b@example.com")
	in := inbox(t, s, a.ID)
	arch, _ := s.Mailbox(ctx, a.ID, "Archive")
	res, err := s.Deliver(ctx, store.Delivery{Data: testMessage(1), Targets: []store.Target{{Account: a.ID}, {Account: b.ID}}})
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatal(res, err)
	}
	deliver(t, s, a.ID, 0, testMessage(2), store.Flags{})
	s.Copy(ctx, a.ID, in.ID, nil, arch.ID)
	s.Move(ctx, a.ID, in.ID, store.UIDSet{{Lo: 2, Hi: 2}}, arch.ID)
	check := func(blobs int) {
		t.Helper()
		if refs, msgs := count(t, s, `SELECT COALESCE(SUM(refcount),0) FROM blobs`), count(t, s, `SELECT (SELECT COUNT(*) FROM messages)+(SELECT COUNT(*) FROM retained)`); refs != msgs {
			t.Fatalf("refcounts %d != messages and retained %d", refs, msgs)
		}
		purgeNow(t, s)
		if n := count(t, s, `SELECT COUNT(*) FROM blobs`); n != blobs {
			t.Fatalf("%d blobs, want %d", n, blobs)
		}
		if refs, msgs := count(t, s, `SELECT COALESCE(SUM(refcount),0) FROM blobs`), count(t, s, `SELECT COUNT(*) FROM messages`); refs != msgs {
			t.Fatalf("refcounts %d != messages %d", refs, msgs)
		}
	}
	check(2)
	s.Remove(ctx, a.ID, arch.ID, nil)
	check(1) // message 2 was only in Archive (copied and moved there)
	s.Remove(ctx, a.ID, in.ID, nil)
	check(1) // message 1 lives on in b's INBOX
	if got := readAll(t, s, b.ID, inbox(t, s, b.ID).ID, 1); !bytes.Equal(got, message.NormalizeCRLF(testMessage(1))) {
		t.Fatalf("b's copy: %q", got)
	}
	if err := s.DeleteAccount(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	check(0)
	if err := s.DeleteAccount(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"mailboxes", "messages", "blobs", "accounts", "tombstones", "subscriptions", "app_passwords", "retained"} {
		if n := count(t, s, `SELECT COUNT(*) FROM `+table); n != 0 {
			t.Errorf("%s has %d rows after DeleteAccount", table, n)
		}
	}
}

// TestDeadSegmentsRemoved fills several small segments, expunges
// everything, and expects every segment but the active one to go.
func TestDeadSegmentsRemoved(t *testing.T) {
	s, err := Open(ctx, t.TempDir(), Options{SegmentSize: 400})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := newAccount(t, s, "a@example.com")
	for i := 0; i < 10; i++ {
		deliver(t, s, a.ID, 0, testMessage(i), store.Flags{})
	}
	if n := len(s.blobs.Segments()); n < 3 {
		t.Fatalf("%d segments, want several", n)
	}
	if _, err := s.Remove(ctx, a.ID, inbox(t, s, a.ID).ID, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(s.blobs.Segments()); n < 3 {
		t.Fatalf("%d segments right after the expunge, want them retained", n)
	}
	purgeNow(t, s)
	if segs := s.blobs.Segments(); len(segs) != 1 || segs[0] != s.blobs.Active() {
		t.Fatalf("segments left %v (active %d)", segs, s.blobs.Active())
	}
}

func TestMaxMessageSize(t *testing.T) {
	s, err := Open(ctx, t.TempDir(), Options{MaxMessageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := newAccount(t, s, "a@example.com")
	if _, err := s.Deliver(ctx, store.Delivery{Data: testMessage(1), Targets: []store.Target{{Account: a.ID}}}); !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("too large: %v", err)
	}
}

func TestClosedStore(t *testing.T) {
	s := openStore(t, t.TempDir())
	s.Close()
	if _, err := s.CreateAccount(ctx, store.Account{Address: "a@example.com"}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

func TestSecondOpenRefused(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	if _, err := Open(ctx, dir, Options{}); err == nil {
		t.Fatal("a second Open of a store in use succeeded")
	}
	s.Close()
	s = openStore(t, dir)
	s.Close()
}

// TestUIDsExhausted: UID 4294967295 is the last; after it the mailbox
// refuses mail rather than reuse or wrap UIDs (RFC 9051 §2.3.1.1).
func TestUIDsExhausted(t *testing.T) {
	s := newTestStore(t)
	a := newAccount(t, s, "a@example.com")
	in := inbox(t, s, a.ID)
	if err := s.do(ctx, nil, func(w *wtx) error {
		_, err := w.exec(`UPDATE mailboxes SET uidnext=4294967295 WHERE id=?`, in.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if r := deliver(t, s, a.ID, in.ID, testMessage(1), store.Flags{}); r.UID != 4294967295 {
		t.Fatalf("uid %d", r.UID)
	}
	res, err := s.Deliver(ctx, store.Delivery{Data: testMessage(2), Targets: []store.Target{{Account: a.ID}}})
	if err != nil || !errors.Is(res[0].Err, store.ErrQuotaExceeded) {
		t.Fatalf("after the last UID: %+v %v", res, err)
	}
	if _, err := s.Deliver(ctx, store.Delivery{Targets: []store.Target{{Account: a.ID}}}); err == nil {
		t.Fatal("empty message accepted")
	}
}

// TestRetainedPurgedAfterRetention: the purger drops retained messages
// once their retention has passed, and their blobs with them.
func TestRetainedPurgedAfterRetention(t *testing.T) {
	s, err := Open(ctx, t.TempDir(), Options{ExpungeRetention: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := newAccount(t, s, "a@example.com")
	in := inbox(t, s, a.ID)
	deliver(t, s, a.ID, 0, testMessage(1), store.Flags{})
	if _, err := s.Remove(ctx, a.ID, in.ID, nil); err != nil {
		t.Fatal(err)
	}
	// Bounded wait for the purger (a deadline, not a timing assertion).
	for end := time.Now().Add(10 * time.Second); count(t, s, `SELECT COUNT(*) FROM blobs`) != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("retained rows %d, blobs %d after the retention", count(t, s, `SELECT COUNT(*) FROM retained`), count(t, s, `SELECT COUNT(*) FROM blobs`))
		}
	}
	if n := count(t, s, `SELECT COUNT(*) FROM retained`); n != 0 {
		t.Fatalf("%d retained rows left", n)
	}
	if _, err := s.OpenMessageWith(ctx, a.ID, in.ID, 1, store.OpenOptions{Retained: true}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("opened after the retention: %v", err)
	}
	if s.mayRetain(in.ID) {
		t.Fatal("mailbox still marked as retaining")
	}
}

// TestMigrateFromVersion1Expunge opens an index made by the first schema:
// the steps since are applied and expunge (retained table) works.
func TestMigrateFromVersion1Expunge(t *testing.T) {
	dir := t.TempDir()
	db, err := openDB(dir+"/index.db", dbWriter, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateStep(ctx, db, schema, 1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := openStore(t, dir)
	defer s.Close()
	var v int
	if err := s.rdb.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("user_version %d (%v), want %d", v, err, schemaVersion)
	}
	a := newAccount(t, s, "a@example.com")
	deliver(t, s, a.ID, 0, testMessage(1), store.Flags{System: store.FlagDeleted})
	if got, err := s.Expunge(ctx, a.ID, inbox(t, s, a.ID).ID, nil); err != nil || len(got) != 1 {
		t.Fatalf("Expunge %v %v", got, err)
	}
}

// TestRetainSparseExpunge: an expunge of many separate UIDs (more ranges
// than one SQL statement takes) retains every one, with its flags.
func TestRetainSparseExpunge(t *testing.T) {
	s := newTestStore(t)
	a := newAccount(t, s, "a@example.com")
	in := inbox(t, s, a.ID)
	for i := 0; i < 2*maxSQLRanges+10; i++ {
		f := store.Flags{}
		if i%2 == 1 {
			f.System = store.FlagDeleted
		}
		deliver(t, s, a.ID, 0, testMessage(i), f)
	}
	gone, err := s.Expunge(ctx, a.ID, in.ID, nil)
	if err != nil || len(gone) != maxSQLRanges+5 {
		t.Fatalf("expunged %d, %v", len(gone), err)
	}
	var got []store.UID
	err = s.ListMessages(ctx, a.ID, in.ID, store.ListOptions{Retained: true, UIDs: store.UIDSetOf(gone)}, func(m *store.Message) error {
		if m.Flags.System&store.FlagDeleted == 0 {
			t.Errorf("retained %d lost its flags", m.UID)
		}
		got = append(got, m.UID)
		return nil
	})
	if err != nil || fmt.Sprint(got) != fmt.Sprint(gone) {
		t.Fatalf("retained %v, expunged %v (%v)", got, gone, err)
	}
}

// TestReopenPurgesRetainedSegments: segments that only retained messages
// kept alive are removed when the store is opened again.
func TestReopenPurgesRetainedSegments(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(ctx, dir, Options{SegmentSize: 400})
	if err != nil {
		t.Fatal(err)
	}
	a := newAccount(t, s, "a@example.com")
	for i := 0; i < 10; i++ {
		deliver(t, s, a.ID, 0, testMessage(i), store.Flags{})
	}
	if _, err := s.Remove(ctx, a.ID, inbox(t, s, a.ID).ID, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(s.blobs.Segments()); n < 3 {
		t.Fatalf("%d segments, want the retained ones kept", n)
	}
	s.Close()
	s, err = Open(ctx, dir, Options{SegmentSize: 400})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if segs := s.blobs.Segments(); len(segs) != 1 || segs[0] != s.blobs.Active() {
		t.Fatalf("segments left after reopen %v (active %d)", segs, s.blobs.Active())
	}
	if n := count(t, s, `SELECT COUNT(*) FROM blobs`); n != 0 {
		t.Fatalf("%d blobs left", n)
	}
}

// TestSCRAMReady: ready only while no account password and no app
// password lacks SCRAM keys.
func TestSCRAMReady(t *testing.T) {
	s := newTestStore(t)
	if ok, err := s.SCRAMReady(ctx); err != nil || !ok {
		t.Fatalf("empty store: %v %v", ok, err)
	}
	a := newAccount(t, s, "a@example.com")
	if ok, err := s.SCRAMReady(ctx); err != nil || ok {
		t.Fatalf("account without keys: %v %v", ok, err)
	}
	if err := s.SetSCRAM(ctx, a.ID, 0, a.PasswordHash, "SCRAM-SHA-256$4096:c2FsdA==$x:y"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.SCRAMReady(ctx); err != nil || !ok {
		t.Fatalf("every password with keys: %v %v", ok, err)
	}
	p, err := s.AddAppPassword(ctx, store.AppPassword{AccountID: a.ID, Name: "phone", Hash: "$argon2id$x"})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.SCRAMReady(ctx); err != nil || ok {
		t.Fatalf("app password without keys: %v %v", ok, err)
	}
	if err := s.SetSCRAM(ctx, a.ID, p.ID, p.Hash, "SCRAM-SHA-256$4096:c2FsdA==$x:y"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.SCRAMReady(ctx); err != nil || !ok {
		t.Fatalf("app password with keys: %v %v", ok, err)
	}
}

// TestOpenPathWithURICharacters opens stores in directories whose names
// hold characters of SQLite's URI syntax: each must get its own index.db,
// not one shared at the path cut before "#" or "?".
func TestOpenPathWithURICharacters(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	for _, name := range []string{"mail#1", "mail?x=1", "mail%41"} {
		dir := filepath.Join(base, name)
		s, err := Open(ctx, dir, Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := s.AddDomain(ctx, "example.org"); err != nil {
			t.Fatalf("%s: AddDomain: %v (a store shared with another directory?)", name, err)
		}
		s.Close()
		if _, err := os.Stat(filepath.Join(dir, "index.db")); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if ents, _ := os.ReadDir(base); len(ents) != 3 {
		t.Fatalf("files beside the store directories: %v", ents)
	}
}
