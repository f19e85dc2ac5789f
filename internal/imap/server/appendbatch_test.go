package server

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// pipelinedAppend is the text of an APPEND with a LITERAL+ literal
// (RFC 7888), CRLF included.
func pipelinedAppend(tag, mbox, flags, msg string) string {
	if flags != "" {
		flags += " "
	}
	return fmt.Sprintf("%s APPEND %s %s{%d+}\r\n%s\r\n", tag, mbox, flags, len(msg), msg)
}

// numberedMsg is a small message whose subject is "m" + i.
func numberedMsg(i int) string {
	return strings.Replace(simpleMsg, "Subject: hello", fmt.Sprintf("Subject: m%d", i), 1)
}

// readUntilTagged reads responses until the tagged one of each of tags
// came, and returns every line in order.
func (c *client) readUntilTagged(tags ...string) []string {
	c.t.Helper()
	var lines []string
	left := map[string]bool{}
	for _, t := range tags {
		left[t] = true
	}
	for len(left) > 0 {
		l := c.readResponse()
		lines = append(lines, l)
		tag, _, _ := strings.Cut(l, " ")
		delete(left, tag)
	}
	return lines
}

// TestPipelinedAppends sends five APPENDs in one write, as a client with
// LITERAL+ does; the second (no such mailbox) and the fourth (empty)
// fail on their own, and the others are stored with consecutive UIDs in
// command order. The selected INBOX learns of all three new messages in
// one EXISTS, before the tagged answers: they were stored together.
func TestPipelinedAppends(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.login(t)
	c.ok("SELECT INBOX")
	v := itoa(uint64(mustValidity(t, ts, "INBOX")))
	c.send(strings.TrimSuffix(pipelinedAppend("a1", "INBOX", "", numberedMsg(1))+
		pipelinedAppend("a2", "NoSuchBox", "", numberedMsg(2))+
		pipelinedAppend("a3", "INBOX", `(\Seen $Work)`, numberedMsg(3))+
		"a4 APPEND INBOX {0+}\r\n\r\n"+
		pipelinedAppend("a5", "inbox", "", numberedMsg(5)), "\r\n"))
	got := c.readUntilTagged("a1", "a2", "a3", "a4", "a5")
	// One EXISTS for the three, before every tagged answer (the new
	// keyword's FLAGS and RECENT may come with it).
	first := slices.IndexFunc(got, func(l string) bool { return !strings.HasPrefix(l, "* ") })
	if i := slices.Index(got, "* 3 EXISTS"); i < 0 || i > first {
		t.Fatalf("updates before the answers: %q", got)
	}
	var tagged []string
	for _, l := range got {
		if !strings.HasPrefix(l, "* ") {
			tagged = append(tagged, l)
		}
	}
	wantTagged := []string{
		"a1 OK [APPENDUID " + v + " 1] APPEND completed",
		"a2 NO [TRYCREATE] no such mailbox",
		"a3 OK [APPENDUID " + v + " 2] APPEND completed",
		"a4 NO [CANNOT] empty message",
		"a5 OK [APPENDUID " + v + " 3] APPEND completed",
	}
	if !slices.Equal(tagged, wantTagged) {
		t.Fatalf("answers\n%q\nwant\n%q", tagged, wantTagged)
	}
	if slices.ContainsFunc(got, func(l string) bool { return strings.HasSuffix(l, " EXISTS") && l != "* 3 EXISTS" }) {
		t.Fatalf("EXISTS of a single message: %q", got)
	}
	u := c.ok("UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	for i, want := range []string{"m1", "m3", "m5"} {
		if i >= len(u) || !strings.Contains(u[i], "Subject: "+want) {
			t.Fatalf("UID %d: %q", i+1, u)
		}
	}
	if !strings.Contains(u[1], `FLAGS (\Recent \Seen $Work)`) {
		t.Fatalf("flags of UID 2: %q", u[1])
	}
	mustContain(t, c.ok("STATUS INBOX (UIDNEXT)"), "* STATUS INBOX (UIDNEXT 4)")
}

// TestPipelinedAppendThenOtherCommands: the read-ahead stops at what it
// cannot batch, which then runs after the batch is stored: a CATENATE
// naming the message of the APPEND before it (RFC 4469), an APPEND with a
// synchronising literal (the client waits for "+"), and a NOOP.
func TestPipelinedAppendThenOtherCommands(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.login(t)
	v := itoa(uint64(mustValidity(t, ts, "INBOX")))
	msg := numberedMsg(1)
	c.send(strings.TrimSuffix(pipelinedAppend("a1", "INBOX", "", msg)+
		`a2 APPEND INBOX CATENATE (URL "/INBOX;UID=1/;SECTION=HEADER" TEXT {4+}`+"\r\nbody)\r\n"+
		"a3 NOOP\r\n"+
		fmt.Sprintf("a4 APPEND INBOX {%d}", len(msg)), "\r\n"))
	got := c.readUntilTagged("a1", "a2", "a3")
	if got[0] != "a1 OK [APPENDUID "+v+" 1] APPEND completed" || got[1] != "a2 OK [APPENDUID "+v+" 2] APPEND completed" || got[2] != "a3 OK NOOP completed" {
		t.Fatalf("%q", got)
	}
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("continuation: %q", l)
	}
	c.send(msg)
	if got := c.readUntilTagged("a4"); got[0] != "a4 OK [APPENDUID "+v+" 3] APPEND completed" {
		t.Fatalf("%q", got)
	}
	c.ok("SELECT INBOX")
	u := c.ok("UID FETCH 2 BODY.PEEK[TEXT]")
	if len(u) != 1 || !strings.HasSuffix(u[0], "\r\nbody)") {
		t.Fatalf("catenated message: %q", u)
	}
}

