package server

import (
	"strings"
	"testing"
	"time"
)

const multipartMsg = "From: =?UTF-8?B?5byg5LiJ?= <zhang@example.cn>\r\n" +
	"To: alice@example.org, \"Bob B.\" <bob@example.com>\r\n" +
	"Subject: =?GB2312?B?xOO6ww==?=\r\n" +
	"Date: Tue, 3 Jan 2006 10:00:00 +0800\r\n" +
	"Message-ID: <2@example.cn>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"plain body\r\n" +
	"--b1\r\n" +
	"Content-Type: application/octet-stream; name=\"a.bin\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"Content-Disposition: attachment; filename=\"a.bin\"\r\n" +
	"\r\n" +
	"aGVsbG8gd29ybGQ=\r\n" +
	"--b1--\r\n"

func TestSelectFetch(t *testing.T) {
	ts := startServer(t, nil)
	ts.deliver(t, "INBOX", simpleMsg, 0)
	ts.deliver(t, "INBOX", multipartMsg, 0)
	c := ts.login(t)
	u, done := c.do("SELECT INBOX")
	if !strings.HasPrefix(done, "OK [READ-WRITE]") {
		t.Fatal(done)
	}
	mustContain(t, u, "* 2 EXISTS", "* 2 RECENT", "* OK [UIDNEXT 3] predicted next UID", "* OK [UNSEEN 1] first unseen")

	u = c.ok("FETCH 1 (UID FLAGS RFC822.SIZE ENVELOPE)")
	want := `* 1 FETCH (UID 1 FLAGS (\Recent) RFC822.SIZE ` + itoa(uint64(len(simpleMsg))) +
		` ENVELOPE ("Mon, 2 Jan 2006 15:04:05 +0000" "hello" (("Bob" NIL "bob" "example.com")) (("Bob" NIL "bob" "example.com")) (("Bob" NIL "bob" "example.com")) ((NIL NIL "alice" "example.org")) NIL NIL NIL "<1@example.com>"))`
	mustContain(t, u, want)

	u = c.ok("FETCH 2 BODYSTRUCTURE")
	mustContain(t, u, `* 2 FETCH (BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL)("application" "octet-stream" ("name" "a.bin") NIL NIL "BASE64" 16 NIL ("attachment" ("filename" "a.bin")) NIL NIL) "mixed" ("boundary" "b1") NIL NIL NIL))`)
	u = c.ok("FETCH 2 BODY")
	mustContain(t, u, `* 2 FETCH (BODY (("text" "plain" ("charset" "utf-8") NIL NIL "7BIT" 10 1)("application" "octet-stream" ("name" "a.bin") NIL NIL "BASE64" 16) "mixed"))`)

	// Sections are byte ranges of the stored message.
	mustContain(t, c.ok("FETCH 2 BODY.PEEK[1]"), "* 2 FETCH (BODY[1] {10}\r\nplain body)")
	mustContain(t, c.ok("FETCH 2 BODY.PEEK[2.MIME]"), "* 2 FETCH (BODY[2.MIME] {142}\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"a.bin\"\r\n\r\n)")
	mustContain(t, c.ok("FETCH 2 BINARY.PEEK[2]"), "* 2 FETCH (BINARY[2] {11}\r\nhello world)")
	mustContain(t, c.ok("FETCH 2 BINARY.SIZE[2]"), "* 2 FETCH (BINARY.SIZE[2] 11)")
	// RFC 3516 §4.2: a multipart is not decoded (binaryMsg tests more).
	mustContain(t, c.ok("FETCH 2 BINARY.SIZE[]"), "* 2 FETCH (BINARY.SIZE[] "+itoa(uint64(len(multipartMsg)))+")")
	mustContain(t, c.ok("FETCH 2 BINARY.PEEK[9]"), "* 2 FETCH (BINARY[9] NIL)")
	mustContain(t, c.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS (subject FROM)]"), "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {47}\r\nFrom: Bob <bob@example.com>\r\nSubject: hello\r\n\r\n)")
	mustContain(t, c.ok("FETCH 1 BODY.PEEK[TEXT]<3.5>"), "* 1 FETCH (BODY[TEXT]<3> {5}\r\nAlice)")
	mustContain(t, c.ok("FETCH 1 RFC822.HEADER"), "* 1 FETCH (RFC822.HEADER {"+itoa(uint64(strings.Index(simpleMsg, "\r\n\r\n")+4))+"}\r\n"+simpleMsg[:strings.Index(simpleMsg, "\r\n\r\n")+4]+")")
	mustContain(t, c.ok("FETCH 1 FLAGS"), "* 1 FETCH (FLAGS (\\Recent))")

	// BODY[] sets \Seen (RFC 9051 §6.4.5) and reports the flags.
	mustContain(t, c.ok("FETCH 1 BODY[]"), "* 1 FETCH (BODY[] {"+itoa(uint64(len(simpleMsg)))+"}\r\n"+simpleMsg+" FLAGS (\\Recent \\Seen))")
	mustContain(t, c.ok("UID FETCH 2 (FLAGS)"), "* 2 FETCH (UID 2 FLAGS (\\Recent))")
	mustContain(t, c.ok("UID FETCH 5:* (FLAGS)"), "* 2 FETCH (UID 2 FLAGS (\\Recent))") // RFC 9051 §6.4.9
	if _, done := c.do("FETCH 3 FLAGS"); !strings.HasPrefix(done, "BAD") {
		t.Fatal(done)
	}
	u = c.ok("FETCH 1:* FAST")
	if len(u) != 2 || !strings.HasPrefix(u[1], "* 2 FETCH (FLAGS (\\Recent) INTERNALDATE \"") {
		t.Fatalf("%q", u)
	}

	// EXAMINE is read-only for real.
	_, done = c.do("EXAMINE INBOX")
	if !strings.HasPrefix(done, "OK [READ-ONLY]") {
		t.Fatal(done)
	}
	u = c.ok("FETCH 2 BODY[1]")
	mustContain(t, u, "* 2 FETCH (BODY[1] {10}\r\nplain body)")
	if _, done := c.do("STORE 2 +FLAGS (\\Seen)"); !strings.HasPrefix(done, "NO [READ-ONLY]") {
		t.Fatal(done)
	}
	mustContain(t, c.ok("FETCH 2 FLAGS"), "* 2 FETCH (FLAGS ())")
}

