package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/youju/youju/internal/store"
)

func TestQueryGrams(t *testing.T) {
	for _, c := range []struct {
		in, q string
		exact bool
	}{
		{"", "", false},
		{"ab", "", false},
		{"发", "", false},
		{"发票", `"发票"`, true},
		{"INVOICE", `"inv" AND "nvo" AND "voi" AND "oic" AND "ice"`, false},
		{"Inv", `"inv"`, true},
		{"Q3发票", `"发票"`, false},
		{"ab发票cd", `"发票"`, false},
		{"abc发票", `"abc" AND "发票"`, false},
		{`ab"c`, "\"ab\ue022\"", false},
		{"a b", "", false},
		{"ab c", "\"ab\ue020\"", false},
		{"aaaa", `"aaa"`, false},
		{"增值税发票", `"增值" AND "值税" AND "税发" AND "发票"`, false},
	} {
		q, exact := queryGrams(c.in)
		if q != c.q || exact != c.exact {
			t.Errorf("queryGrams(%q) = %q, %v; want %q, %v", c.in, q, exact, c.q, c.exact)
		}
	}
	// A long term is bounded, first and last gram kept.
	q, _ := queryGrams("abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789")
	if n := strings.Count(q, " AND ") + 1; n > maxQueryGrams+1 || n < maxQueryGrams/2 || !strings.HasPrefix(q, `"abc" AND`) || !strings.HasSuffix(q, `AND "9ab"`) {
		t.Errorf("%d grams in %q", n, q)
	}
}

