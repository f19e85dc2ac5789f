package server

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand"
	"mime"
	"mime/quotedprintable"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/youju/youju/internal/store"
)

// scanOnly hides the store's optional interfaces (TextIndex among them),
// so that a server over it answers SEARCH by scanning.
type scanOnly struct{ store.Store }

// textWords are what the generated messages are made of: Chinese (two-
// character words such as 发票, the common case the trigram index cannot
// answer alone), Latin with case and diacritics, and ASCII.
var textWords = []string{
	"发票", "会议", "报告", "季度", "合同", "请查收", "您好", "附件", "增值税发票",
	"invoice", "Meeting", "REPORT", "quarterly", "Müller", "straße", "Ærø", "naïve",
	"budget", "review", "the", "and", "of", "Q3", "x", "ok", "请", "票",
}

func randText(r *rand.Rand, n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = textWords[r.Intn(len(textWords))]
	}
	sep := " "
	if r.Intn(3) == 0 {
		sep = "" // Chinese runs on without spaces
	}
	return strings.Join(w, sep)
}

func gb18030(s string) string {
	b, err := simplifiedchinese.GB18030.NewEncoder().String(s)
	if err != nil {
		panic(err)
	}
	return b
}

// encodeHeader writes s as plain text or an RFC 2047 encoded word in
// UTF-8 or GB18030, B or Q.
func encodeHeader(r *rand.Rand, s string) string {
	switch r.Intn(4) {
	case 0:
		return mime.BEncoding.Encode("UTF-8", s)
	case 1:
		return mime.QEncoding.Encode("UTF-8", s)
	case 2:
		return "=?GB18030?B?" + base64.StdEncoding.EncodeToString([]byte(gb18030(s))) + "?="
	}
	return s // raw UTF-8 (RFC 6532) or ASCII
}

func addr(r *rand.Rand, who string) string {
	return fmt.Sprintf("%s <%s@example.net>", encodeHeader(r, randText(r, 2)), who)
}