func TestStoreSearchExpunge(t *testing.T) {
	ts := startServer(t, nil)
	for i := 0; i < 5; i++ {
		ts.deliver(t, "INBOX", simpleMsg, 0)
	}
	ts.deliver(t, "INBOX", multipartMsg, 0)
	c := ts.login(t)
	c.ok("SELECT INBOX")
	mustContain(t, c.ok("STORE 1:2 +FLAGS (\\Seen $Label1)"), "* 1 FETCH (FLAGS (\\Recent \\Seen $Label1))", "* 2 FETCH (FLAGS (\\Recent \\Seen $Label1))")
	if u := c.ok("STORE 3 +FLAGS.SILENT (\\Flagged)"); len(u) != 0 {
		t.Fatalf("silent: %q", u)
	}
	mustContain(t, c.ok("UID STORE 2 -FLAGS (\\Seen)"), "* 2 FETCH (UID 2 FLAGS (\\Recent $Label1))")
	mustContain(t, c.ok("STORE 4 FLAGS (\\Deleted)"), "* 4 FETCH (FLAGS (\\Recent \\Deleted))")

	mustContain(t, c.ok("SEARCH UNSEEN"), "* SEARCH 2 3 4 5 6")
	mustContain(t, c.ok("SEARCH SEEN"), "* SEARCH 1")
	mustContain(t, c.ok("SEARCH KEYWORD $label1"), "* SEARCH 1 2")
	mustContain(t, c.ok("SEARCH OR FLAGGED DELETED"), "* SEARCH 3 4")
	mustContain(t, c.ok("SEARCH NOT (1:4)"), "* SEARCH 5 6")
	mustContain(t, c.ok("UID SEARCH 2:3 UNFLAGGED"), "* SEARCH 2")
	mustContain(t, c.ok("SEARCH SUBJECT 你好"), "* SEARCH 6")
	mustContain(t, c.ok("SEARCH CHARSET GB18030 FROM {2}\r\n\xd5\xc5"), "* SEARCH 6")
	mustContain(t, c.ok("SEARCH BODY \"PLAIN BODY\""), "* SEARCH 6")
	mustContain(t, c.ok("SEARCH TEXT zhang@example"), "* SEARCH 6")
	mustContain(t, c.ok("SEARCH HEADER Message-ID <1@example.com>"), "* SEARCH 1 2 3 4 5")
	mustContain(t, c.ok("SEARCH SENTSINCE 3-Jan-2006"), "* SEARCH 6")
	mustContain(t, c.ok("SEARCH LARGER 300"), "* SEARCH 6")
	mustContain(t, c.ok("SEARCH SINCE 1-Jan-2000 SMALLER 300"), "* SEARCH 1 2 3 4 5")
	mustContain(t, c.ok("SEARCH RETURN (MIN MAX COUNT) UNSEEN"), `* ESEARCH (TAG "t21") MIN 2 MAX 6 COUNT 5`)
	mustContain(t, c.ok("UID SEARCH RETURN () ALL"), `* ESEARCH (TAG "t22") UID ALL 1:6`)
	if _, done := c.do("SEARCH CHARSET X-NOPE FROM x"); !strings.HasPrefix(done, "NO [BADCHARSET") {
		t.Fatal(done)
	}

	// EXPUNGE reports each message, renumbering (RFC 9051 §7.5.1).
	c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
	u := c.ok("EXPUNGE")
	if strings.Join(u, "|") != "* 1 EXPUNGE|* 3 EXPUNGE" {
		t.Fatalf("%q", u)
	}
	mustContain(t, c.ok("FETCH 1:* (UID)"), "* 1 FETCH (UID 2)", "* 2 FETCH (UID 3)", "* 3 FETCH (UID 5)", "* 4 FETCH (UID 6)")
	c.ok("STORE 1:2 +FLAGS.SILENT (\\Deleted)")
	u = c.ok("UID EXPUNGE 3")
	if strings.Join(u, "|") != "* 2 EXPUNGE" {
		t.Fatalf("UID EXPUNGE: %q", u)
	}
	// CLOSE expunges silently; UNSELECT does not.
	u = c.ok("CLOSE")
	if len(u) != 0 {
		t.Fatalf("CLOSE: %q", u)
	}
	mustContain(t, c.ok("SELECT INBOX"), "* 2 EXISTS")
	c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
	c.ok("UNSELECT")
	// "1:*" of an empty mailbox is empty, not an error.
	c.ok("SELECT Junk")
	if u := c.ok("FETCH 1:* (FLAGS)"); len(u) != 0 {
		t.Fatalf("%q", u)
	}
	c.ok("UNSELECT")
	mustContain(t, c.ok("SELECT INBOX"), "* 2 EXISTS")
}