// TestDocTokens: each distinct gram once, CJK as bigrams, no gram across a
// CJK run.
func TestDocTokens(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"abcabc", "abc bca cab "},
		{"ab发票税x", "发票 票税 "},
		{"xyz发票", "xyz 发票 "},
		{"ab", ""},
	} {
		if got := docTokens(c.in); got != c.want {
			t.Errorf("docTokens(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// indexAll runs the indexer until nothing is left.
func indexAll(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	todo, err := s.textPending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range todo {
		for more := true; more; {
			if more, err = s.indexBatch(ctx, &mb); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func candidates(t *testing.T, s *Store, acct store.AccountID, mbox store.MailboxID, f store.TextField, v string) []store.UID {
	t.Helper()
	m, ok, err := s.TextCandidates(context.Background(), acct, mbox, f, v)
	if err != nil || !ok {
		t.Fatalf("TextCandidates(%q): %v %v", v, ok, err)
	}
	var uids []store.UID
	for _, r := range m.Candidates {
		for u := r.Lo; u <= r.Hi; u++ {
			uids = append(uids, u)
		}
	}
	return uids
}

// TestTextIndexCatchUpAndExpunge: messages not indexed yet are candidates
// of every term, indexed ones only of theirs, and an expunged message's
// entries go with its blob.
func TestTextIndexCatchUpAndExpunge(t *testing.T) {
	runTextIndexer = false
	defer func() { runTextIndexer = true }()
	s := newTestStore(t)
	a := newAccount(t, s, "fts@example.org")
	m := inbox(t, s, a.ID)
	for i := range 3 {
		deliver(t, s, a.ID, m.ID, []byte(fmt.Sprintf("Subject: 关于发票 %d\r\n\r\nbody number%d\r\n", i, i)), store.Flags{})
	}
	if got := candidates(t, s, a.ID, m.ID, store.TextBody, "number1"); len(got) != 3 {
		t.Fatalf("before indexing: %v, want all 3", got)
	}
	indexAll(t, s)
	if got := candidates(t, s, a.ID, m.ID, store.TextBody, "number1"); !slices.Equal(got, []store.UID{2}) {
		t.Fatalf("BODY number1: %v", got)
	}
	if got := candidates(t, s, a.ID, m.ID, store.TextSubject, "发票"); len(got) != 3 {
		t.Fatalf("SUBJECT 发票: %v", got)
	}
	if got := candidates(t, s, a.ID, m.ID, store.TextBody, "发票"); len(got) != 0 {
		t.Fatalf("BODY 发票: %v", got)
	}
	// A new message is a candidate until indexed.
	deliver(t, s, a.ID, m.ID, []byte("Subject: x\r\n\r\nother\r\n"), store.Flags{})
	if got := candidates(t, s, a.ID, m.ID, store.TextBody, "number1"); !slices.Equal(got, []store.UID{2, 4}) {
		t.Fatalf("with one unindexed: %v", got)
	}
	indexAll(t, s)
	docs := func() (n int) {
		if err := s.textIdx().db.QueryRow(`SELECT count(*) FROM doc`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := docs(); n != 4 {
		t.Fatalf("%d body docs, want 4", n)
	}
	ctx := context.Background()
	if _, err := s.StoreFlags(ctx, a.ID, m.ID, store.UIDSet{{Lo: 2, Hi: 2}}, store.FlagAdd, store.Flags{System: store.FlagDeleted}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, a.ID, m.ID, store.UIDSet{{Lo: 2, Hi: 2}}); err != nil {
		t.Fatal(err)
	}
	// Retained for sessions until purged; a reopen purges. The index
	// keeps the row until a sweep: a candidate the mailbox no longer has.
	dir := s.dir
	s.Close()
	s = openStore(t, dir)
	defer s.Close()
	if got := candidates(t, s, a.ID, m.ID, store.TextBody, "number"); !slices.Equal(got, []store.UID{1, 2, 3}) {
		t.Fatalf("BODY number after expunge: %v", got)
	}
	if err := s.sweepText(ctx); err != nil {
		t.Fatal(err)
	}
	if n := docs(); n != 3 {
		t.Fatalf("%d docs after the expunge and a sweep, want 3", n)
	}
	if got := candidates(t, s, a.ID, m.ID, store.TextBody, "number"); !slices.Equal(got, []store.UID{1, 3}) {
		t.Fatalf("BODY number after expunge: %v", got)
	}
	// A rebuild queues the account's messages: candidates until redone.
	if n, err := s.RebuildTextIndex(ctx, a.ID); err != nil || n != 3 {
		t.Fatalf("RebuildTextIndex: %d %v", n, err)
	}
	// (every UID below UIDNEXT: the expunged 2 is verified away.)
	if got := candidates(t, s, a.ID, m.ID, store.TextBody, "zzzz"); !slices.Equal(got, []store.UID{1, 2, 3, 4}) {
		t.Fatalf("after rebuild: %v", got)
	}
	indexAll(t, s)
	if got := candidates(t, s, a.ID, m.ID, store.TextBody, "number3"); len(got) != 0 {
		t.Fatalf("after reindexing: %v", got)
	}
	if got := candidates(t, s, a.ID, m.ID, store.TextBody, "number0"); !slices.Equal(got, []store.UID{1}) {
		t.Fatalf("after reindexing: %v", got)
	}
}

// FuzzTextCandidates: whatever a client searches for, the lookup is a valid
// FTS5 query and finds the message that contains it.
func FuzzTextCandidates(f *testing.F) {
	for _, s := range []string{"发票", `a"b`, "*", "NEAR(a b)", "a OR b", "^x", "{t}:x", "\x00\x01\x01", "ab发c", "💌💌💌", "AND"} {
		f.Add(s)
	}
	runTextIndexer = false
	defer func() { runTextIndexer = true }()
	s := newTestStore(f)
	a := newAccount(f, s, "fuzz@example.org")
	m := inbox(f, s, a.ID)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, v string) {
		if !utf8.ValidString(v) || strings.ContainsAny(v, "\r\n") || len(v) > 200 {
			return
		}
		res := deliver(t, s, a.ID, m.ID, []byte("Subject: x\r\n\r\n<"+v+">\r\n"), store.Flags{})
		indexAll(t, s)
		uids, ok, err := s.TextCandidates(ctx, a.ID, m.ID, store.TextBody, v)
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		if ok && !uids.Candidates.Contains(res.UID) {
			t.Fatalf("%q: UID %d not a candidate of its own text", v, res.UID)
		}
	})
}

// TestTextCandidatesPlan: the candidates of a mailbox are found by seeks,
// never by reading all its messages (that would be the scan again).
func TestTextCandidatesPlan(t *testing.T) {
	s := newTestStore(t)
	for _, table := range ftsTables {
		rows, err := s.textIdx().db.Query(`EXPLAIN QUERY PLAN `+candidatesQuery(table), 1, `"abc"`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(detail, "SCAN msg") {
				t.Errorf("plan reads the mailbox: %s", detail)
			}
		}
		rows.Close()
	}
}

func init() {
	// YOUJU_NO_TEXT_INDEXER=1 runs the benchmarks without the background
	// indexer, to compare delivery with and without it.
	if os.Getenv("YOUJU_NO_TEXT_INDEXER") != "" {
		runTextIndexer = false
	}
}

// TestTextDBRebuilt: a damaged or missing text.db is replaced by an empty
// one at open, and the indexer builds it again from index.db.
func TestTextDBRebuilt(t *testing.T) {
	runTextIndexer = false
	defer func() { runTextIndexer = true }()
	dir := t.TempDir()
	s := openStore(t, dir)
	a := newAccount(t, s, "re@example.org")
	m := inbox(t, s, a.ID)
	for i := range 3 {
		deliver(t, s, a.ID, m.ID, []byte(fmt.Sprintf("Subject: s\r\n\r\nbody word%d\r\n", i)), store.Flags{})
	}
	indexAll(t, s)
	s.Close()
	for _, damage := range []func(string) error{
		func(p string) error {
			return os.WriteFile(p, []byte("this is not a database, only some bytes of garbage"), 0o600)
		},
		os.Remove,
	} {
		if err := damage(filepath.Join(dir, "text.db")); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(dir, "text.db-wal"))
		s = openStore(t, dir)
		if got := candidates(t, s, a.ID, m.ID, store.TextBody, "word1"); !slices.Equal(got, []store.UID{1, 2, 3}) {
			t.Fatalf("before indexing again: %v", got)
		}
		indexAll(t, s)
		if got := candidates(t, s, a.ID, m.ID, store.TextBody, "word1"); !slices.Equal(got, []store.UID{2}) {
			t.Fatalf("indexed again: %v", got)
		}
		s.Close()
	}
}

// TestTextIndexerYields: under steady commits the indexer waits; with the
// writer idle it runs at once.
func TestTextIndexerYields(t *testing.T) {
	s := newTestStore(t)
	var ww writerWatch
	now := time.Now()
	s.batches.Add(1)
	if ww.light(s, now) {
		t.Fatal("light right after a commit")
	}
	if !ww.light(s, now.Add(textWriterIdle)) {
		t.Fatal("not light after textWriterIdle without a commit")
	}
	for i := range 10 { // a commit every 5 ms
		s.batches.Add(1)
		if ww.light(s, now.Add(textWriterIdle+time.Duration(i)*5*time.Millisecond)) {
			t.Fatalf("light while the writer commits every 5 ms (%d)", i)
		}
	}
}