// genTextMessage is one message with a mix of the above, in QP, base64,
// 8bit and GB18030 parts.
func genTextMessage(r *rand.Rand, i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\n", addr(r, fmt.Sprintf("from%d", i%7)), addr(r, "to"))
	if r.Intn(2) == 0 {
		fmt.Fprintf(&b, "Cc: %s\r\n", addr(r, "cc"))
	}
	if r.Intn(3) == 0 {
		fmt.Fprintf(&b, "Bcc: %s\r\n", addr(r, "bcc"))
	}
	fmt.Fprintf(&b, "Subject: %s\r\n", encodeHeader(r, randText(r, 1+r.Intn(4))))
	fmt.Fprintf(&b, "X-Project: %s\r\n", encodeHeader(r, randText(r, 2)))
	fmt.Fprintf(&b, "Date: Mon, 2 Nov 2026 10:%02d:00 +0800\r\nMessage-ID: <%d@example.net>\r\nMIME-Version: 1.0\r\n", i%60, i)
	body := randText(r, 5+r.Intn(40))
	switch r.Intn(4) {
	case 0:
		var q strings.Builder
		w := quotedprintable.NewWriter(&q)
		w.Write([]byte(body))
		w.Close()
		fmt.Fprintf(&b, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n%s\r\n", q.String())
	case 1:
		fmt.Fprintf(&b, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n", base64.StdEncoding.EncodeToString([]byte(body)))
	case 2:
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
		fmt.Fprintf(&b, "Content-Type: text/plain; charset=GB18030\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n", base64.StdEncoding.EncodeToString([]byte(gb18030(body))))
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n", i, base64.StdEncoding.EncodeToString([]byte("发票 invoice not text")))
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	default:
		fmt.Fprintf(&b, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n", body)
	}
	return b.String()
}

// waitIndexed waits until the store's indexer has caught up: then a term
// found nowhere has no candidates.
func waitIndexed(t testing.TB, st store.Store, acct store.AccountID, mbox store.MailboxID) {
	t.Helper()
	ti := st.(store.TextIndex)
	deadline := time.Now().Add(30 * time.Minute) // 100k messages on a loaded machine
	for {
		m, ok, err := ti.TextCandidates(context.Background(), acct, mbox, store.TextBody, "qqzzjjxx")
		if err != nil || !ok {
			t.Fatalf("TextCandidates: %v %v", ok, err)
		}
		if len(m.Candidates) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("indexer has not caught up: %v unindexed", m.Candidates)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// textPrograms are the SEARCH programs compared (%s: a term as a literal).
var textPrograms = []string{
	"SUBJECT %s", "FROM %s", "TO %s", "CC %s", "BCC %s", "BODY %s", "TEXT %s",
	"HEADER Subject %s", "HEADER X-Project %s", "HEADER Message-ID %s",
	"NOT SUBJECT %s", "OR SUBJECT %s BODY 报告", "OR FROM %s NOT BODY invoice",
	"SUBJECT %s BODY 发票", "NOT TEXT %s", "UNSEEN TEXT %s", "OR TEXT %s TO review",
}

var textTerms = []string{
	"发票", "增值税", "票", "请查收", "INVOICE", "meet", "MÜLLER", "STRASSE", "straße", "ærø",
	"q3", "ok", "x", "the", "invoice meeting", "发票会议", "quarterly review", "example.net",
	"from3@", "nowhere-at-all", "会议报告", "",
}

// TestTextIndexEqualsScan compares SEARCH answered with the text index and
// by a scan (RFC 9051 §6.4.4 substring semantics) on a generated mailbox,
// both while the indexer catches up and after; and checks that the index
// narrows at all.
func TestTextIndexEqualsScan(t *testing.T) {
	ts := startServer(t, nil)
	scan := startServer(t, func(s *Server) {})
	scan.srv.Store = scanOnly{ts.st} // the same mailbox, no index
	scan.acct = ts.acct
	r := rand.New(rand.NewSource(12))
	const n = 300
	for i := range n {
		ts.deliver(t, "INBOX", genTextMessage(r, i), store.SysFlags(r.Intn(2))*store.FlagSeen)
	}
	m, err := ts.st.Mailbox(context.Background(), ts.acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	ci, cs := ts.login(t), scan.login(t)
	ci.ok("SELECT INBOX")
	cs.ok("SELECT INBOX")
	compare := func() int {
		diff := 0
		for _, p := range textPrograms {
			for _, term := range textTerms {
				cmd := "UID SEARCH CHARSET UTF-8 " + fmt.Sprintf(p, fmt.Sprintf("{%d+}\r\n%s", len(term), term))
				a, b := ci.ok(cmd), cs.ok(cmd)
				if strings.Join(a, "\n") != strings.Join(b, "\n") {
					t.Errorf("%q: index %q, scan %q", cmd, a, b)
					diff++
				}
			}
		}
		return diff
	}
	compare() // while the indexer may still be catching up
	waitIndexed(t, ts.st, ts.acct.ID, m.ID)
	compare()
	// The index must narrow: a selective term has fewer candidates than
	// messages, and every message a scan finds is among them.
	ti := ts.st.(store.TextIndex)
	for _, c := range []struct {
		f     store.TextField
		term  string
		key   string
		exact bool // the index proves its hits
	}{{store.TextSubject, "请查收", "SUBJECT", false}, {store.TextBody, "发票", "BODY", true}, {store.TextFrom, "from3@", "FROM", false},
		{store.TextHeader, "ærø", "HEADER X-Project", false}, {store.TextSubject, "发票", "SUBJECT", true}} {
		cand, ok, err := ti.TextCandidates(context.Background(), ts.acct.ID, m.ID, c.f, c.term)
		if err != nil || !ok {
			t.Fatalf("%s: %v %v", c.term, ok, err)
		}
		if k := countUIDs(cand.Candidates); k == 0 || k >= n {
			t.Errorf("%s %s: %d candidates of %d messages: the index does not narrow", c.key, c.term, k, n)
		}
		found := cs.ok(fmt.Sprintf("UID SEARCH CHARSET UTF-8 %s {%d+}\r\n%s", c.key, len(c.term), c.term))
		var scanned store.UIDSet
		for _, f := range strings.Fields(strings.TrimPrefix(found[0], "* SEARCH")) {
			var u store.UID
			fmt.Sscan(f, &u)
			scanned = scanned.AppendRange(u, u)
			if !cand.Candidates.Contains(u) {
				t.Errorf("%s %s: UID %d matches but is not a candidate", c.key, c.term, u)
			}
		}
		// What the index proves, the scan finds (the header field is
		// every header line: what it proves, TEXT finds).
		if c.f == store.TextHeader {
			found = cs.ok(fmt.Sprintf("UID SEARCH CHARSET UTF-8 TEXT {%d+}\r\n%s", len(c.term), c.term))
			scanned = nil
			for _, f := range strings.Fields(strings.TrimPrefix(found[0], "* SEARCH")) {
				var u store.UID
				fmt.Sscan(f, &u)
				scanned = scanned.AppendRange(u, u)
			}
		}
		for _, r := range cand.Sure {
			for u := r.Lo; u <= r.Hi; u++ {
				if !scanned.Contains(u) {
					t.Errorf("%s %s: UID %d proved by the index but not found by a scan", c.key, c.term, u)
				}
			}
		}
		if c.exact && countUIDs(cand.Sure) == 0 {
			t.Errorf("%s %s: the index proves nothing", c.key, c.term)
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
