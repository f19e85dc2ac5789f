package postgres

import (
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/textterms"
)

// textBodies are the bodies the text index tests deliver: Chinese
// (two-character words), Latin with diacritics, long words, QP and base64.
func textBodies() []string {
	words := []string{"alpha", "beta", "gamma", "发票", "报告", "增值税发票", "müller", "quarterly", "x1", strings.Repeat("long", 30)}
	var out []string
	for i := range 40 {
		var b strings.Builder
		for j, w := range words {
			if (i+1)%(j+1) == 0 || i%7 == j {
				b.WriteString(w + " ")
			}
		}
		fmt.Fprintf(&b, "n%d", i)
		out = append(out, b.String())
	}
	return out
}

func deliverText(t *testing.T, s *Store, acct store.Account, i int, body string) {
	t.Helper()
	var data string
	switch i % 3 {
	case 0:
		data = "Subject: s" + fmt.Sprint(i) + "\r\n\r\n" + body + "\r\n"
	case 1: // base64 body, encoded-word subject
		data = "Subject: =?UTF-8?B?5YWz5LqO5Y+R56Wo?=\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			b64(body) + "\r\n"
	default: // quoted-printable
		data = "Subject: q\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
			qp(body) + "\r\n"
	}
	res, err := s.Deliver(ctx, store.Delivery{Data: []byte(data), Targets: []store.Target{{Account: acct.ID}}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
}

// checkCandidates checks the index against the bodies: every message that
// has the term is a candidate, every proved one has it.
func checkCandidates(t *testing.T, s *Store, acct store.Account, mbox store.MailboxID, bodies []string, when string) {
	t.Helper()
	for _, q := range []string{"alpha", "gamma", "lph", "elta", "gamma delta", "发票", "票", "税发", "ller", "MÜLLER", "quarter", "n6", "n39", "longlonglong", strings.Repeat("long", 25), "x1 n"} {
		m, ok, err := s.TextCandidates(ctx, acct.ID, mbox, store.TextBody, q)
		if err != nil {
			t.Fatal(err)
		}
		for i, body := range bodies {
			u := store.UID(i + 1)
			has := strings.Contains(strings.ToLower(body), strings.ToLower(q))
			if has && ok && !m.Candidates.Contains(u) {
				t.Errorf("%s: %q: UID %d matches, not a candidate", when, q, u)
			}
			if !has && m.Sure.Contains(u) {
				t.Errorf("%s: %q: UID %d proved, does not match", when, q, u)
			}
		}
		if (q == "gamma" || q == "发票") && (!ok || len(m.Sure) == 0 || countUIDs(m.Candidates) > 25) {
			t.Errorf("%s: %q narrows badly: %v %v", when, q, ok, m)
		}
	}
}

func countUIDs(set store.UIDSet) int {
	n := 0
	for _, r := range set {
		n += int(r.Hi-r.Lo) + 1
	}
	return n
}

// TestTextIndex: messages not indexed yet are candidates of every term,
// indexed ones only of theirs; small batches add entries to the rows,
// which are compacted once the mark passed their span; a rebuild indexes
// again; a deleted mailbox leaves no rows.
func TestTextIndex(t *testing.T) {
	defer func(n, k int) { textBatch, spanShift = n, k }(textBatch, spanShift)
	textBatch, spanShift = 7, 4 // spans of 16 UIDs: compacted as the mark passes them
	s := openSchema(t, schemaFor(t.TempDir()), Options{NoTextIndexer: true})
	a := newAccount(t, s, "text@example.org")
	in, err := s.Mailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	bodies := textBodies()
	for i, b := range bodies {
		deliverText(t, s, a, i, b)
	}
	if n, err := s.TextIndexPending(ctx); err != nil || n != int64(len(bodies)) {
		t.Fatalf("pending %d %v", n, err)
	}
	m, ok, err := s.TextCandidates(ctx, a.ID, in.ID, store.TextBody, "gamma")
	if err != nil || !ok || countUIDs(m.Candidates) != len(bodies) {
		t.Fatalf("before indexing: %v %v %v", m, ok, err)
	}
	if n, err := s.IndexText(ctx); err != nil || n < len(bodies) {
		t.Fatalf("indexed %d: %v", n, err)
	}
	if n, err := s.TextIndexPending(ctx); err != nil || n != 0 {
		t.Fatalf("pending %d %v", n, err)
	}
	checkCandidates(t, s, a, in.ID, bodies, "indexed")
	// The spans passed have one entry per term.
	var dup int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM text_postings WHERE mailbox_id=$1 AND span < 2`, in.ID).Scan(&dup); err != nil || dup == 0 {
		t.Fatalf("no compacted rows: %d %v", dup, err)
	}
	prows, err := s.pool.Query(ctx, `SELECT entries FROM text_postings WHERE mailbox_id=$1 AND span < 2`, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	for prows.Next() {
		var data []byte
		prows.Scan(&data)
		terms := map[string]bool{}
		eachEntry(data, func(term string, _ []byte) bool {
			if terms[term] {
				t.Errorf("span not compacted: %q twice", term)
			}
			terms[term] = true
			return true
		})
	}
	prows.Close()
	// The encoded-word subject 关于发票 of every third message.
	m, ok, err = s.TextCandidates(ctx, a.ID, in.ID, store.TextSubject, "发票")
	if err != nil || !ok || countUIDs(m.Sure) != len(bodies)/3 || countUIDs(m.Candidates) != len(bodies)/3 {
		t.Errorf("subject 发票: %v %v %v", m, ok, err)
	}
	// More mail: the new messages are candidates until indexed.
	bodies = append(bodies, "gamma again")
	deliverText(t, s, a, len(bodies)-1, bodies[len(bodies)-1])
	m, _, _ = s.TextCandidates(ctx, a.ID, in.ID, store.TextBody, "发票")
	if !m.Candidates.Contains(store.UID(len(bodies))) {
		t.Errorf("a message not indexed yet is no candidate: %v", m)
	}
	if _, err := s.IndexText(ctx); err != nil {
		t.Fatal(err)
	}
	checkCandidates(t, s, a, in.ID, bodies, "more")
	// Expunge the first half: once a quarter of what was indexed is gone,
	// the mailbox is indexed again and its postings lose them.
	if _, err := s.Remove(ctx, a.ID, in.ID, store.UIDSet{{Lo: 1, Hi: store.UID(len(bodies) / 2)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IndexText(ctx); err != nil {
		t.Fatal(err)
	}
	m, ok, err = s.TextCandidates(ctx, a.ID, in.ID, store.TextBody, "n10") // UID 11's
	if err != nil || !ok || m.Candidates.Contains(11) {
		t.Errorf("after expunging UIDs 1-%d: n10 %v %v %v", len(bodies)/2, m, ok, err)
	}
	// Later indexing has the rest, the expunged stay out.
	for i := range len(bodies) / 2 {
		bodies[i] = ""
	}
	checkCandidates(t, s, a, in.ID, bodies, "expunged")
	if n, err := s.RebuildTextIndex(ctx, a.ID); err != nil || n != len(bodies)-len(bodies)/2 {
		t.Fatalf("rebuild: %d %v", n, err)
	}
	m, ok, _ = s.TextCandidates(ctx, a.ID, in.ID, store.TextBody, "gamma")
	if !ok || countUIDs(m.Candidates) != len(bodies) {
		t.Errorf("after rebuild, before indexing: %v", m)
	}
	if _, err := s.IndexText(ctx); err != nil {
		t.Fatal(err)
	}
	checkCandidates(t, s, a, in.ID, bodies, "rebuilt")
	// Another account cannot read this mailbox's index.
	b := newAccount(t, s, "other@example.org")
	if _, _, err := s.TextCandidates(ctx, b.ID, in.ID, store.TextBody, "gamma"); err != store.ErrNotFound {
		t.Errorf("other account: %v", err)
	}
	// A deleted mailbox's rows go with it.
	gone, err := s.CreateMailbox(ctx, a.ID, "Gone", "")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.Deliver(ctx, store.Delivery{Data: []byte("Subject: gone\r\n\r\ngamma\r\n"), Targets: []store.Target{{Account: a.ID, Mailbox: gone.ID}}}); err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	if _, err := s.IndexText(ctx); err != nil {
		t.Fatal(err)
	}
	rows := func() (n int) {
		if err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM text_postings WHERE mailbox_id=$1) + (SELECT count(*) FROM text_marks WHERE mailbox_id=$1)`, gone.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if rows() == 0 {
		t.Fatal("the mailbox was not indexed")
	}
	if err := s.DeleteMailbox(ctx, a.ID, "Gone"); err != nil {
		t.Fatal(err)
	}
	if n := rows(); n != 0 {
		t.Errorf("%d rows of a deleted mailbox", n)
	}
}

// TestTextIndexTwoNodes: two nodes draining the queue at once index every
// message exactly once, and each node finds the words the other wrote.
func TestTextIndexTwoNodes(t *testing.T) {
	defer func(n, k int) { textBatch, spanShift = n, k }(textBatch, spanShift)
	textBatch, spanShift = 3, 3
	schema := schemaFor(t.TempDir())
	s1 := openSchema(t, schema, Options{NoTextIndexer: true})
	defer s1.Close()
	s2 := openSchema(t, schema, Options{NoTextIndexer: true})
	defer s2.Close()
	a := newAccount(t, s1, "two@example.org")
	in, err := s1.Mailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	bodies := textBodies()
	for i, b := range bodies {
		deliverText(t, s1, a, i, b)
	}
	var wg sync.WaitGroup
	var n1, n2 int
	var e1, e2 error
	wg.Add(2)
	go func() { defer wg.Done(); n1, e1 = s1.IndexText(ctx) }()
	go func() { defer wg.Done(); n2, e2 = s2.IndexText(ctx) }()
	wg.Wait()
	if e1 != nil || e2 != nil {
		t.Fatal(e1, e2)
	}
	if _, err := s1.IndexText(ctx); err != nil { // what a node left to the other
		t.Fatal(err)
	}
	if n, _ := s1.TextIndexPending(ctx); n != 0 {
		t.Fatalf("%d pending after %d+%d", n, n1, n2)
	}
	// No UID is in a term's entries twice: no batch was indexed twice.
	rows, err := s1.pool.Query(ctx, `SELECT field, entries FROM text_postings WHERE mailbox_id=$1`, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for rows.Next() {
		var field int16
		var data []byte
		if err := rows.Scan(&field, &data); err != nil {
			t.Fatal(err)
		}
		eachEntry(data, func(term string, list []byte) bool {
			textterms.EachUID(list, func(u uint32) {
				k := fmt.Sprint(field, term, u)
				if seen[k] {
					t.Errorf("%q: UID %d twice", term, u)
				}
				seen[k] = true
			})
			return true
		})
	}
	rows.Close()
	checkCandidates(t, s1, a, in.ID, bodies, "node 1")
	checkCandidates(t, s2, a, in.ID, bodies, "node 2")
}

// TestPostingEntries: entries appended to a row read back in order.
func TestPostingEntries(t *testing.T) {
	var b []byte
	var want, got []string
	// A bigram as codes, a word, a bigram beyond 16 bits as UTF-8.
	for i, l := range [][]uint32{{1, 5}, {9}, {4000, 4001, 4002, 4003, 4004, 4005, 4006, 4007, 4008, 4009, 4010, 4011}, {7}} {
		term := []string{"发票", "a", "word", "𠀀𠀁"}[i]
		b = appendEntry(b, term, textterms.AppendUIDs(nil, l))
		want = append(want, fmt.Sprint(term, l))
	}
	if !eachEntry(b, func(term string, list []byte) bool {
		var l []uint32
		textterms.EachUID(list, func(u uint32) { l = append(l, u) })
		got = append(got, fmt.Sprint(term, l))
		return true
	}) || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%v, want %v", got, want)
	}
	if eachEntry(append(b, 9, 1), func(string, []byte) bool { return true }) {
		t.Error("a cut entry is not refused")
	}
	if eachEntry(append(b, 0, 0x53), func(string, []byte) bool { return true }) {
		t.Error("a cut bigram is not refused")
	}
	if n := len(appendEntry(nil, "发票", []byte{1})); n != 7 {
		t.Errorf("a bigram entry of a 1-byte list is %d bytes, want 7", n)
	}
}

// FuzzPostingEntries: a damaged row is refused or read, never a panic.
func FuzzPostingEntries(f *testing.F) {
	f.Add(appendEntry(appendEntry(nil, "发票", textterms.AppendUIDs(nil, []uint32{1, 2, 3})), "x", textterms.AppendUIDs(nil, []uint32{70})))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{2, 0, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		eachEntry(b, func(_ string, list []byte) bool {
			textterms.EachUID(list, func(uint32) {})
			return true
		})
	})
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// qp encodes every byte but letters and spaces, lines well under 76.
func qp(s string) string {
	var b strings.Builder
	n := 0
	for _, c := range []byte(s) {
		if c == ' ' || c >= 'a' && c <= 'z' {
			b.WriteByte(c)
			n++
		} else {
			fmt.Fprintf(&b, "=%02X", c)
			n += 3
		}
		if n > 60 {
			b.WriteString("=\r\n")
			n = 0
		}
	}
	return b.String()
}

// TestTextIndexerFollowsOtherNode: a node's indexer indexes, at its
// start, the mail delivered while it was not running, and then, from the
// events alone (no rescan in the test's time), the mail another node
// delivers.
func TestTextIndexerFollowsOtherNode(t *testing.T) {
	schema := schemaFor(t.TempDir())
	s1 := openSchema(t, schema, Options{NoTextIndexer: true})
	defer s1.Close()
	a := newAccount(t, s1, "follow@example.org")
	in, err := s1.Mailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	bodies := textBodies()
	for i, b := range bodies[:20] {
		deliverText(t, s1, a, i, b)
	}
	s2 := openSchema(t, schema, Options{textPoll: 10 * time.Millisecond, textRescan: time.Hour})
	defer s2.Close()
	waitIndexed(t, s2, "at start")
	for i, b := range bodies[20:] {
		deliverText(t, s1, a, 20+i, b)
	}
	waitIndexed(t, s2, "after node 1 delivered")
	checkCandidates(t, s1, a, in.ID, bodies, "node 1")
}

// waitIndexed waits until nothing waits for the index (the indexer of s
// runs); it fails after a minute.
func waitIndexed(t *testing.T, s *Store, when string) {
	t.Helper()
	for range 6000 {
		n, err := s.TextIndexPending(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: the indexer did not index the mail", when)
}
