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
	"github.com/youju/youju/internal/store/textterms"
)

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
		if err := s.textIdx().db.QueryRow(`SELECT docs FROM mbox`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := docs(); n != 4 {
		t.Fatalf("%d messages indexed, want 4", n)
	}
	ctx := context.Background()
	if _, err := s.StoreFlags(ctx, a.ID, m.ID, store.UIDSet{{Lo: 2, Hi: 2}}, store.FlagAdd, store.Flags{System: store.FlagDeleted}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, a.ID, m.ID, store.UIDSet{{Lo: 2, Hi: 2}}); err != nil {
		t.Fatal(err)
	}
	// Retained for sessions until purged; a reopen purges. The index
	// keeps the postings until a sweep finds the mailbox mostly stale: a
	// candidate the mailbox no longer has.
	dir := s.dir
	s.Close()
	s = openStore(t, dir)
	defer s.Close()
	if got := candidates(t, s, a.ID, m.ID, store.TextBody, "number"); !slices.Equal(got, []store.UID{1, 2, 3}) {
		t.Fatalf("BODY number after expunge: %v", got)
	}
	if err := s.sweepText(ctx); err != nil { // 1 of 4 stale: below the bounds
		t.Fatal(err)
	}
	if n := docs(); n != 4 {
		t.Fatalf("%d messages after a sweep, want 4", n)
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

// TestTextCandidatesPlan: the postings of the words are found by seeks,
// never by reading all the mailbox's postings (that would be the scan
// again).
func TestTextCandidatesPlan(t *testing.T) {
	s := newTestStore(t)
	rows, err := s.textIdx().db.Query(`EXPLAIN QUERY PLAN `+postingsQuery("0,7"), 1, 6, `["abc","abd"]`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(detail, "SCAN post") || strings.Contains(detail, "post") && !strings.Contains(detail, "term=?") {
			t.Errorf("plan reads the mailbox: %s", detail)
		}
		if testing.Verbose() {
			t.Log(detail)
		}
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

// TestTextRunsMerge: postings written as many small runs, merged by tiers
// and then into one, answer as a scan of the same texts does.
func TestTextRunsMerge(t *testing.T) {
	runTextIndexer = false
	defer func() { runTextIndexer = true }()
	defer func(n int) { textBatch = n }(textBatch)
	textBatch = 1 // a run per message: 70 runs, merges up to tier 2
	s := newTestStore(t)
	a := newAccount(t, s, "runs@example.org")
	m := inbox(t, s, a.ID)
	// 发楨 shares 发票's bucket: their entries are in one block.
	words := []string{"alpha", "beta", "gamma", "发楨", "报告", "发票", "müller", "quarterly", "x1", strings.Repeat("long", 30)}
	var bodies []string
	for i := range 70 {
		var b strings.Builder
		for j, w := range words {
			if (i+1)%(j+1) == 0 || i%7 == j {
				b.WriteString(w + " ")
			}
		}
		fmt.Fprintf(&b, "n%d", i)
		bodies = append(bodies, strings.ToLower(b.String()))
		deliver(t, s, a.ID, m.ID, []byte("Subject: s\r\n\r\n"+b.String()+"\r\n"), store.Flags{})
	}
	if termBucket("发楨") != termBucket("发票") {
		t.Fatal("not one bucket")
	}
	check := func(when string) {
		for _, q := range []string{"alpha", "gamma", "发楨", "lph", "elta", "gamma delta", "发票", "票", "ller", "quarter", "n6", "n69", "longlonglong", strings.Repeat("long", 25), "x1 n"} {
			m, ok, err := s.TextCandidates(context.Background(), a.ID, m.ID, store.TextBody, q)
			if err != nil {
				t.Fatal(err)
			}
			for i, body := range bodies {
				u := store.UID(i + 1)
				has := strings.Contains(body, strings.ToLower(q))
				if has && ok && !m.Candidates.Contains(u) {
					t.Errorf("%s: %q: UID %d matches, not a candidate", when, q, u)
				}
				if !has && m.Sure.Contains(u) {
					t.Errorf("%s: %q: UID %d proved, does not match", when, q, u)
				}
			}
			if (q == "gamma" || q == "发票") && (!ok || len(m.Sure) == 0 || countCand(m.Candidates) > 35) {
				t.Errorf("%s: %q narrows badly: %v %v", when, q, ok, m)
			}
		}
	}
	indexAll(t, s)
	var tiers int
	if err := s.textIdx().db.QueryRow(`SELECT count(*) FROM runs WHERE tier > 0`).Scan(&tiers); err != nil || tiers == 0 {
		t.Fatalf("no merged tier: %d %v", tiers, err)
	}
	check("tiers")
	if err := s.optimizeText(context.Background()); err != nil {
		t.Fatal(err)
	}
	var runs int
	if err := s.textIdx().db.QueryRow(`SELECT sum(n) FROM runs WHERE tier >= 0`).Scan(&runs); err != nil || runs != 1 {
		t.Fatalf("%d runs after optimize: %v", runs, err)
	}
	check("optimized")
}

func countCand(set store.UIDSet) int {
	n := 0
	for _, r := range set {
		n += int(r.Hi-r.Lo) + 1
	}
	return n
}

// TestBlockEntries: entries read back as written, CJK bigrams of the main
// block by their code, others by their bytes, big lists as marks.
func TestBlockEntries(t *testing.T) {
	type e struct {
		term string
		list []uint32
	}
	in := []e{{"发票", []uint32{1, 5}}, {"abc", []uint32{3}}, {"ひら", []uint32{2}}, {"㐀㐁", []uint32{7}}, {"common", nil}}
	for i := range 40 {
		in[4].list = append(in[4].list, uint32(i*3+1))
	}
	for _, x := range in {
		bk := termBucket(x.term)
		b := appendEntry(nil, x.term, textterms.AppendUIDs(nil, x.list))
		n := 0
		ok := eachEntry(b, bk, func(term string, list []byte, big bool) {
			n++
			if term != x.term {
				t.Errorf("term %q, want %q", term, x.term)
			}
			if big != (len(textterms.AppendUIDs(nil, x.list)) > textBigList) {
				t.Errorf("%q: big %v", term, big)
			}
			var got []uint32
			textterms.EachUID(list, func(u uint32) { got = append(got, u) })
			if !big && !slices.Equal(got, x.list) {
				t.Errorf("%q: %v, want %v", term, got, x.list)
			}
		})
		if !ok || n != 1 {
			t.Errorf("%q: ok %v, %d entries", x.term, ok, n)
		}
	}
}

// FuzzBlockEntries: a damaged block is refused or read, never a panic.
func FuzzBlockEntries(f *testing.F) {
	f.Add(appendEntry(appendEntry(nil, "发票", []byte{1, 2}), "word", []byte{3}), 7)
	f.Add([]byte{0x81}, 0)
	f.Add([]byte{5, 0xff, 0xff, 0xff}, 4095)
	f.Fuzz(func(t *testing.T, b []byte, bk int) {
		bk &= textBuckets - 1
		eachEntry(b, bk, func(term string, list []byte, big bool) {
			textterms.EachUID(list, func(uint32) {})
		})
	})
}
