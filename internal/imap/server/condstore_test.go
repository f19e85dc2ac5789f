package server

import (
	"strings"
	"testing"

	"github.com/youju/youju/internal/store"
)

// TestCondstore covers RFC 7162 §3.1: HIGHESTMODSEQ, FETCH MODSEQ and
// CHANGEDSINCE, STORE UNCHANGEDSINCE with MODIFIED, SEARCH MODSEQ, STATUS.
func TestCondstore(t *testing.T) {
	ts := startServer(t, nil)
	ts.deliver(t, "INBOX", simpleMsg, 0)
	ts.deliver(t, "INBOX", simpleMsg, 0)
	c := ts.login(t)
	u := c.ok("SELECT INBOX (CONDSTORE)")
	var hms string
	for _, l := range u {
		if strings.HasPrefix(l, "* OK [HIGHESTMODSEQ ") {
			hms = strings.Fields(l)[3]
			hms = strings.TrimSuffix(hms, "]")
		}
	}
	if hms == "" {
		t.Fatalf("no HIGHESTMODSEQ in %q", u)
	}
	u = c.ok("FETCH 1:* (MODSEQ)")
	if len(u) != 2 || !strings.HasPrefix(u[0], "* 1 FETCH (MODSEQ (") {
		t.Fatalf("%q", u)
	}
	u = c.ok("STORE 1 +FLAGS (\\Seen)")
	if len(u) != 1 || !strings.HasPrefix(u[0], "* 1 FETCH (FLAGS (\\Recent \\Seen) MODSEQ (") {
		t.Fatalf("store: %q", u)
	}
	newMS := strings.Trim(strings.Fields(u[0])[7], "()")
	// Only message 1 changed since the SELECT.
	u = c.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE " + hms + ")")
	if len(u) != 1 || u[0] != "* 1 FETCH (UID 1 FLAGS (\\Recent \\Seen) MODSEQ ("+newMS+"))" {
		t.Fatalf("changedsince: %q", u)
	}
	// UNCHANGEDSINCE older than message 1's modseq fails for it only.
	u, done := c.do("STORE 1:2 (UNCHANGEDSINCE " + hms + ") +FLAGS (\\Flagged)")
	if done != "OK [MODIFIED 1] STORE completed" {
		t.Fatalf("%s %q", done, u)
	}
	mustContain(t, c.ok("SEARCH MODSEQ "+newMS), "* SEARCH 1 2 (MODSEQ "+itoa(mustAtoi(t, newMS)+1)+")")
	u = c.ok("STATUS Archive (HIGHESTMODSEQ)")
	if len(u) != 1 || !strings.HasPrefix(u[0], "* STATUS Archive (HIGHESTMODSEQ ") {
		t.Fatalf("%q", u)
	}
	mustContain(t, c.ok("ENABLE CONDSTORE"), "* ENABLED")
}

func mustAtoi(t *testing.T, s string) uint64 {
	var n uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a number %q", s)
		}
		n = n*10 + uint64(c-'0')
	}
	return n
}

// TestSearchRes covers SEARCHRES (RFC 5182): SAVE and "$".
func TestSearchRes(t *testing.T) {
	ts := startServer(t, nil)
	for i := 0; i < 4; i++ {
		ts.deliver(t, "INBOX", simpleMsg, store.SysFlags(i%2)) // 1 and 3 unseen
	}
	c := ts.login(t)
	c.ok("SELECT INBOX")
	if u := c.ok("UID SEARCH RETURN (SAVE) UNSEEN"); len(u) != 0 {
		t.Fatalf("SAVE alone answered %q", u)
	}
	mustContain(t, c.ok("FETCH $ (UID)"), "* 1 FETCH (UID 1)", "* 3 FETCH (UID 3)")
	mustContain(t, c.ok("SEARCH $ UID 2:*"), "* SEARCH 3")
	mustContain(t, c.ok("SEARCH RETURN (SAVE COUNT) SEEN"), `* ESEARCH (TAG "t6") COUNT 2`)
	mustContain(t, c.ok("UID STORE $ +FLAGS (\\Flagged)"), "* 2 FETCH (UID 2 FLAGS (\\Recent \\Seen \\Flagged))")
	c.ok("UID MOVE $ Trash")
	mustContain(t, c.ok("STATUS Trash (MESSAGES)"), "* STATUS Trash (MESSAGES 2)")
	if u := c.ok("FETCH $ (UID)"); len(u) != 0 {
		t.Fatalf("$ after MOVE: %q", u)
	}
}

// TestQResync covers RFC 7162 §3.2: SELECT (QRESYNC ...) with VANISHED
// (EARLIER) and changed flags, UID FETCH (CHANGEDSINCE VANISHED), VANISHED
// instead of EXPUNGE, and CLOSED.
func TestQResync(t *testing.T) {
	ts := startServer(t, nil)
	for i := 0; i < 5; i++ {
		ts.deliver(t, "INBOX", simpleMsg, 0)
	}
	c := ts.login(t)
	if _, done := c.do("SELECT INBOX (QRESYNC (1 1))"); !strings.HasPrefix(done, "BAD") {
		t.Fatalf("QRESYNC without ENABLE: %s", done)
	}
	mustContain(t, c.ok("ENABLE QRESYNC"), "* ENABLED QRESYNC")
	u := c.ok("SELECT INBOX")
	var validity, hms string
	for _, l := range u {
		f := strings.Fields(l)
		if len(f) > 3 && f[2] == "[UIDVALIDITY" {
			validity = strings.TrimSuffix(f[3], "]")
		}
		if len(f) > 3 && f[2] == "[HIGHESTMODSEQ" {
			hms = strings.TrimSuffix(f[3], "]")
		}
	}
	if validity == "" || hms == "" {
		t.Fatalf("%q", u)
	}
	// Another session changes flags and expunges while we are away.
	o := ts.login(t)
	o.ok("SELECT INBOX")
	o.ok("STORE 2 +FLAGS.SILENT (\\Flagged)")
	o.ok("STORE 4:5 +FLAGS.SILENT (\\Deleted)")
	o.ok("EXPUNGE")
	// Ours was told with VANISHED, not EXPUNGE.
	mustContain(t, c.ok("NOOP"), "* VANISHED 4:5")

	u = c.ok("SELECT INBOX (QRESYNC (" + validity + " " + hms + " 1:5))")
	mustContain(t, u, "* OK [CLOSED] previous mailbox closed", "* VANISHED (EARLIER) 4:5")
	found := false
	for _, l := range u {
		if strings.HasPrefix(l, "* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (") {
			found = true
		}
	}
	if !found {
		t.Fatalf("changed flags not resynced: %q", u)
	}
	u = c.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE " + hms + " VANISHED)")
	if !hasLine(u, "* VANISHED (EARLIER) 4:5") || len(u) != 2 {
		t.Fatalf("%q", u)
	}
	// A UIDVALIDITY mismatch gets no resync data.
	u = c.ok("SELECT INBOX (QRESYNC (1 " + hms + "))")
	for _, l := range u {
		if strings.HasPrefix(l, "* VANISHED") {
			t.Fatalf("resync with a wrong UIDVALIDITY: %q", u)
		}
	}
}
