package server

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/youju/youju/internal/store"
)

// nextTag is the tag the client's next do/ok will use.
func (c *client) nextTag() string { return fmt.Sprintf("t%d", c.n+1) }

// indexOf returns the index of the first line with prefix, -1 if none.
func indexOf(lines []string, prefix string) int {
	return slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, prefix) })
}

// esearchLines are the ESEARCH responses of tag among lines.
func esearchLines(lines []string, tag string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, `* ESEARCH (TAG "`+tag+`")`) {
			out = append(out, l)
		}
	}
	return out
}

func mustLines(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

// TestUpdateSearchUID covers a UID SEARCH context (RFC 5267 §4.3): flag
// changes, a delivery and an expunge by another session reach the client
// as ADDTO and REMOVEFROM, with REMOVEFROM before the expunge itself
// (§4.3.4) and ADDTO after EXISTS (§4.3.3); CANCELUPDATE ends them.
func TestUpdateSearchUID(t *testing.T) {
	ts := startServer(t, nil)
	for _, f := range []store.SysFlags{0, store.FlagSeen, 0, store.FlagSeen} {
		ts.deliver(t, "INBOX", simpleMsg, f)
	}
	c := ts.login(t)
	c.ok("SELECT INBOX")
	tag := c.nextTag()
	mustLines(t, "initial", c.ok("UID SEARCH RETURN (UPDATE ALL) UNSEEN"), `* ESEARCH (TAG "`+tag+`") UID ALL 1,3`)
	o := ts.login(t)
	o.ok("SELECT INBOX")
	o.ok("STORE 1 +FLAGS (\\Seen)")
	o.ok("STORE 2 -FLAGS (\\Seen)")
	u := c.ok("NOOP")
	mustLines(t, "flags", esearchLines(u, tag), `* ESEARCH (TAG "`+tag+`") UID REMOVEFROM (0 1)`, `* ESEARCH (TAG "`+tag+`") UID ADDTO (0 2)`)

	ts.deliver(t, "INBOX", simpleMsg, 0)
	ts.deliver(t, "INBOX", simpleMsg, store.FlagSeen)
	u = c.ok("NOOP")
	mustLines(t, "delivery", esearchLines(u, tag), `* ESEARCH (TAG "`+tag+`") UID ADDTO (0 5)`)
	if e, a := indexOf(u, "* 6 EXISTS"), indexOf(u, "* ESEARCH"); e < 0 || a < e {
		t.Fatalf("ADDTO before EXISTS: %q", u)
	}

	o.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
	o.ok("EXPUNGE")
	u = c.ok("NOOP")
	mustLines(t, "expunge", esearchLines(u, tag), `* ESEARCH (TAG "`+tag+`") UID REMOVEFROM (0 3)`)
	if r, e := indexOf(u, "* ESEARCH"), indexOf(u, "* 3 EXPUNGE"); e < 0 || r > e {
		t.Fatalf("REMOVEFROM after EXPUNGE: %q", u)
	}
	// Our own changes count too.
	u = c.ok("UID STORE 5 +FLAGS (\\Seen)")
	u = append(u, c.ok("NOOP")...)
	mustLines(t, "own store", esearchLines(u, tag), `* ESEARCH (TAG "`+tag+`") UID REMOVEFROM (0 5)`)
	// The results now are UIDs 2 (unseen since above) only.
	mustContain(t, c.ok("UID SEARCH UNSEEN"), "* SEARCH 2")

	c.ok(`CANCELUPDATE "` + tag + `"`)
	o.ok("STORE 1 -FLAGS (\\Seen)")
	if u := c.ok("NOOP"); len(esearchLines(u, tag)) != 0 {
		t.Fatalf("update after CANCELUPDATE: %q", u)
	}
	if _, done := c.do(`CANCELUPDATE "` + tag + `"`); !strings.HasPrefix(done, "NO") {
		t.Fatalf("second CANCELUPDATE: %s", done)
	}
}

// TestUpdateSearchSeq: a SEARCH (not UID) context names sequence numbers;
// the REMOVEFROM for an expunged message uses its number before the
// expunge, which comes after (RFC 5267 §4.3.4).
func TestUpdateSearchSeq(t *testing.T) {
	ts := startServer(t, nil)
	for i := 0; i < 5; i++ {
		ts.deliver(t, "INBOX", simpleMsg, 0)
	}
	c := ts.login(t)
	c.ok("SELECT INBOX")
	tag := c.nextTag()
	mustLines(t, "initial", c.ok("SEARCH RETURN (UPDATE COUNT) 2:5"), `* ESEARCH (TAG "`+tag+`") COUNT 4`)
	o := ts.login(t)
	o.ok("SELECT INBOX")
	o.ok("STORE 3:4 +FLAGS.SILENT (\\Deleted)")
	o.ok("EXPUNGE")
	u := c.ok("NOOP")
	mustLines(t, "expunge", u, `* ESEARCH (TAG "`+tag+`") REMOVEFROM (0 3:4)`, "* 3 EXPUNGE", "* 3 EXPUNGE")
	// The results are now 2 and 3 (formerly 5); the new message 4 is in
	// 2:5 and joins them after its EXISTS.
	ts.deliver(t, "INBOX", simpleMsg, 0)
	u = c.ok("NOOP")
	mustLines(t, "delivery", u, "* 4 EXISTS", "* 4 RECENT", `* ESEARCH (TAG "`+tag+`") ADDTO (0 4)`)
}

// TestUpdateSort covers a UID SORT context (RFC 5267 §4.3.3, §4.3.4):
// positions in sort order, runs of adjacent results in one pair, removal
// pairs that the client can apply in order.
func TestUpdateSort(t *testing.T) {
	ts := startServer(t, nil)
	subj := func(s string) string {
		return "From: a@x.org\r\nSubject: " + s + "\r\nDate: Mon, 2 Jan 2006 15:04:05 +0000\r\n\r\nx\r\n"
	}
	for _, s := range []string{"delta", "bravo", "foxtrot", "alpha"} { // UIDs 1-4
		ts.deliver(t, "INBOX", subj(s), 0)
	}
	c := ts.login(t)
	c.ok("SELECT INBOX")
	tag := c.nextTag()
	mustLines(t, "initial", c.ok("UID SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 UNSEEN"), `* ESEARCH (TAG "`+tag+`") UID ALL 4,2,1,3`)
	// New: charlie (5) goes to position 3, echo (6) after delta,
	// golf (7) at the end; zulu (8) is seen and stays out.
	for _, s := range []string{"charlie", "echo", "golf"} {
		ts.deliver(t, "INBOX", subj(s), 0)
	}
	ts.deliver(t, "INBOX", subj("zulu"), store.FlagSeen)
	u := c.ok("NOOP")
	// alpha bravo charlie delta echo foxtrot golf
	mustLines(t, "delivery", esearchLines(u, tag), `* ESEARCH (TAG "`+tag+`") UID ADDTO (3 5 5 6 7 7)`)
	// Removing bravo, charlie (adjacent) and golf: last first, each run
	// at the position it has before its removal.
	o := ts.login(t)
	o.ok("SELECT INBOX")
	o.ok("UID STORE 2,5,7 +FLAGS (\\Seen)")
	u = c.ok("NOOP")
	mustLines(t, "removal", esearchLines(u, tag), `* ESEARCH (TAG "`+tag+`") UID REMOVEFROM (7 7 2 2,5)`)
	// zulu becomes unseen: at the end; delta expunged: position 2.
	o.ok("UID STORE 8 -FLAGS (\\Seen)")
	o.ok("UID STORE 1 +FLAGS.SILENT (\\Deleted)")
	o.ok("UID EXPUNGE 1")
	u = c.ok("NOOP")
	mustLines(t, "expunge and flag", esearchLines(u, tag), `* ESEARCH (TAG "`+tag+`") UID REMOVEFROM (2 1)`, `* ESEARCH (TAG "`+tag+`") UID ADDTO (4 8)`)
	// The context now holds what a new SORT finds.
	want := `* ESEARCH (TAG "` + c.nextTag() + `") UID ALL 4,6,3,8`
	mustLines(t, "resort", c.ok("UID SORT RETURN (ALL) (SUBJECT) UTF-8 UNSEEN"), want)

	// A sequence-number SORT context and REVERSE.
	tag2 := c.nextTag()
	mustLines(t, "seq", c.ok("SORT RETURN (UPDATE MIN) (REVERSE SUBJECT) UTF-8 ALL"), `* ESEARCH (TAG "`+tag2+`") MIN 7`)
	ts.deliver(t, "INBOX", subj("hotel"), 0)
	u = c.ok("NOOP")
	mustContain(t, u, "* 8 EXISTS", `* ESEARCH (TAG "`+tag+`") UID ADDTO (4 9)`, `* ESEARCH (TAG "`+tag2+`") ADDTO (2 8)`)
}

// TestUpdateLimits: UPDATE with the tag of a live context is BAD (RFC 5267
// §4.3); past maxUpdateContexts the server answers NOUPDATE but still the
// other return options (§4.3.1); a new SELECT ends every context.
func TestUpdateLimits(t *testing.T) {
	ts := startServer(t, nil)
	ts.deliver(t, "INBOX", simpleMsg, 0)
	c := ts.login(t)
	c.ok("SELECT INBOX")
	c.send("X1 UID SEARCH RETURN (UPDATE) ALL")
	for l := c.line(); !strings.HasPrefix(l, "X1 "); l = c.line() {
	}
	c.send("X1 UID SEARCH RETURN (UPDATE COUNT) ALL")
	if l := c.line(); !strings.HasPrefix(l, "X1 BAD") {
		t.Fatalf("tag reuse: %q", l)
	}
	var tags []string
	for i := 1; i < maxUpdateContexts; i++ {
		tags = append(tags, c.nextTag())
		mustLines(t, "context", c.ok("SEARCH RETURN (UPDATE) ALL"), `* ESEARCH (TAG "`+tags[len(tags)-1]+`")`)
	}
	tag := c.nextTag()
	mustLines(t, "over the limit", c.ok("SEARCH RETURN (UPDATE COUNT) ALL"),
		`* ESEARCH (TAG "`+tag+`") COUNT 1`, `* NO [NOUPDATE "`+tag+`"] too many update contexts, will not notify`)
	ts.deliver(t, "INBOX", simpleMsg, 0)
	u := c.ok("NOOP")
	if n := len(esearchLines(u, "X1")); n != 1 {
		t.Fatalf("X1 updates: %q", u)
	}
	for _, tg := range tags {
		mustLines(t, "update "+tg, esearchLines(u, tg), `* ESEARCH (TAG "`+tg+`") ADDTO (0 2)`)
	}
	if len(esearchLines(u, tag)) != 0 {
		t.Fatalf("refused context updated: %q", u)
	}
	c.ok("SELECT INBOX")
	ts.deliver(t, "INBOX", simpleMsg, 0)
	if u := c.ok("NOOP"); indexOf(u, "* ESEARCH") >= 0 {
		t.Fatalf("update after SELECT: %q", u)
	}
	// The tag is free again.
	c.send("X1 UID SEARCH RETURN (UPDATE) ALL")
	for l := c.line(); !strings.HasPrefix(l, "X1 "); l = c.line() {
		if strings.HasPrefix(l, "X1 BAD") {
			t.Fatalf("%q", l)
		}
	}
	if _, done := c.do(`CANCELUPDATE "nope"`); !strings.HasPrefix(done, "NO") {
		t.Fatalf("CANCELUPDATE of an unknown tag: %s", done)
	}
}

// TestUpdateDuringIdle: updates reach a client in IDLE (RFC 5267 §4.3.2:
// they may be sent at any time).
func TestUpdateDuringIdle(t *testing.T) {
	ts := startServer(t, nil)
	ts.deliver(t, "INBOX", simpleMsg, 0)
	c := ts.login(t)
	c.ok("SELECT INBOX")
	tag := c.nextTag()
	c.ok("UID SORT RETURN (UPDATE) (ARRIVAL) UTF-8 UNSEEN")
	c.send("I1 IDLE")
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	ts.deliver(t, "INBOX", simpleMsg, 0)
	var got []string
	for len(esearchLines(got, tag)) == 0 {
		got = append(got, c.line())
	}
	mustLines(t, "idle", esearchLines(got, tag), `* ESEARCH (TAG "`+tag+`") UID ADDTO (2 2)`)
	c.send("DONE")
	for l := c.line(); !strings.HasPrefix(l, "I1 "); l = c.line() {
	}
}

// TestUpdateLongLines: many changes at once are cut into lines of at most
// maxUpdateUIDs results, in pieces the client applies in order to the
// same effect.
func TestUpdateLongLines(t *testing.T) {
	defer func(n int) { maxUpdateUIDs = n }(maxUpdateUIDs)
	maxUpdateUIDs = 2
	ts := startServer(t, nil)
	subj := func(s string) string { return "From: a@x.org\r\nSubject: " + s + "\r\n\r\nx\r\n" }
	ts.deliver(t, "INBOX", subj("a"), 0)
	ts.deliver(t, "INBOX", subj("z"), 0)
	c := ts.login(t)
	c.ok("SELECT INBOX")
	st := c.nextTag()
	c.ok("UID SORT RETURN (UPDATE) (SUBJECT) UTF-8 UNSEEN")
	ss := c.nextTag()
	c.ok("UID SEARCH RETURN (UPDATE) UNSEEN")
	for _, s := range []string{"b", "c", "d", "e", "f"} { // UIDs 3-7
		ts.deliver(t, "INBOX", subj(s), 0)
	}
	u := c.ok("NOOP")
	// a b c d e f z: the five new ones from position 2, two at a time.
	mustLines(t, "sort", esearchLines(u, st),
		`* ESEARCH (TAG "`+st+`") UID ADDTO (2 3:4)`, `* ESEARCH (TAG "`+st+`") UID ADDTO (4 5:6)`, `* ESEARCH (TAG "`+st+`") UID ADDTO (6 7)`)
	mustLines(t, "search", esearchLines(u, ss),
		`* ESEARCH (TAG "`+ss+`") UID ADDTO (0 3:4)`, `* ESEARCH (TAG "`+ss+`") UID ADDTO (0 5:6)`, `* ESEARCH (TAG "`+ss+`") UID ADDTO (0 7)`)
	u = c.ok("UID STORE 3:6 +FLAGS (\\Seen)")
	u = append(u, c.ok("NOOP")...)
	mustLines(t, "sort removal", esearchLines(u, st),
		`* ESEARCH (TAG "`+st+`") UID REMOVEFROM (2 3:4)`, `* ESEARCH (TAG "`+st+`") UID REMOVEFROM (2 5:6)`)
}