func TestCopyMoveAppend(t *testing.T) {
	ts := startServer(t, nil)
	ts.deliver(t, "INBOX", simpleMsg, 0)
	ts.deliver(t, "INBOX", simpleMsg, 0)
	ts.deliver(t, "INBOX", simpleMsg, 0)
	c := ts.login(t)
	c.ok("SELECT INBOX")
	_, done := c.do("COPY 1:2 Archive")
	if !strings.HasPrefix(done, "OK [COPYUID ") || !strings.HasSuffix(done, " 1:2 1:2] COPY completed") {
		t.Fatal(done)
	}
	if _, done := c.do("COPY 1 Nope"); !strings.HasPrefix(done, "NO [TRYCREATE]") {
		t.Fatal(done)
	}
	u := c.ok("UID MOVE 2 Trash")
	if len(u) != 2 || !strings.HasPrefix(u[0], "* OK [COPYUID ") || u[1] != "* 2 EXPUNGE" {
		t.Fatalf("MOVE: %q", u)
	}
	mustContain(t, c.ok("STATUS Trash (MESSAGES)"), "* STATUS Trash (MESSAGES 1)")

	// APPEND to the selected mailbox: APPENDUID and EXISTS.
	c.send("a1 APPEND INBOX (\\Seen) \" 5-Mar-2024 10:00:00 +0100\" {" + itoa(uint64(len(simpleMsg))) + "}")
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatal(l)
	}
	c.send(simpleMsg)
	var lines []string
	for {
		l := c.line()
		if strings.HasPrefix(l, "a1 ") {
			if !strings.HasPrefix(l, "a1 OK [APPENDUID ") || !strings.HasSuffix(l, " 4] APPEND completed") {
				t.Fatal(l)
			}
			break
		}
		lines = append(lines, l)
	}
	mustContain(t, lines, "* 3 EXISTS")
	mustContain(t, c.ok("FETCH 3 (FLAGS INTERNALDATE)"), `* 3 FETCH (FLAGS (\Recent \Seen) INTERNALDATE "05-Mar-2024 09:00:00 +0000")`)
	// BINARY (RFC 3516 §4.4): literal8 with a NUL octet.
	bin := "Subject: bin\r\nContent-Transfer-Encoding: binary\r\n\r\na\x00b\r\n"
	c.ok("APPEND Drafts ~{" + itoa(uint64(len(bin))) + "+}\r\n" + bin)
	c.ok("EXAMINE Drafts")
	mustContain(t, c.ok("FETCH 1 BINARY.PEEK[1]"), "* 1 FETCH (BINARY[1] ~{5}\r\na\x00b\r\n)")
	c.ok("SELECT INBOX")
	// LITERAL+ needs no continuation.
	u = c.ok("APPEND Drafts {" + itoa(uint64(len(simpleMsg))) + "+}\r\n" + simpleMsg)
	if len(u) != 0 {
		t.Fatalf("%q", u)
	}
	if _, done := c.do("APPEND Nope {1+}\r\nx"); !strings.HasPrefix(done, "NO [TRYCREATE]") {
		t.Fatal(done)
	}
}

