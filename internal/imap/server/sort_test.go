package server

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/youju/youju/internal/store"
)

func TestBaseSubject(t *testing.T) {
	cases := []struct{ in, want string }{
		{"hello", "hello"},
		{"Re: Fwd: [list] hello", "hello"},
		{"RE:  re:\tHello   World ", "hello world"},
		{"Fw: hello (fwd) (FWD)", "hello"},
		{"[fwd: Re: hello]", "hello"},
		{"[Fwd: [list] re: hello (fwd)]", "hello"},
		{"re [foo]: [bar] re: hello", "hello"},
		{"[list]", "[list]"},             // a blob alone is the base (§2.1 step 4)
		{"[a] [b]", "[b]"},               // the last blob stays
		{"[a] re: [b]", "[b]"},           // leader removed, then the blob alone is kept
		{"Reply: hello", "reply: hello"}, // "re" must be followed by ":" (or a blob then ":")
		{"fwd hello", "fwd hello"},
		{"Re[2]: hello", "hello"},
		{"", ""},
		{"  ", ""},
		{"[fwd:]", ""},
		{"RE: 你好 (fwd)", "你好"},
		{"[unclosed re: hello", "[unclosed re: hello"},
	}
	for _, c := range cases {
		if got := baseSubject(c.in); got != c.want {
			t.Errorf("baseSubject(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// sortMessages are crafted so that every sort key gives a different order.
// Bodies are padded so that the SIZE order is 2 4 5 3 1. Base subjects:
// 1 and 5 "hello", 2 "apple", 3 "你好" (after ASCII), 4 "zebra".
var sortMessages = []struct {
	msg     string
	arrival time.Time
	flags   store.SysFlags
}{
	{"From: Zed <zed@x.org>\r\nTo: bob@x.org\r\nSubject: Re: Fwd: [list] hello\r\nDate: Fri, 3 Jan 2020 02:00:00 +0000\r\n\r\n" + strings.Repeat("x", 1000) + "\r\n",
		time.Date(2020, 1, 10, 0, 0, 0, 0, time.UTC), 0},
	{"From: \"Amy\" <amy@x.org>\r\nTo: carol@x.org\r\nCc: dave@x.org\r\nSubject: apple\r\nDate: Wed, 1 Jan 2020 12:00:00 +0000\r\n\r\n" + strings.Repeat("x", 10) + "\r\n",
		time.Date(2020, 1, 12, 0, 0, 0, 0, time.UTC), store.FlagSeen},
	// No Date: the sent date is the INTERNALDATE (RFC 5256 §2.2).
	{"From: =?UTF-8?B?5byg5LiJ?= <Mike@x.org>\r\nTo: alice@x.org\r\nSubject: =?GB2312?B?UkU6IMTjusM=?= (fwd)\r\n\r\n" + strings.Repeat("x", 600) + "\r\n",
		time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC), 0},
	// 23:00 -0500 is 04:00 UTC the next day: after message 1.
	{"From: bob <bob@x.org>\r\nSubject: [fwd: Zebra]\r\nDate: Thu, 2 Jan 2020 23:00:00 -0500\r\n\r\n" + strings.Repeat("x", 200) + "\r\n",
		time.Date(2020, 1, 11, 0, 0, 0, 0, time.UTC), store.FlagSeen},
	// Same sent date as message 1: the tie goes by sequence number.
	{"From: amy@x.org\r\nTo: Alice <alice@x.org>\r\nSubject: HELLO\r\nDate: Fri, 3 Jan 2020 03:00:00 +0100\r\n\r\n" + strings.Repeat("x", 400) + "\r\n",
		time.Date(2020, 1, 5, 0, 0, 0, 0, time.UTC), 0},
}

// sortServer starts a server with the sort messages in INBOX, after an
// expunged first message, so that UID = sequence number + 1.
func sortServer(t *testing.T) (*testServer, *client) {
	ts := startServer(t, nil)
	ts.deliver(t, "INBOX", simpleMsg, store.FlagDeleted)
	ctx := context.Background()
	mb, err := ts.st.Mailbox(ctx, ts.acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range sortMessages {
		res, err := ts.st.Deliver(ctx, store.Delivery{Data: []byte(m.msg), InternalDate: m.arrival,
			Targets: []store.Target{{Account: ts.acct.ID, Mailbox: mb.ID, Flags: store.Flags{System: m.flags}}}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("deliver: %v %v", err, res)
		}
	}
	c := ts.login(t)
	c.ok("SELECT INBOX")
	c.ok("EXPUNGE")
	return ts, c
}

func TestSort(t *testing.T) {
	_, c := sortServer(t)
	cases := []struct{ cmd, want string }{
		{"SORT (SUBJECT) UTF-8 ALL", "* SORT 2 1 5 4 3"},
		{"SORT (SUBJECT ARRIVAL) UTF-8 ALL", "* SORT 2 5 1 4 3"},
		{"SORT (SUBJECT REVERSE SIZE) UTF-8 ALL", "* SORT 2 1 5 4 3"},
		{"SORT (REVERSE SUBJECT SIZE) UTF-8 ALL", "* SORT 3 4 5 1 2"},
		{"SORT (DATE) UTF-8 ALL", "* SORT 2 3 1 5 4"},
		{"SORT (REVERSE DATE) US-ASCII ALL", "* SORT 4 1 5 3 2"},
		{"SORT (ARRIVAL) UTF-8 ALL", "* SORT 3 5 1 4 2"},
		{"SORT (REVERSE ARRIVAL) UTF-8 ALL", "* SORT 2 4 1 5 3"},
		{"SORT (FROM) UTF-8 ALL", "* SORT 2 5 4 3 1"},
		{"SORT (REVERSE FROM DATE) UTF-8 ALL", "* SORT 1 3 4 2 5"},
		{"SORT (TO) UTF-8 ALL", "* SORT 4 3 5 1 2"},
		{"SORT (CC) UTF-8 ALL", "* SORT 1 3 4 5 2"},
		{"SORT (CC REVERSE SIZE) UTF-8 ALL", "* SORT 1 3 5 4 2"},
		{"SORT (SIZE) UTF-8 ALL", "* SORT 2 4 5 3 1"},
		{"SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 2 5 4 1 3"},
		{"SORT (DISPLAYTO) UTF-8 ALL", "* SORT 4 5 3 1 2"},
		{"SORT (SUBJECT) UTF-8 UNSEEN", "* SORT 1 5 3"},
		{"SORT (REVERSE ARRIVAL) UTF-8 UNSEEN", "* SORT 1 5 3"},
		{"SORT (SIZE) UTF-8 OR SEEN FROM zed 2:5", "* SORT 2 4"},
		{"SORT (REVERSE ARRIVAL) UTF-8 SUBJECT hello", "* SORT 1 5"},
		{"SORT (ARRIVAL) UTF-8 SUBJECT hello", "* SORT 5 1"},
		{"SORT (DATE) GB18030 SUBJECT {4+}\r\n\xc4\xe3\xba\xc3", "* SORT 3"},
		{"SORT (DATE) UTF-8 SUBJECT \"no such\"", "* SORT"},
		{"UID SORT (SUBJECT) UTF-8 ALL", "* SORT 3 2 6 5 4"},
		{"UID SORT (ARRIVAL) UTF-8 UID 3:5", "* SORT 4 5 3"},
	}
	for _, tc := range cases {
		u, done := c.do(tc.cmd)
		if !strings.HasPrefix(done, "OK") || len(u) != 1 || u[0] != tc.want {
			t.Errorf("%s: %q %s, want %q", tc.cmd, u, done, tc.want)
		}
	}
	// RFC 7162 §3.1.5: a MODSEQ key adds the highest mod-sequence.
	// (The first use of MODSEQ also enables CONDSTORE, RFC 7162 §3.1.)
	u := c.ok("SORT (ARRIVAL) UTF-8 MODSEQ 1")
	if len(u) == 0 || !regexp.MustCompile(`^\* SORT 3 5 1 4 2 \(MODSEQ [0-9]+\)$`).MatchString(u[len(u)-1]) {
		t.Errorf("SORT with MODSEQ: %q", u)
	}
}

func TestSortErrors(t *testing.T) {
	ts, c := sortServer(t)
	for _, cmd := range []string{
		"SORT (FOO) UTF-8 ALL", "SORT () UTF-8 ALL", "SORT (DATE) ALL", "SORT (REVERSE) UTF-8 ALL",
		"SORT DATE UTF-8 ALL", "SORT (DATE) UTF-8", "UID SORT (SIZE) UTF-8 BAR",
	} {
		if u, done := c.do(cmd); !strings.HasPrefix(done, "BAD") || len(u) != 0 {
			t.Errorf("%s: %q %s, want BAD", cmd, u, done)
		}
	}
	if u, done := c.do("SORT (DATE) X-NOSUCH SUBJECT a"); !strings.HasPrefix(done, "NO [BADCHARSET") || len(u) != 0 {
		t.Errorf("unknown charset: %q %s", u, done)
	}
	// SORT needs a selected mailbox; an empty one sorts to nothing.
	c2 := ts.login(t)
	if _, done := c2.do("SORT (DATE) UTF-8 ALL"); !strings.HasPrefix(done, "BAD") && !strings.HasPrefix(done, "NO") {
		t.Errorf("SORT without a mailbox: %s", done)
	}
	c2.ok("SELECT Trash")
	if u := c2.ok("UID SORT (DATE) UTF-8 ALL"); len(u) != 1 || u[0] != "* SORT" {
		t.Errorf("empty mailbox: %q", u)
	}
	if caps := c2.ok("CAPABILITY"); len(caps) != 1 || !strings.Contains(caps[0]+" ", " SORT ") || !strings.Contains(caps[0], " SORT=DISPLAY") {
		t.Errorf("capabilities %q", caps)
	}
}

// TestSortGoIMAP checks SORT with go-imap's client, an independent
// implementation of RFC 5256.
func TestSortGoIMAP(t *testing.T) {
	ts, _ := sortServer(t)
	c, err := imapclient.DialTLS(ts.tlsAddr, &imapclient.Options{TLSConfig: clientTLS()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(testUser, testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	if !c.Caps().Has(imap.Cap("SORT")) {
		t.Fatalf("SORT not advertised: %v", c.Caps())
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	nums, err := c.Sort(&imapclient.SortOptions{
		SearchCriteria: &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}},
		SortCriteria:   []imapclient.SortCriterion{{Key: imapclient.SortKeySubject}, {Key: imapclient.SortKeyArrival}},
	}).Wait()
	if err != nil || !equalNums(nums, []uint32{5, 1, 3}) {
		t.Fatalf("SORT = %v, %v", nums, err)
	}
	uids, err := c.UIDSort(&imapclient.SortOptions{
		SearchCriteria: &imap.SearchCriteria{},
		SortCriteria:   []imapclient.SortCriterion{{Key: imapclient.SortKeySize, Reverse: true}},
	}).Wait()
	if err != nil || !equalNums(uids, []uint32{2, 4, 6, 5, 3}) {
		t.Fatalf("UID SORT = %v, %v", uids, err)
	}
}

func equalNums(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
