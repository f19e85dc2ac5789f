package server

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/youju/youju/internal/store"
)

// deliverKeywords puts a message with keywords into a mailbox.
func (ts *testServer) deliverKeywords(t testing.TB, mbox string, kws ...string) {
	t.Helper()
	ctx := context.Background()
	m, err := ts.st.Mailbox(ctx, ts.acct.ID, mbox)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ts.st.Deliver(ctx, store.Delivery{Data: []byte(simpleMsg), Targets: []store.Target{{Account: ts.acct.ID, Mailbox: m.ID, Flags: store.Flags{Keywords: kws}}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("deliver: %v %v", err, res)
	}
}

// TestSelectListsKeywords checks bug 2 of issue 10: FLAGS and
// PERMANENTFLAGS list the keywords used in the mailbox (RFC 9051 §7.3.5,
// RFC 3501 §7.2.6), EXAMINE has PERMANENTFLAGS () (RFC 3501 §6.3.2).
func TestSelectListsKeywords(t *testing.T) {
	ts := startServer(t, nil)
	ts.deliverKeywords(t, "INBOX", "$label1", "$Forwarded")
	ts.deliverKeywords(t, "INBOX", "$forwarded", "$Junk")
	ts.deliverKeywords(t, "Sent", "OnlyInSent")
	c := ts.login(t)
	u := c.ok("SELECT INBOX")
	mustContain(t, u, `* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded $Junk $label1)`,
		`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded $Junk $label1 \*)] flags permitted`)
	u = c.ok("EXAMINE INBOX")
	mustContain(t, u, `* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded $Junk $label1)`, `* OK [PERMANENTFLAGS ()] read-only mailbox`)
	mustContain(t, c.ok("SELECT Drafts"), `* FLAGS (\Answered \Flagged \Deleted \Seen \Draft)`)
}

// TestNewKeywordAnnounced checks that a keyword new to the mailbox is
// announced with FLAGS (and PERMANENTFLAGS) before the FETCH carrying it:
// by STORE (also .SILENT), by another session's STORE seen through the
// updates, by APPEND and COPY into the selected mailbox.
func TestNewKeywordAnnounced(t *testing.T) {
	ts := startServer(t, nil)
	ts.deliverKeywords(t, "INBOX", "$Forwarded")
	ts.deliverKeywords(t, "INBOX")
	a := ts.login(t)
	b := ts.login(t)
	ro := ts.login(t)
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")
	ro.ok("EXAMINE INBOX")

	u := a.ok("STORE 1 +FLAGS ($label1)")
	fl, fe := indexOf(u, `* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded $label1)`), indexOf(u, "* 1 FETCH (FLAGS (\\Recent $Forwarded $label1))")
	if fl < 0 || fe < fl || indexOf(u, `* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded $label1 \*)]`) < 0 {
		t.Fatalf("STORE:\n%s", strings.Join(u, "\n"))
	}
	// A keyword already announced is not announced again.
	if u := a.ok("STORE 2 +FLAGS ($LABEL1)"); indexOf(u, "* FLAGS") >= 0 {
		t.Fatalf("announced twice:\n%s", strings.Join(u, "\n"))
	}
	if u := a.ok("STORE 2 +FLAGS.SILENT ($Junk)"); indexOf(u, `* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded $label1 $Junk)`) < 0 {
		t.Fatalf("STORE .SILENT:\n%s", strings.Join(u, "\n"))
	}

	// The other sessions learn of both through their updates.
	u = b.ok("NOOP")
	fl = indexOf(u, `* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded `)
	if fl < 0 || !strings.Contains(u[fl], "$label1") || !strings.Contains(u[fl], "$Junk") || indexOf(u, "* 1 FETCH") < fl || indexOf(u, "* 2 FETCH") < fl {
		t.Fatalf("updates:\n%s", strings.Join(u, "\n"))
	}
	u = ro.ok("NOOP")
	if fl := indexOf(u, "* FLAGS ("); fl < 0 || indexOf(u, "* 1 FETCH") < fl || indexOf(u, "* OK [PERMANENTFLAGS ()]") < 0 {
		t.Fatalf("read-only updates:\n%s", strings.Join(u, "\n"))
	}

	// A FETCH that reads a keyword another session just set, before the
	// updates of this session ran, announces it first too.
	b.ok("STORE 2 +FLAGS ($Race)")
	u = a.ok("FETCH 2 FLAGS")
	if fl, fe := indexOf(u, "* FLAGS ("), indexOf(u, "* 2 FETCH (FLAGS ("); fl < 0 || !strings.Contains(u[fl], "$Race") || fe < fl {
		t.Fatalf("FETCH of a new keyword:\n%s", strings.Join(u, "\n"))
	}

	// APPEND and COPY into the selected mailbox bring keywords too.
	u = b.ok("APPEND INBOX ($Appended) {" + fmt.Sprint(len(simpleMsg)) + "+}\r\n" + simpleMsg)
	if fl, ex := indexOf(u, "* FLAGS ("), indexOf(u, "* 3 EXISTS"); fl < 0 || !strings.Contains(u[fl], "$Appended") || ex < fl {
		t.Fatalf("APPEND:\n%s", strings.Join(u, "\n"))
	}
	ts.deliverKeywords(t, "Archive", "$Copied")
	a.ok("SELECT Archive")
	a.ok("COPY 1 INBOX")
	u = b.ok("NOOP")
	if fl, ex := indexOf(u, "* FLAGS ("), indexOf(u, "* 4 EXISTS"); fl < 0 || !strings.Contains(u[fl], "$Copied") || ex < fl {
		t.Fatalf("COPY:\n%s", strings.Join(u, "\n"))
	}
	if u := b.ok("FETCH 4 FLAGS"); len(u) != 1 || !strings.Contains(u[0], "$Copied") {
		t.Fatalf("FETCH after COPY:\n%s", strings.Join(u, "\n"))
	}
}

// TestKeywordLimit checks the bound on keywords per mailbox: NO [LIMIT]
// past it, "\*" gone from PERMANENTFLAGS once reached.
func TestKeywordLimit(t *testing.T) {
	ts := startServer(t, nil)
	ts.deliverKeywords(t, "INBOX")
	c := ts.login(t)
	c.ok("SELECT INBOX")
	var kws []string
	for i := range MaxMailboxKeywords - 1 {
		kws = append(kws, fmt.Sprintf("k%d", i))
	}
	c.ok("STORE 1 +FLAGS (" + strings.Join(kws, " ") + ")")
	c.ok("STORE 1 +FLAGS (last)")
	if _, done := c.do("STORE 1 +FLAGS (onemore)"); !strings.HasPrefix(done, "NO [LIMIT]") {
		t.Fatalf("STORE over the limit: %s", done)
	}
	if _, done := c.do("APPEND INBOX (onemore) {" + fmt.Sprint(len(simpleMsg)) + "+}\r\n" + simpleMsg); !strings.HasPrefix(done, "NO [LIMIT]") {
		t.Fatalf("APPEND over the limit: %s", done)
	}
	// Known keywords, removal and system flags stay allowed.
	c.ok("STORE 1 +FLAGS (\\Seen k1 LAST)")
	u := c.ok("SELECT INBOX")
	if i := indexOf(u, "* OK [PERMANENTFLAGS ("); i < 0 || strings.Contains(u[i], `\*`) {
		t.Fatalf("PERMANENTFLAGS at the limit:\n%s", strings.Join(u, "\n"))
	}
	// Once a keyword is no longer used, there is room again.
	c.ok("STORE 1 -FLAGS (k2)")
	c.ok("STORE 1 +FLAGS (onemore)")
}

// TestKeywordLimitCopy checks the bound on COPY and MOVE: copies keep
// their keywords, so a destination that would go past the bound refuses
// with NO [LIMIT] and copies nothing, while a copy of messages whose
// keywords fit is allowed even when the source mailbox uses many.
func TestKeywordLimitCopy(t *testing.T) {
	ts := startServer(t, nil)
	for range 3 {
		ts.deliverKeywords(t, "INBOX")
	}
	c := ts.login(t)
	c.ok("CREATE Full")
	c.ok("CREATE Other")
	c.ok("SELECT INBOX")
	var kws []string
	for i := range MaxMailboxKeywords {
		kws = append(kws, fmt.Sprintf("d%d", i))
	}
	// Fill Full with 128 keywords through a copy of message 1.
	c.ok("STORE 1 FLAGS (" + strings.Join(kws, " ") + ")")
	c.ok("COPY 1 Full")
	c.ok("STORE 1 FLAGS (\\Seen)")
	c.ok("STORE 2 +FLAGS (fresh)")
	if _, done := c.do("COPY 2 Full"); !strings.HasPrefix(done, "NO [LIMIT]") {
		t.Fatalf("COPY over the limit: %s", done)
	}
	if _, done := c.do("MOVE 2 Full"); !strings.HasPrefix(done, "NO [LIMIT]") {
		t.Fatalf("MOVE over the limit: %s", done)
	}
	// Message 3 carries no new keyword: its copy fits though the
	// source mailbox's keywords together with Full's do not.
	c.ok("STORE 3 FLAGS (d5)")
	c.ok("COPY 3 Full")
	c.ok("COPY 2 Other")
	if u := c.ok("STATUS Full (MESSAGES)"); len(u) != 1 || !strings.Contains(u[0], "MESSAGES 2") {
		t.Fatalf("STATUS Full:\n%s", strings.Join(u, "\n"))
	}
}