func TestTwoSessionsAndIdle(t *testing.T) {
	ts := startServer(t, nil)
	ts.deliver(t, "INBOX", simpleMsg, 0)
	ts.deliver(t, "INBOX", simpleMsg, 0)
	a := ts.login(t)
	b := ts.login(t)
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")

	// Flag changes and expunges of one session reach the other.
	a.ok("STORE 1 +FLAGS.SILENT (\\Deleted \\Seen)")
	mustContain(t, b.ok("NOOP"), "* 1 FETCH (UID 1 FLAGS (\\Seen \\Deleted))")
	a.ok("EXPUNGE")
	// Not during FETCH without UID (RFC 9051 §7.5.1) ...
	u := b.ok("FETCH 1 FLAGS")
	if hasLine(u, "* 1 EXPUNGE") {
		t.Fatalf("EXPUNGE sent during FETCH: %q", u)
	}
	// ... but at the next NOOP.
	mustContain(t, b.ok("NOOP"), "* 1 EXPUNGE")

	// IDLE: a delivery is announced while idling.
	b.send("i1 IDLE")
	if l := b.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatal(l)
	}
	ts.deliver(t, "INBOX", simpleMsg, 0)
	b.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if l := b.line(); l != "* 2 EXISTS" {
		t.Fatalf("IDLE got %q", l)
	}
	// b heard of it first (RFC 3501 §2.3.2).
	if l := b.line(); l != "* 1 RECENT" {
		t.Fatalf("IDLE got %q", l)
	}
	b.send("DONE")
	if l := b.line(); !strings.HasPrefix(l, "i1 OK") {
		t.Fatal(l)
	}
	mustContain(t, a.ok("NOOP"), "* 2 EXISTS")
}

func TestShutdownDuringIdle(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.login(t)
	c.ok("SELECT INBOX")
	c.send("i IDLE")
	c.line()
	go ts.srv.Shutdown(t.Context())
	if l := c.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("%q", l)
	}
}

func TestMultiAppendAndSaveDate(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.MaxLiteral = 1000 })
	c := ts.login(t)
	n := itoa(uint64(len(simpleMsg)))
	_, done := c.do("APPEND Drafts {" + n + "+}\r\n" + simpleMsg + " (\\Seen) {" + n + "+}\r\n" + simpleMsg)
	if done != "OK [APPENDUID "+itoa(uint64(mustValidity(t, ts, "Drafts")))+" 1:2] APPEND completed" {
		t.Fatal(done)
	}
	// The second message fails (empty): nothing is stored (RFC 3502 §6.3.11).
	if _, done := c.do("APPEND Drafts {" + n + "+}\r\n" + simpleMsg + " {0+}\r\n"); !strings.HasPrefix(done, "NO") {
		t.Fatal(done)
	}
	mustContain(t, c.ok("STATUS Drafts (MESSAGES)"), "* STATUS Drafts (MESSAGES 2)")
	// Over quota at the second message: the first is removed again.
	acct, err := ts.st.AccountByID(t.Context(), ts.acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	acct.QuotaBytes = int64(3*len(simpleMsg) + 10)
	if err := ts.st.UpdateAccount(t.Context(), acct); err != nil {
		t.Fatal(err)
	}
	if _, done := c.do("APPEND Drafts {" + n + "+}\r\n" + simpleMsg + " {" + n + "+}\r\n" + simpleMsg); !strings.HasPrefix(done, "NO [OVERQUOTA]") {
		t.Fatal(done)
	}
	mustContain(t, c.ok("STATUS Drafts (MESSAGES)"), "* STATUS Drafts (MESSAGES 2)")
	c.ok("SELECT Drafts")
	u := c.ok("FETCH 1 (SAVEDATE)")
	if len(u) != 1 || !strings.HasPrefix(u[0], `* 1 FETCH (SAVEDATE "`) {
		t.Fatalf("%q", u)
	}
	mustContain(t, c.ok("SEARCH SAVEDSINCE 1-Jan-2020"), "* SEARCH 1 2")
}

func mustValidity(t *testing.T, ts *testServer, name string) uint32 {
	m, err := ts.st.Mailbox(t.Context(), ts.acct.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	return m.UIDValidity
}
