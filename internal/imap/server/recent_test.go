package server

import (
	"testing"
)

// TestRecent follows RFC 3501 §2.3.2: a message is \Recent to the first
// session told about it with the mailbox read-write, to no other; EXAMINE
// and STATUS look without taking; IMAP4rev2 sessions see no \Recent.
func TestRecent(t *testing.T) {
	ts := startServer(t, nil)
	ts.deliver(t, "INBOX", simpleMsg, 0)
	ts.deliver(t, "INBOX", simpleMsg, 0)

	e := ts.login(t) // EXAMINE looks first: both are recent, none taken
	mustContain(t, e.ok("EXAMINE INBOX"), "* 2 RECENT")
	other := ts.login(t)
	mustContain(t, other.ok("STATUS INBOX (RECENT MESSAGES)"), "* STATUS INBOX (RECENT 2 MESSAGES 2)")

	a := ts.login(t)
	mustContain(t, a.ok("SELECT INBOX"), "* 2 RECENT")
	mustContain(t, a.ok("FETCH 1:* (FLAGS)"), `* 1 FETCH (FLAGS (\Recent))`, `* 2 FETCH (FLAGS (\Recent))`)
	b := ts.login(t)
	mustContain(t, b.ok("SELECT INBOX"), "* 0 RECENT")
	mustContain(t, b.ok("FETCH 1 (FLAGS)"), `* 1 FETCH (FLAGS ())`)
	mustContain(t, other.ok("STATUS INBOX (RECENT)"), "* STATUS INBOX (RECENT 0)")

	// A new message goes to whichever selected session hears of it first.
	ts.deliver(t, "INBOX", simpleMsg, 0)
	mustContain(t, b.ok("NOOP"), "* 3 EXISTS", "* 1 RECENT")
	mustContain(t, a.ok("NOOP"), "* 3 EXISTS", "* 2 RECENT")
	mustContain(t, b.ok("UID FETCH 3 (FLAGS)"), `* 3 FETCH (UID 3 FLAGS (\Recent))`)
	mustContain(t, a.ok("FETCH 3 (FLAGS)"), `* 3 FETCH (FLAGS ())`)

	// Search keys (RFC 3501 §6.4.4): NEW is recent and unseen.
	a.ok("STORE 2 +FLAGS.SILENT (\\Seen)")
	mustContain(t, a.ok("SEARCH RECENT"), "* SEARCH 1 2")
	mustContain(t, a.ok("SEARCH NEW"), "* SEARCH 1")
	mustContain(t, a.ok("SEARCH OLD"), "* SEARCH 3")
	mustContain(t, b.ok("SEARCH NOT OLD"), "* SEARCH 3")

	// The EXAMINE session keeps seeing the two it was told about first
	// (read-only, it took nothing from the others); the third was taken.
	mustContain(t, e.ok("NOOP"), "* 3 EXISTS", "* 2 RECENT")

	// IMAP4rev2 has no \Recent.
	ts.deliver(t, "INBOX", simpleMsg, 0)
	r2 := ts.login(t)
	r2.ok("ENABLE IMAP4rev2")
	for _, l := range r2.ok("SELECT INBOX") {
		if hasLine([]string{l}, "* 1 RECENT") || hasLine([]string{l}, "* 0 RECENT") {
			t.Fatalf("RECENT sent to an IMAP4rev2 session: %q", l)
		}
	}
	mustContain(t, r2.ok("FETCH 4 (FLAGS)"), `* 4 FETCH (FLAGS ())`)
	// ... and takes none: the fourth is recent to the next rev1 session.
	mustContain(t, a.ok("NOOP"), "* 4 EXISTS", "* 3 RECENT")
}
