// Package storetest is a conformance suite for store.Store backends: every
// backend's tests call Run, so that SQLite today and PostgreSQL later keep
// the same behaviour (UIDs, MODSEQ, tombstones, flags, copy/move, quota,
// hierarchy, isolation, events, expunged messages retained for IMAP
// sessions).
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// Opener opens the store named key, creating it if it does not exist: a
// new key (NewKey) gives an empty store, the same key after Close the
// same store. A key is only a name, unique to the test run: a backend
// that keeps files maps it to a directory (Dir), one that keeps rows to
// a schema or database of its own, one with blobs elsewhere to a bucket
// prefix or directory of its own.
type Opener func(t *testing.T, key string) store.Store

// NewKey returns a fresh store key for t: its name (readable in logs) and
// 64 random bits, so that runs of the suite by several processes against
// one database server never share a store.
func NewKey(t *testing.T) string {
	var b [8]byte
	rand.Read(b[:])
	return t.Name() + "#" + hex.EncodeToString(b[:])
}

var (
	dirsMu sync.Mutex
	dirs   = map[string]string{}
)

// Dir returns the directory of key, for backends that keep files: a
// t.TempDir the first time (removed when t ends), the same one after.
func Dir(t *testing.T, key string) string {
	dirsMu.Lock()
	defer dirsMu.Unlock()
	d, ok := dirs[key]
	if !ok {
		d = t.TempDir()
		dirs[key] = d
		t.Cleanup(func() {
			dirsMu.Lock()
			delete(dirs, key)
			dirsMu.Unlock()
		})
	}
	return d
}

// Run runs the suite.
func Run(t *testing.T, open Opener) {
	t.Run("Search", func(t *testing.T) { testSearch(t, open) })
	t.Run("DeliverStoresCRLFInfoAndSize", func(t *testing.T) { testDeliverStoresCRLFInfoAndSize(t, open) })
	t.Run("UIDsNeverReusedAcrossReopenAndExpunge", func(t *testing.T) { testUIDsNeverReusedAcrossReopenAndExpunge(t, open) })
	t.Run("ModSeqFlagsAndChanges", func(t *testing.T) { testModSeqFlagsAndChanges(t, open) })
	t.Run("CopyMoveShareBlobs", func(t *testing.T) { testCopyMoveShareBlobs(t, open) })
	t.Run("AppendMessages", func(t *testing.T) { testAppendMessages(t, open) })
	t.Run("Quota", func(t *testing.T) { testQuota(t, open) })
	t.Run("MailboxHierarchy", func(t *testing.T) { testMailboxHierarchy(t, open) })
	t.Run("AccountsDomainsAliasesAppPasswords", func(t *testing.T) { testAccountsDomainsAliasesAppPasswords(t, open) })
	t.Run("AccountsPage", func(t *testing.T) { testAccountsPage(t, open) })
	t.Run("Isolation", func(t *testing.T) { testIsolation(t, open) })
	t.Run("EventsPublishedAfterCommit", func(t *testing.T) { testEventsPublishedAfterCommit(t, open) })
	t.Run("MailboxKeywords", func(t *testing.T) { testMailboxKeywords(t, open) })
	t.Run("SelectState", func(t *testing.T) { testSelectState(t, open) })
	t.Run("SelectMailbox", func(t *testing.T) { testSelectMailbox(t, open) })
	t.Run("RetainedAfterExpunge", func(t *testing.T) { testRetainedAfterExpunge(t, open) })
	t.Run("KnownAddresses", func(t *testing.T) { testKnownAddresses(t, open) })
	t.Run("WebSessions", func(t *testing.T) { testWebSessions(t, open) })
	t.Run("StateStore", func(t *testing.T) { testStateStore(t, open) })
	t.Run("Admin", func(t *testing.T) { testAdmin(t, open) })
	t.Run("APITokens", func(t *testing.T) { testAPITokens(t, open) })
}

var ctx = context.Background()

func newStore(t *testing.T, open Opener) store.Store {
	s := open(t, NewKey(t))
	t.Cleanup(func() { s.Close() })
	return s
}

