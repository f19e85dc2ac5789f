package server

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestCasemapKey checks the i;unicode-casemap keys (RFC 5051 §2: simple
// titlecase, then NFKD, compared as UTF-8 octets) and the order they give.
func TestCasemapKey(t *testing.T) {
	keys := []struct{ in, want string }{
		{"hello", "HELLO"},
		{"[abc]", "[ABC]"},
		{"_x", "_X"},
		{"Ärger", "A\u0308RGER"},       // titlecase, then Ä decomposes
		{"ärger", "A\u0308RGER"},       // so case does not matter
		{"A\u0308rger", "A\u0308RGER"}, // nor the composition
		{"ﬁle", "fiLE"},                // U+FB01 has no simple titlecase; NFKD gives "fi"
		{"ǆemal", "Dz\u030CEMAL"},      // U+01C6 titlecases to U+01C5, which NFKD splits
		{"你好", "你好"},                   // no case, no decomposition
		{"Ｆｕｌｌ", "FULL"},               // fullwidth letters: NFKD to ASCII
		{"straße", "STRAßE"},           // ß has no simple titlecase
		{"\xff", "\uFFFD"},             // invalid UTF-8 does not break the key
	}
	for _, k := range keys {
		if got := casemapKey(k.in); got != k.want {
			t.Errorf("casemapKey(%q) = %q, want %q", k.in, got, k.want)
		}
	}
	// The order of RFC 5256 §3: "[" and "_" after the letters (they are
	// 0x5B and 0x5F, after "Z"), accented letters with their base letter,
	// Chinese after Latin.
	in := []string{"你好", "_x", "zebra", "ﬁle", "[abc]", "Bär", "Ärger", "apfel", "Azur"}
	want := []string{"apfel", "Azur", "Ärger", "Bär", "zebra", "[abc]", "_x", "ﬁle", "你好"}
	got := slices.Clone(in)
	slices.SortStableFunc(got, func(a, b string) int { return strings.Compare(casemapKey(a), casemapKey(b)) })
	if !slices.Equal(got, want) {
		t.Errorf("order %q, want %q", got, want)
	}
}

// collationMessages have subjects and senders whose order differs between
// i;unicode-casemap and lower-casing.
var collationMessages = []string{
	"From: undisclosed-recipients:;\r\nTo: Team: aa@x.org;\r\nSubject: [abc]\r\n\r\nx\r\n",
	"From: Bob <bob@x.org>\r\nTo: mm@x.org\r\nSubject: _x\r\n\r\nx\r\n",
	"From: \"Zed\" <zed@x.org>\r\nTo: zz@x.org\r\nSubject: Ärger\r\n\r\nx\r\n",
	"From: Amy <amy@x.org>\r\nSubject: =?UTF-8?B?77yBZmlsZQ==?=\r\n\r\nx\r\n", // "！file", fullwidth "!"
	"From: carl@x.org\r\nSubject: apfel\r\n\r\nx\r\n",
	"From: dora@x.org\r\nSubject: =?UTF-8?B?5L2g5aW9?=\r\n\r\nx\r\n", // 你好
	"From: eve@x.org\r\nSubject: Bär\r\n\r\nx\r\n",
	"From: fay@x.org\r\nSubject: zebra\r\n\r\nx\r\n",
	"From: gil@x.org\r\nSubject: =?UTF-8?B?77yBZmlsZQ==?= [x]\r\n\r\nx\r\n",
}

// TestSortCollation is bug 6 of issue 10 end to end: SORT compares with
// i;unicode-casemap (RFC 5256 §3), so "[" and "_" sort after letters, and
// an address list that starts with a group sorts by the group name.
func TestSortCollation(t *testing.T) {
	ts := startServer(t, nil)
	for _, m := range collationMessages {
		ts.deliver(t, "INBOX", m, 0)
	}
	c := ts.login(t)
	c.ok("SELECT INBOX")
	cases := []struct{ cmd, want string }{
		// ！file, ！file [x], apfel, Ärger, Bär, zebra, [abc], _x, 你好:
		// "！" (U+FF01) is "!" after NFKD, before the letters.
		{"SORT (SUBJECT) UTF-8 ALL", "* SORT 4 9 5 3 7 8 1 2 6"},
		{"SORT (REVERSE SUBJECT) UTF-8 ALL", "* SORT 6 2 1 8 7 3 5 9 4"},
		// FROM: amy bob carl dora eve fay gil undisclosed-recipients zed.
		{"SORT (FROM) UTF-8 ALL", "* SORT 4 2 5 6 7 8 9 1 3"},
		// DISPLAYFROM: Amy Bob carl@x.org dora@x.org eve@x.org fay@x.org
		// gil@x.org undisclosed-recipients Zed.
		{"SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 4 2 5 6 7 8 9 1 3"},
		// TO: none (4-9, in order), mm, Team (the group), zz.
		{"SORT (TO) UTF-8 ALL", "* SORT 4 5 6 7 8 9 2 1 3"},
		{"SORT (DISPLAYTO) UTF-8 ALL", "* SORT 4 5 6 7 8 9 2 1 3"},
	}
	for _, tc := range cases {
		if u, done := c.do(tc.cmd); !strings.HasPrefix(done, "OK") || len(u) != 1 || u[0] != tc.want {
			t.Errorf("%s: %q %s, want %q", tc.cmd, u, done, tc.want)
		}
	}
}

// TestESearchModSeq is bug 4 of issue 10: the MODSEQ of an ESEARCH is that
// of the MIN or MAX message when only one of them is asked, the higher of
// the two for MIN and MAX, and the highest of all only with ALL or COUNT
// (RFC 4731 §3.2, RFC 7162 §3.1.5).
func TestESearchModSeq(t *testing.T) {
	ts := startServer(t, nil)
	for i := 0; i < 4; i++ {
		ts.deliver(t, "INBOX", simpleMsg, 0)
	}
	c := ts.login(t)
	c.ok("SELECT INBOX (CONDSTORE)")
	c.ok("STORE 2 +FLAGS.SILENT (\\Flagged)") // message 2 now has the highest
	ms := map[string]string{}
	re := regexp.MustCompile(`^\* (\d+) FETCH \(MODSEQ \((\d+)\)\)$`)
	for _, l := range c.ok("FETCH 1:4 (MODSEQ)") {
		if m := re.FindStringSubmatch(l); m != nil {
			ms[m[1]] = m[2]
		}
	}
	if len(ms) != 4 || mustAtoi(t, ms["2"]) <= mustAtoi(t, ms["4"]) || mustAtoi(t, ms["4"]) <= mustAtoi(t, ms["1"]) {
		t.Fatalf("modseqs %v", ms)
	}
	cases := []struct{ ret, want string }{
		{"MIN", "MIN 1 MODSEQ " + ms["1"]},
		{"MAX", "MAX 4 MODSEQ " + ms["4"]},
		{"MIN MAX", "MIN 1 MAX 4 MODSEQ " + ms["4"]},
		{"COUNT", "COUNT 4 MODSEQ " + ms["2"]},
		{"MIN COUNT", "MIN 1 COUNT 4 MODSEQ " + ms["2"]},
		{"", "ALL 1:4 MODSEQ " + ms["2"]},
		{"PARTIAL 3:4", "PARTIAL (3:4 3:4) MODSEQ " + ms["4"]},
		{"PARTIAL 1:2 MIN", "PARTIAL (1:2 1:2) MIN 1 MODSEQ " + ms["2"]},
	}
	for _, tc := range cases {
		tag := fmt.Sprintf("t%d", c.n+1)
		u := c.ok("SEARCH RETURN (" + tc.ret + ") MODSEQ 1")
		mustContain(t, u, `* ESEARCH (TAG "`+tag+`") `+tc.want)
	}
	// The same for UID SEARCH with a key the index answers too.
	tag := fmt.Sprintf("t%d", c.n+1)
	mustContain(t, c.ok("UID SEARCH RETURN (MAX) UNFLAGGED MODSEQ 1"), `* ESEARCH (TAG "`+tag+`") UID MAX 4 MODSEQ `+ms["4"])
	// SAVE with MIN keeps the MIN message only (RFC 5182 §2.4).
	c.ok("SEARCH RETURN (SAVE MIN) MODSEQ 1 UID 2:4")
	mustContain(t, c.ok("FETCH $ (UID)"), "* 2 FETCH (UID 2)")
}

// TestESearchModSeqGoIMAP reads the MODSEQ of RETURN (MIN) with go-imap's
// client, an independent parser of RFC 4731 §3.2.
func TestESearchModSeqGoIMAP(t *testing.T) {
	ts := startServer(t, nil)
	for i := 0; i < 3; i++ {
		ts.deliver(t, "INBOX", simpleMsg, 0)
	}
	c, err := imapclient.DialTLS(ts.tlsAddr, &imapclient.Options{TLSConfig: clientTLS()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(testUser, testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.UIDSetNum(1, 3), &imap.FetchOptions{UID: true, ModSeq: true}).Collect()
	if err != nil || len(msgs) != 2 {
		t.Fatalf("fetch: %v %v", msgs, err)
	}
	first, third := msgs[0].ModSeq, msgs[1].ModSeq
	data, err := c.UIDSearch(&imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{ModSeq: 1}}, &imap.SearchOptions{ReturnMin: true}).Wait()
	if err != nil || data.Min != 1 || data.ModSeq != first {
		t.Fatalf("MIN: %+v %v, want MIN 1 MODSEQ %d", data, err, first)
	}
	data, err = c.UIDSearch(&imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{ModSeq: 1}}, &imap.SearchOptions{ReturnCount: true}).Wait()
	if err != nil || data.Count != 3 || data.ModSeq != third {
		t.Fatalf("COUNT: %+v %v, want COUNT 3 MODSEQ %d", data, err, third)
	}
}

// TestESort covers the extended SORT (RFC 5267 §3): ESEARCH in sort order,
// MIN and MAX the first and last sorted, ALL with ascending runs only
// (§3.2), and PARTIAL windows of SORT and SEARCH (§4.4, RFC 9394 §3.1).
func TestESort(t *testing.T) {
	_, c := sortServer(t)
	// For reference: SORT (SUBJECT) is 2 1 5 4 3, UIDs 3 2 6 5 4.
	cases := []struct{ cmd, want string }{
		{"SORT RETURN (MIN MAX COUNT) (SUBJECT) UTF-8 ALL", "MIN 2 MAX 3 COUNT 5"},
		{"UID SORT RETURN (ALL) (SUBJECT) UTF-8 ALL", "UID ALL 3,2,6,5,4"},
		{"UID SORT RETURN () (ARRIVAL) UTF-8 ALL", "UID ALL 4,6,2,5,3"},
		{"SORT RETURN (ALL) (SIZE) UTF-8 ALL", "ALL 2,4:5,3,1"},
		{"SORT RETURN (ALL) (REVERSE SIZE) UTF-8 ALL", "ALL 1,3,5,4,2"}, // never "5:4"
		{"SORT RETURN (COUNT ALL) (SUBJECT) UTF-8 SUBJECT nosuch", "COUNT 0"},
		{"SORT RETURN (PARTIAL 2:3) (SUBJECT) UTF-8 ALL", "PARTIAL (2:3 1,5)"},
		{"SORT RETURN (PARTIAL 3:2) (SUBJECT) UTF-8 ALL", "PARTIAL (3:2 1,5)"},
		{"SORT RETURN (PARTIAL -1:-2 COUNT) (SUBJECT) UTF-8 ALL", "PARTIAL (-1:-2 4,3) COUNT 5"},
		{"UID SORT RETURN (PARTIAL 4:100) (SUBJECT) UTF-8 ALL", "UID PARTIAL (4:100 5,4)"},
		{"SORT RETURN (PARTIAL 6:10) (SUBJECT) UTF-8 ALL", "PARTIAL (6:10 NIL)"},
		{"UID SEARCH RETURN (PARTIAL 2:3 COUNT) ALL", "UID PARTIAL (2:3 3:4) COUNT 5"},
		{"SEARCH RETURN (PARTIAL -1:-2) UNSEEN", "PARTIAL (-1:-2 3,5)"},
		{"SEARCH RETURN (CONTEXT MIN) UNSEEN", "MIN 1"},
	}
	for _, tc := range cases {
		tag := fmt.Sprintf("t%d", c.n+1)
		want := `* ESEARCH (TAG "` + tag + `") ` + tc.want
		if u, done := c.do(tc.cmd); !strings.HasPrefix(done, "OK") || len(u) != 1 || u[0] != want {
			t.Errorf("%s: %q %s, want %q", tc.cmd, u, done, want)
		}
	}
	// SAVE keeps the PARTIAL window (RFC 9394 §3.2).
	c.ok("SORT RETURN (SAVE PARTIAL 1:2) (SUBJECT) UTF-8 ALL")
	mustContain(t, c.ok("FETCH $ (UID)"), "* 1 FETCH (UID 2)", "* 2 FETCH (UID 3)")
	for _, cmd := range []string{
		"SORT RETURN (PARTIAL 1:2 ALL) (SUBJECT) UTF-8 ALL", "SEARCH RETURN (ALL PARTIAL 1:2) ALL",
		"SORT RETURN (PARTIAL 0:2) (SUBJECT) UTF-8 ALL", "SEARCH RETURN (PARTIAL -1:2) ALL",
		"SORT RETURN (NOPE) (SUBJECT) UTF-8 ALL", "SORT RETURN (MIN) UTF-8 ALL",
	} {
		if u, done := c.do(cmd); !strings.HasPrefix(done, "BAD") || len(u) != 0 {
			t.Errorf("%s: %q %s, want BAD", cmd, u, done)
		}
	}
	caps := c.ok("CAPABILITY")
	for _, cp := range []string{" ESORT ", " CONTEXT=SEARCH ", " CONTEXT=SORT "} {
		if len(caps) != 1 || !strings.Contains(caps[0]+" ", cp) {
			t.Errorf("capability %q missing in %q", cp, caps)
		}
	}
}

// TestESortModSeq: MIN of an extended SORT is the first sorted message,
// and its mod-sequence is the one reported (RFC 4731 §3.2 via RFC 5267 §3).
func TestESortModSeq(t *testing.T) {
	_, c := sortServer(t)
	c.ok("ENABLE CONDSTORE")
	re := regexp.MustCompile(`^\* (\d+) FETCH \(MODSEQ \((\d+)\)\)$`)
	ms := map[string]string{}
	for _, l := range c.ok("FETCH 1:5 (MODSEQ)") {
		if m := re.FindStringSubmatch(l); m != nil {
			ms[m[1]] = m[2]
		}
	}
	tag := fmt.Sprintf("t%d", c.n+1)
	// SORT (SUBJECT) is 2 1 5 4 3: MIN is 2.
	mustContain(t, c.ok("SORT RETURN (MIN) (SUBJECT) UTF-8 MODSEQ 1"), `* ESEARCH (TAG "`+tag+`") MIN 2 MODSEQ `+ms["2"])
	tag = fmt.Sprintf("t%d", c.n+1)
	mustContain(t, c.ok("SORT RETURN (MAX) (SUBJECT) UTF-8 MODSEQ 1"), `* ESEARCH (TAG "`+tag+`") MAX 3 MODSEQ `+ms["3"])
}

// TestResultCache: a repeated SORT or SEARCH may be answered from the
// session's last result only while the mailbox is unchanged (RFC 5267
// §4.5: results are the same with or without caching); a STORE without
// UID, after which the session has not caught up, a delivery and an
// expunge by another session all change the next page.
func TestResultCache(t *testing.T) {
	ts, c := sortServer(t)
	page := func(cmd, want string) {
		t.Helper()
		tag := c.nextTag()
		mustLines(t, cmd, c.ok(cmd), `* ESEARCH (TAG "`+tag+`") `+want)
	}
	const sortCmd = "SORT RETURN (PARTIAL 1:2) (SUBJECT) UTF-8 UNSEEN"
	page(sortCmd, "PARTIAL (1:2 1,5)") // unseen 1 5 3 by subject
	page(sortCmd, "PARTIAL (1:2 1,5)")
	c.ok("STORE 1 +FLAGS (\\Seen)")
	page(sortCmd, "PARTIAL (1:2 5,3)")
	ts.deliver(t, "INBOX", "From: a@x.org\r\nSubject: aaa\r\n\r\nx\r\n", 0)
	c.ok("NOOP")
	page(sortCmd, "PARTIAL (1:2 6,5)")
	const searchCmd = "SEARCH RETURN (PARTIAL -1:-2 COUNT) FROM x.org"
	page(searchCmd, "PARTIAL (-1:-2 5:6) COUNT 6")
	o := ts.login(t)
	o.ok("SELECT INBOX")
	o.ok("STORE 6 +FLAGS.SILENT (\\Deleted)")
	o.ok("EXPUNGE")
	c.ok("NOOP")
	page(searchCmd, "PARTIAL (-1:-2 4:5) COUNT 5")
	page(sortCmd, "PARTIAL (1:2 5,3)")
}