// TestPipelinedAppendsMany sends more APPENDs than one batch takes: all
// are stored in order, each with its own UID.
func TestPipelinedAppendsMany(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.login(t)
	const n = 3*maxAppendBatch + 5
	var sb strings.Builder
	var tags []string
	for i := range n {
		tag := fmt.Sprintf("p%d", i)
		tags = append(tags, tag)
		sb.WriteString(pipelinedAppend(tag, "INBOX", "", numberedMsg(i)))
	}
	c.send(strings.TrimSuffix(sb.String(), "\r\n"))
	got := c.readUntilTagged(tags...)
	v := itoa(uint64(mustValidity(t, ts, "INBOX")))
	for i, l := range got {
		if want := fmt.Sprintf("p%d OK [APPENDUID %s %d] APPEND completed", i, v, i+1); l != want {
			t.Fatalf("got %q, want %q", l, want)
		}
	}
	c.ok("SELECT INBOX")
	u := c.ok(fmt.Sprintf("UID FETCH %d BODY.PEEK[HEADER.FIELDS (SUBJECT)]", n))
	if len(u) != 1 || !strings.Contains(u[0], fmt.Sprintf("Subject: m%d", n-1)) {
		t.Fatalf("%q", u)
	}
}

// TestMultiAppendAtomic: a MULTIAPPEND (RFC 3502 §6.3.11) failing at a
// message in the middle stores none of them, takes no UID (UIDNEXT does
// not move), and another session selected on the mailbox sees nothing
// come and go; a good one gets consecutive UIDs in order.
func TestMultiAppendAtomic(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.login(t)
	watcher := ts.login(t)
	watcher.ok("SELECT INBOX")
	v := itoa(uint64(mustValidity(t, ts, "INBOX")))
	multi := func(tag string, msgs ...string) string {
		var sb strings.Builder
		sb.WriteString(tag + " APPEND INBOX")
		for _, m := range msgs {
			fmt.Fprintf(&sb, " {%d+}\r\n%s", len(m), m)
		}
		return sb.String()
	}
	c.send(multi("m1", numberedMsg(1), numberedMsg(2)))
	if got := c.readUntilTagged("m1"); got[len(got)-1] != "m1 OK [APPENDUID "+v+" 1:2] APPEND completed" {
		t.Fatalf("%q", got)
	}
	// Room for two more messages, not three.
	acct, err := ts.st.AccountByID(t.Context(), ts.acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	acct.QuotaBytes = int64(4*len(numberedMsg(1)) + 10)
	if err := ts.st.UpdateAccount(t.Context(), acct); err != nil {
		t.Fatal(err)
	}
	c.send(multi("m2", numberedMsg(3), numberedMsg(4), numberedMsg(5)))
	if got := c.readUntilTagged("m2"); !strings.HasPrefix(got[len(got)-1], "m2 NO [OVERQUOTA]") {
		t.Fatalf("%q", got)
	}
	c.send(multi("m3", numberedMsg(3), "", numberedMsg(5)))
	if got := c.readUntilTagged("m3"); !strings.HasPrefix(got[len(got)-1], "m3 NO [CANNOT]") {
		t.Fatalf("%q", got)
	}
	mustContain(t, c.ok("STATUS INBOX (MESSAGES UIDNEXT)"), "* STATUS INBOX (MESSAGES 2 UIDNEXT 3)")
	u := watcher.ok("NOOP")
	if !slices.Equal(u, []string{"* 2 EXISTS", "* 2 RECENT"}) && !slices.Equal(u, []string{"* 2 EXISTS"}) {
		t.Fatalf("the watcher saw %q", u)
	}
	c.send(multi("m4", numberedMsg(3), numberedMsg(4)))
	if got := c.readUntilTagged("m4"); got[len(got)-1] != "m4 OK [APPENDUID "+v+" 3:4] APPEND completed" {
		t.Fatalf("%q", got)
	}
	watcher.ok("NOOP")
	u = watcher.ok("UID FETCH 1:* BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
	for i, want := range []string{"m1", "m2", "m3", "m4"} {
		if i >= len(u) || !strings.Contains(u[i], fmt.Sprintf("* %d FETCH (UID %d ", i+1, i+1)) || !strings.Contains(u[i], "Subject: "+want) {
			t.Fatalf("message %d: %q", i+1, u)
		}
	}
}