func newAccount(t testing.TB, s store.Store, addr string) store.Account {
	t.Helper()
	a, err := s.CreateAccount(ctx, store.Account{Address: addr, AllowIMAP: true})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testMessage(i int) []byte {
	return []byte(fmt.Sprintf("From: a@example.com\nTo: b@example.org\nSubject: test %d\nMessage-ID: <%d@example.com>\n\nbody %d\n", i, i, i))
}

func deliver(t testing.TB, s store.Store, acct store.AccountID, mbox store.MailboxID, data []byte, f store.Flags) store.TargetResult {
	t.Helper()
	res, err := s.Deliver(ctx, store.Delivery{Data: data, Targets: []store.Target{{Account: acct, Mailbox: mbox, Flags: f}}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	return res[0]
}

func inbox(t testing.TB, s store.Store, acct store.AccountID) store.Mailbox {
	t.Helper()
	m, err := s.Mailbox(ctx, acct, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func listUIDs(t *testing.T, s store.Store, acct store.AccountID, mbox store.MailboxID) []store.UID {
	t.Helper()
	var uids []store.UID
	if err := s.ListMessages(ctx, acct, mbox, store.ListOptions{}, func(m *store.Message) error {
		uids = append(uids, m.UID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return uids
}

func readAll(t *testing.T, s store.Store, acct store.AccountID, mbox store.MailboxID, uid store.UID) []byte {
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

func testDeliverStoresCRLFInfoAndSize(t *testing.T, open Opener) {
	s := newStore(t, open)
	a := newAccount(t, s, "Alice@Example.com")
	if a.Address != "alice@example.com" {
		t.Fatalf("address %q", a.Address)
	}
	raw := []byte("From: x@example.com\nSubject: hi\n\nline1\nline2\n")
	r := deliver(t, s, a.ID, 0, raw, store.Flags{System: store.FlagFlagged, Keywords: []string{"$Label1", "$label1", "Work"}})
	in := inbox(t, s, a.ID)
	if r.UID != 1 || r.Mailbox != in.ID || r.UIDValidity != in.UIDValidity {
		t.Fatalf("result %+v, inbox %+v", r, in)
	}
	want := message.NormalizeCRLF(raw)
	if got := readAll(t, s, a.ID, in.ID, 1); !bytes.Equal(got, want) {
		t.Fatalf("bytes %q", got)
	}
	var msgs []store.Message
	s.ListMessages(ctx, a.ID, in.ID, store.ListOptions{WithInfo: true}, func(m *store.Message) error {
		msgs = append(msgs, *m)
		return nil
	})
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.Size != int64(len(want)) || m.Flags.System != store.FlagFlagged || strings.Join(m.Flags.Keywords, ",") != "$Label1,Work" {
		t.Fatalf("message %+v", m)
	}
	info, err := message.UnmarshalInfo(m.Info)
	if err != nil || info.Subject != "hi" || info.Size != m.Size {
		t.Fatalf("info %+v %v", info, err)
	}
	in = inbox(t, s, a.ID)
	if in.Messages != 1 || in.Unseen != 1 || in.Size != m.Size || in.UIDNext != 2 {
		t.Fatalf("inbox counts %+v", in)
	}
	if used, _, _ := s.Quota(ctx, a.ID); used != m.Size {
		t.Fatalf("used %d", used)
	}
}

func testUIDsNeverReusedAcrossReopenAndExpunge(t *testing.T, open Opener) {
	key := NewKey(t)
	s := open(t, key)
	a := newAccount(t, s, "a@example.com")
	in := inbox(t, s, a.ID)
	for i := 0; i < 3; i++ {
		deliver(t, s, a.ID, in.ID, testMessage(i), store.Flags{})
	}
	if _, err := s.Remove(ctx, a.ID, in.ID, store.UIDSet{{Lo: 2, Hi: 3}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, key)
	defer s.Close()
	in2 := inbox(t, s, a.ID)
	if in2.UIDValidity != in.UIDValidity || in2.UIDNext != 4 {
		t.Fatalf("after reopen %+v", in2)
	}
	if r := deliver(t, s, a.ID, in.ID, testMessage(9), store.Flags{}); r.UID != 4 {
		t.Fatalf("uid after expunge+reopen = %d, want 4", r.UID)
	}
	if got := fmt.Sprint(listUIDs(t, s, a.ID, in.ID)); got != "[1 4]" {
		t.Fatalf("uids %s", got)
	}
}

func testModSeqFlagsAndChanges(t *testing.T, open Opener) {
	s := newStore(t, open)
	a := newAccount(t, s, "a@example.com")
	in := inbox(t, s, a.ID)
	for i := 0; i < 4; i++ {
		deliver(t, s, a.ID, in.ID, testMessage(i), store.Flags{})
	}
	base := inbox(t, s, a.ID).HighestModSeq
	res, err := s.StoreFlags(ctx, a.ID, in.ID, store.UIDSet{{Lo: 1, Hi: 2}}, store.FlagAdd, store.Flags{System: store.FlagSeen, Keywords: []string{"Todo"}}, 0)
	if err != nil || len(res.Changed) != 2 || res.Changed[0].ModSeq <= base {
		t.Fatalf("store: %+v %v", res, err)
	}
	ms := res.Changed[0].ModSeq
	// Same flags again: nothing changes, MODSEQ stays.
	res, _ = s.StoreFlags(ctx, a.ID, in.ID, store.UIDSet{{Lo: 1, Hi: 2}}, store.FlagAdd, store.Flags{System: store.FlagSeen}, 0)
	if len(res.Changed) != 0 || inbox(t, s, a.ID).HighestModSeq != ms {
		t.Fatalf("no-op store changed: %+v", res)
	}
	// UNCHANGEDSINCE (RFC 7162 §3.1.3): uid 1 changed after base, so it fails; 3 passes.
	res, err = s.StoreFlags(ctx, a.ID, in.ID, store.UIDSet{{Lo: 1, Hi: 1}, {Lo: 3, Hi: 3}}, store.FlagAdd, store.Flags{System: store.FlagFlagged}, base)
	if err != nil || fmt.Sprint(res.Modified) != "[{1 1}]" || len(res.Changed) != 1 || res.Changed[0].UID != 3 {
		t.Fatalf("unchangedsince: %+v %v", res, err)
	}
	// Replace and remove keywords, case-insensitively.
	s.StoreFlags(ctx, a.ID, in.ID, store.UIDSet{{Lo: 1, Hi: 1}}, store.FlagRemove, store.Flags{Keywords: []string{"TODO"}}, 0)
	res, _ = s.StoreFlags(ctx, a.ID, in.ID, store.UIDSet{{Lo: 2, Hi: 2}}, store.FlagReplace, store.Flags{System: store.FlagDeleted, Keywords: []string{"b", "A"}}, 0)
	if f := res.Changed[0].Flags; f.System != store.FlagDeleted || fmt.Sprint(f.Keywords) != "[A b]" {
		t.Fatalf("replace: %+v", f)
	}
	if _, err := s.StoreFlags(ctx, a.ID, in.ID, nil, store.FlagAdd, store.Flags{Keywords: []string{`\Bad`}}, 0); !errors.Is(err, store.ErrInvalidName) {
		t.Fatalf("invalid keyword: %v", err)
	}
	if n := inbox(t, s, a.ID).Unseen; n != 3 {
		t.Fatalf("unseen %d, want 3", n)
	}
	mid := inbox(t, s, a.ID).HighestModSeq
	// Expunge removes only \Deleted messages and leaves a tombstone.
	gone, err := s.Expunge(ctx, a.ID, in.ID, nil)
	if err != nil || fmt.Sprint(gone) != "[2]" {
		t.Fatalf("expunge %v %v", gone, err)
	}
	s.StoreFlags(ctx, a.ID, in.ID, store.UIDSet{{Lo: 4, Hi: 4}}, store.FlagAdd, store.Flags{System: store.FlagAnswered}, 0)
	c, err := s.Changes(ctx, a.ID, in.ID, mid)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(c.Vanished) != "[{2 2}]" || len(c.Changed) != 1 || c.Changed[0].UID != 4 || c.HighestModSeq != inbox(t, s, a.ID).HighestModSeq || c.UIDNext != 5 {
		t.Fatalf("changes %+v", c)
	}
	c, _ = s.Changes(ctx, a.ID, in.ID, 0)
	if len(c.Changed) != 3 {
		t.Fatalf("all changes %+v", c)
	}
}

func testSearch(t *testing.T, open Opener) {
	s := newStore(t, open)
	a := newAccount(t, s, "a@example.com")
	in := inbox(t, s, a.ID)
	day := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 30; i++ {
		f := store.Flags{}
		if i%2 == 0 {
			f.System = store.FlagSeen
		}
		if i%3 == 0 {
			f.Keywords = []string{"Work"}
		}
		data := testMessage(i)
		if i == 7 {
			data = append(data, bytes.Repeat([]byte("x"), 5000)...)
		}
		s.Deliver(ctx, store.Delivery{Data: data, InternalDate: day.Add(time.Duration(i) * 24 * time.Hour), Targets: []store.Target{{Account: a.ID, Mailbox: in.ID, Flags: f}}})
	}
	cases := []struct {
		q    store.Query
		want string
	}{
		{store.Query{FlagsUnset: store.FlagSeen, UIDs: store.UIDSet{{Lo: 1, Hi: 6}}}, "[2 4 6]"},
		{store.Query{FlagsSet: store.FlagSeen, Keywords: []string{"work"}, UIDs: store.UIDSet{{Lo: 1, Hi: 12}}}, "[1 7]"},
		{store.Query{NotKeywords: []string{"Work"}, FlagsUnset: store.FlagSeen, MaxSize: 1000, UIDs: store.UIDSet{{Lo: 1, Hi: 10}}}, "[2 6]"},
		{store.Query{MinSize: 1000}, "[8]"},
		{store.Query{Since: day.Add(27 * 24 * time.Hour)}, "[28 29 30]"},
		{store.Query{Before: day.Add(2 * 24 * time.Hour)}, "[1 2]"},
		{store.Query{Match: func(m *store.Message) (bool, error) {
			info, err := message.UnmarshalInfo(m.Info)
			return err == nil && info.Subject == "test 11", err
		}, NeedInfo: true}, "[12]"},
	}
	// A set of more than maxSQLRanges ranges is filtered in Go.
	var odd store.UIDSet
	for u := store.UID(1); u <= 29; u += 2 {
		odd = append(odd, store.UIDRange{Lo: u, Hi: u})
	}
	cases = append(cases, struct {
		q    store.Query
		want string
	}{store.Query{UIDs: odd, FlagsUnset: store.FlagSeen}, "[]"})
	for i, c := range cases {
		got, err := s.Search(ctx, a.ID, in.ID, c.q)
		if err != nil || fmt.Sprint(got) != c.want {
			t.Errorf("case %d: %v %v, want %s", i, got, err, c.want)
		}
	}
}

func testCopyMoveShareBlobs(t *testing.T, open Opener) {
	s := newStore(t, open)
	a := newAccount(t, s, "a@example.com")
	in := inbox(t, s, a.ID)
	arch, _ := s.Mailbox(ctx, a.ID, "Archive")
	for i := 0; i < 3; i++ {
		deliver(t, s, a.ID, in.ID, testMessage(i), store.Flags{System: store.FlagFlagged})
	}
	res, err := s.Copy(ctx, a.ID, in.ID, store.UIDSet{{Lo: 2, Hi: 3}}, arch.ID)
	if err != nil || res.UIDValidity != arch.UIDValidity || fmt.Sprint(res.Pairs) != "[{2 1} {3 2}]" {
		t.Fatalf("copy %+v %v", res, err)
	}
	if got := readAll(t, s, a.ID, arch.ID, 2); !bytes.Equal(got, message.NormalizeCRLF(testMessage(2))) {
		t.Fatalf("copy bytes %q", got)
	}
	used, _, _ := s.Quota(ctx, a.ID)
	res, err = s.Move(ctx, a.ID, in.ID, store.UIDSet{{Lo: 1, Hi: 2}}, arch.ID)
	if err != nil || fmt.Sprint(res.Pairs) != "[{1 3} {2 4}]" {
		t.Fatalf("move %+v %v", res, err)
	}
	if u, _, _ := s.Quota(ctx, a.ID); u != used {
		t.Fatalf("move changed used bytes %d -> %d", used, u)
	}
	if got := fmt.Sprint(listUIDs(t, s, a.ID, in.ID)); got != "[3]" {
		t.Fatalf("inbox after move %s", got)
	}
	c, _ := s.Changes(ctx, a.ID, in.ID, 0)
	if fmt.Sprint(c.Vanished) != "[{1 2}]" {
		t.Fatalf("vanished %v", c.Vanished)
	}
	// Blob of message 2 is shared by arch 1 and arch 4: removing one keeps the other readable.
	s.Remove(ctx, a.ID, arch.ID, store.UIDSet{{Lo: 1, Hi: 1}})
	if got := readAll(t, s, a.ID, arch.ID, 4); !bytes.Equal(got, message.NormalizeCRLF(testMessage(1))) {
		t.Fatalf("moved bytes %q", got)
	}
}

func testQuota(t *testing.T, open Opener) {
	s := newStore(t, open)
	a := newAccount(t, s, "a@example.com")
	b := newAccount(t, s, "b@example.com")
	msg := testMessage(1)
	size := int64(len(message.NormalizeCRLF(msg)))
	a.QuotaBytes = size + size/2
	if err := s.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	deliver(t, s, a.ID, 0, msg, store.Flags{})
	res, err := s.Deliver(ctx, store.Delivery{Data: msg, Targets: []store.Target{{Account: a.ID}, {Account: b.ID}, {Account: 999}}})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[0].Err, store.ErrQuotaExceeded) || res[1].Err != nil || res[1].UID != 1 || !errors.Is(res[2].Err, store.ErrNotFound) {
		t.Fatalf("results %+v", res)
	}
	in := inbox(t, s, a.ID)
	if _, err := s.Copy(ctx, a.ID, in.ID, nil, in.ID); !errors.Is(err, store.ErrQuotaExceeded) {
		t.Fatalf("copy over quota: %v", err)
	}
	if used, limit, _ := s.Quota(ctx, a.ID); used != size || limit != a.QuotaBytes {
		t.Fatalf("quota %d/%d", used, limit)
	}
}

func testMailboxHierarchy(t *testing.T, open Opener) {
	s := newStore(t, open)
	a := newAccount(t, s, "a@example.com")
	names := func() string {
		ms, _ := s.Mailboxes(ctx, a.ID)
		var ns []string
		for _, m := range ms {
			ns = append(ns, m.Name)
		}
		return strings.Join(ns, ",")
	}
	if got := names(); got != "Archive,Drafts,INBOX,Junk,Sent,Trash" {
		t.Fatalf("defaults %s", got)
	}
	if m, _ := s.Mailbox(ctx, a.ID, "Sent"); m.SpecialUse != store.SpecialSent {
		t.Fatalf("special use %+v", m)
	}
	if _, err := s.Mailbox(ctx, a.ID, "iNbOx"); err != nil {
		t.Fatal("inbox case-insensitive:", err)
	}
	old, err := s.CreateMailbox(ctx, a.ID, "a/b/c", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateMailbox(ctx, a.ID, "a/b", ""); !errors.Is(err, store.ErrExists) {
		t.Fatalf("parent created implicitly: %v", err)
	}
	for _, bad := range []string{"", "/x", "x/", "a//b", "x*", "x\r"} {
		if _, err := s.CreateMailbox(ctx, a.ID, bad, ""); !errors.Is(err, store.ErrInvalidName) {
			t.Errorf("create %q: %v", bad, err)
		}
	}
	deliver(t, s, a.ID, old.ID, testMessage(1), store.Flags{})
	s.SetSubscribed(ctx, a.ID, "a/b/c", true)
	if err := s.RenameMailbox(ctx, a.ID, "a/b", "x/y"); err != nil {
		t.Fatal(err)
	}
	if got := names(); got != "Archive,Drafts,INBOX,Junk,Sent,Trash,a,x,x/y,x/y/c" {
		t.Fatalf("after rename %s", got)
	}
	if subs, _ := s.Subscriptions(ctx, a.ID); fmt.Sprint(subs) != "[x/y/c]" {
		t.Fatalf("subscriptions %v", subs)
	}
	moved, err := s.Mailbox(ctx, a.ID, "x/y/c")
	if err != nil || moved.ID != old.ID || moved.UIDValidity != old.UIDValidity || moved.Messages != 1 || !moved.Subscribed {
		t.Fatalf("renamed keeps id and mail: %+v %v", moved, err)
	}
	if err := s.RenameMailbox(ctx, a.ID, "x", "x/z"); !errors.Is(err, store.ErrInvalidName) {
		t.Fatalf("rename under itself: %v", err)
	}
	if err := s.RenameMailbox(ctx, a.ID, "x", "Sent"); !errors.Is(err, store.ErrExists) {
		t.Fatalf("rename onto existing: %v", err)
	}
	if err := s.DeleteMailbox(ctx, a.ID, "x/y"); !errors.Is(err, store.ErrHasChildren) {
		t.Fatalf("delete parent: %v", err)
	}
	if err := s.DeleteMailbox(ctx, a.ID, "inbox"); !errors.Is(err, store.ErrSpecialMailbox) {
		t.Fatalf("delete inbox: %v", err)
	}
	if err := s.DeleteMailbox(ctx, a.ID, "x/y/c"); err != nil {
		t.Fatal(err)
	}
	if used, _, _ := s.Quota(ctx, a.ID); used != 0 {
		t.Fatalf("used after delete %d", used)
	}
	// A recreated name gets a new UIDVALIDITY.
	re, _ := s.CreateMailbox(ctx, a.ID, "x/y/c", "")
	if re.UIDValidity == old.UIDValidity || re.ID == old.ID {
		t.Fatalf("recreated %+v vs %+v", re, old)
	}
	// Renaming INBOX moves its messages (RFC 9051 §6.3.6).
	deliver(t, s, a.ID, 0, testMessage(2), store.Flags{})
	deliver(t, s, a.ID, 0, testMessage(3), store.Flags{})
	if err := s.RenameMailbox(ctx, a.ID, "INBOX", "Old"); err != nil {
		t.Fatal(err)
	}
	in := inbox(t, s, a.ID)
	o, _ := s.Mailbox(ctx, a.ID, "Old")
	if in.Messages != 0 || in.UIDNext != 3 || o.Messages != 2 {
		t.Fatalf("inbox %+v old %+v", in, o)
	}
	if got := readAll(t, s, a.ID, o.ID, 2); !bytes.Equal(got, message.NormalizeCRLF(testMessage(3))) {
		t.Fatalf("moved inbox bytes %q", got)
	}
}

func testAccountsDomainsAliasesAppPasswords(t *testing.T, open Opener) {
	s := newStore(t, open)
	if err := s.AddDomain(ctx, "Example.ORG"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddDomain(ctx, "example.org"); !errors.Is(err, store.ErrExists) {
		t.Fatalf("dup domain: %v", err)
	}
	a := newAccount(t, s, "u@example.org")
	if _, err := s.CreateAccount(ctx, store.Account{Address: "U@example.org"}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("dup account: %v", err)
	}
	if ok, _ := s.IsLocalDomain(ctx, "EXAMPLE.org"); !ok {
		t.Fatal("domain not local")
	}
	if err := s.DeleteDomain(ctx, "example.org"); !errors.Is(err, store.ErrExists) {
		t.Fatalf("delete used domain: %v", err)
	}
	a.Disabled, a.AllowPOP3, a.QuotaBytes = true, true, 1000
	a.POP3 = store.POP3Options{Scope: store.POP3ScopeRecent, Days: 7, Delete: store.POP3DeleteHide}
	a.PasswordHash, a.SCRAM = "$argon2id$x", "SCRAM-SHA-256$4096:c2FsdA==$x:y"
	if err := s.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := s.Account(ctx, "U@EXAMPLE.ORG")
	if err != nil || !got.Disabled || !got.AllowPOP3 || !got.AllowIMAP || got.QuotaBytes != 1000 || got.POP3 != a.POP3 || got.PasswordHash != a.PasswordHash || got.SCRAM != a.SCRAM || got.Created.IsZero() {
		t.Fatalf("account %+v %v", got, err)
	}
	if _, err := s.AccountByID(ctx, 999); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing account: %v", err)
	}
	if err := s.SetAlias(ctx, store.Alias{Address: "Info@example.org", Targets: []string{"u@example.org", "x@remote.test"}}); err != nil {
		t.Fatal(err)
	}
	al, err := s.Alias(ctx, "info@EXAMPLE.org")
	if err != nil || fmt.Sprint(al.Targets) != "[u@example.org x@remote.test]" {
		t.Fatalf("alias %+v %v", al, err)
	}
	s.SetAlias(ctx, store.Alias{Address: "@example.org", Targets: []string{"u@example.org"}})
	if as, _ := s.ListAliases(ctx); len(as) != 2 {
		t.Fatalf("aliases %+v", as)
	}
	if err := s.DeleteAlias(ctx, "info@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Alias(ctx, "info@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted alias: %v", err)
	}
	p, err := s.AddAppPassword(ctx, store.AppPassword{AccountID: a.ID, Name: "phone", Hash: "h", SCRAM: "s"})
	if err != nil || p.ID == 0 {
		t.Fatal(p, err)
	}
	if _, err := s.AddAppPassword(ctx, store.AppPassword{AccountID: a.ID, Name: "phone", Hash: "h"}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("dup app password: %v", err)
	}
	when := time.Unix(1700000000, 0)
	s.TouchAppPassword(ctx, p.ID, when)
	ps, _ := s.AppPasswords(ctx, a.ID)
	if len(ps) != 1 || !ps[0].LastUsed.Equal(when) || ps[0].Hash != "h" || ps[0].SCRAM != "s" {
		t.Fatalf("app passwords %+v", ps)
	}
	if err := s.DeleteAppPassword(ctx, a.ID, "phone"); err != nil {
		t.Fatal(err)
	}
	// DeleteAccount removes everything, blobs included.
	deliver(t, s, a.ID, 0, testMessage(1), store.Flags{})
	if err := s.DeleteAccount(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AccountByID(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted account: %v", err)
	}
	if ms, _ := s.Mailboxes(ctx, a.ID); len(ms) != 0 {
		t.Fatalf("deleted account has mailboxes %+v", ms)
	}
	if err := s.DeleteDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
}

// TestIsolation calls every Mail method of account B with account A's
// mailbox ids and UIDs: nothing of A may be seen or changed.
func testIsolation(t *testing.T, open Opener) {
	s := newStore(t, open)
	a := newAccount(t, s, "a@example.com")
	b := newAccount(t, s, "b@example.com")
	in := inbox(t, s, a.ID)
	arch, _ := s.Mailbox(ctx, a.ID, "Archive")
	deliver(t, s, a.ID, in.ID, testMessage(1), store.Flags{System: store.FlagDeleted})
	nf := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s with wrong account: %v, want ErrNotFound", name, err)
		}
	}
	_, err := s.MailboxByID(ctx, b.ID, in.ID)
	nf("MailboxByID", err)
	nf("ListMessages", s.ListMessages(ctx, b.ID, in.ID, store.ListOptions{}, func(*store.Message) error { return nil }))
	_, err = s.Search(ctx, b.ID, in.ID, store.Query{})
	nf("Search", err)
	_, err = s.OpenMessage(ctx, b.ID, in.ID, 1)
	nf("OpenMessage", err)
	_, err = s.StoreFlags(ctx, b.ID, in.ID, nil, store.FlagAdd, store.Flags{System: store.FlagSeen}, 0)
	nf("StoreFlags", err)
	_, err = s.Expunge(ctx, b.ID, in.ID, nil)
	nf("Expunge", err)
	_, err = s.Remove(ctx, b.ID, in.ID, nil)
	nf("Remove", err)
	bin := inbox(t, s, b.ID)
	_, err = s.Copy(ctx, b.ID, in.ID, nil, bin.ID)
	nf("Copy from A", err)
	_, err = s.Copy(ctx, a.ID, in.ID, nil, bin.ID)
	nf("Copy into B", err)
	_, err = s.Move(ctx, b.ID, in.ID, nil, bin.ID)
	nf("Move", err)
	_, err = s.Changes(ctx, b.ID, in.ID, 0)
	nf("Changes", err)
	res, _ := s.Deliver(ctx, store.Delivery{Data: testMessage(2), Targets: []store.Target{{Account: b.ID, Mailbox: arch.ID}}})
	nf("Deliver into A's mailbox", res[0].Err)
	if ms, _ := s.Mailboxes(ctx, b.ID); len(ms) != 6 {
		t.Errorf("B sees %d mailboxes", len(ms))
	}
	// A's message is untouched.
	c, _ := s.Changes(ctx, a.ID, in.ID, 0)
	if len(c.Changed) != 1 || c.Changed[0].Flags.System != store.FlagDeleted || len(c.Vanished) != 0 {
		t.Fatalf("A's mailbox changed: %+v", c)
	}
	if m, _ := s.MailboxByID(ctx, a.ID, arch.ID); m.Messages != 0 {
		t.Fatalf("A's archive got mail: %+v", m)
	}
}

func testEventsPublishedAfterCommit(t *testing.T, open Opener) {
	s := newStore(t, open)
	a := newAccount(t, s, "a@example.com")
	ch, cancel := s.Notifier().Subscribe(a.ID)
	defer cancel()
	r := deliver(t, s, a.ID, 0, testMessage(1), store.Flags{})
	select {
	case e := <-ch:
		if e.Mailbox != r.Mailbox || e.ModSeq != inbox(t, s, a.ID).HighestModSeq {
			t.Fatalf("event %+v", e)
		}
	default:
		t.Fatal("no event after Deliver returned")
	}
	s.CreateMailbox(ctx, a.ID, "New", "")
	select {
	case e := <-ch:
		if !e.Mailboxes {
			t.Fatalf("event %+v", e)
		}
	default:
		t.Fatal("no event after CreateMailbox")
	}
}
