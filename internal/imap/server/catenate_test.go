package server

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/youju/youju/internal/store"
)

// uidValidity returns a mailbox's UIDVALIDITY through STATUS.
func uidValidity(t *testing.T, c *client, box string) uint32 {
	t.Helper()
	u := c.ok("STATUS " + box + " (UIDVALIDITY)")
	var v uint32
	if len(u) != 1 {
		t.Fatalf("STATUS: %q", u)
	}
	if _, err := fmt.Sscanf(u[0][strings.Index(u[0], "(UIDVALIDITY "):], "(UIDVALIDITY %d)", &v); err != nil {
		t.Fatalf("STATUS %q: %v", u[0], err)
	}
	return v
}

// lit is a non-synchronising literal of s (LITERAL+, RFC 7888).
func lit(s string) string { return "{" + itoa(uint64(len(s))) + "+}\r\n" + s }

// fetchBody returns BODY[] of message seq of box, read-only.
func fetchBody(t *testing.T, c *client, box string, seq int) string {
	t.Helper()
	c.ok("EXAMINE " + box)
	u := c.ok(fmt.Sprintf("FETCH %d BODY.PEEK[]", seq))
	if len(u) != 1 {
		t.Fatalf("FETCH: %q", u)
	}
	l := u[0]
	start := strings.Index(l, "}\r\n")
	if start < 0 || !strings.HasSuffix(l, ")") {
		t.Fatalf("FETCH: %q", l)
	}
	return l[start+3 : len(l)-1]
}

func TestCatenate(t *testing.T) {
	ts := startServer(t, nil)
	ts.deliver(t, "INBOX", multipartMsg, 0)
	c := ts.login(t)
	if caps := c.ok("CAPABILITY"); !strings.Contains(caps[0], " CATENATE ") {
		t.Fatalf("CATENATE not advertised: %q", caps)
	}
	v := uidValidity(t, c, "INBOX")
	url := fmt.Sprintf("/INBOX;UIDVALIDITY=%d/;UID=1", v)
	hdr := "From: alice@example.org\r\nSubject: Fwd\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\n"

	// RFC 4469 §3: the parts are joined in order; URLs give the data of
	// BODY[section]<partial>, undecoded.
	_, done := c.do("APPEND Drafts (\\Seen) CATENATE (TEXT " + lit(hdr) +
		" URL \"" + url + "/;SECTION=2.MIME\" URL " + url + "/;SECTION=2" +
		" TEXT " + lit("\r\n--x\r\n") + " URL \"" + url + ";SECTION=HEADER.FIELDS%20(Subject%20To)\"" +
		" URL " + url + "/;SECTION=1/;PARTIAL=6.4 TEXT " + lit("\r\n--x--\r\n") + ")")
	if !strings.HasPrefix(done, "OK [APPENDUID ") || !strings.HasSuffix(done, " 1] APPEND completed") {
		t.Fatal(done)
	}
	mime := multipartMsg[strings.Index(multipartMsg, "Content-Type: application"):strings.Index(multipartMsg, "aGVs")]
	want := hdr + mime + "aGVsbG8gd29ybGQ=" + "\r\n--x\r\n" +
		"To: alice@example.org, \"Bob B.\" <bob@example.com>\r\nSubject: =?GB2312?B?xOO6ww==?=\r\n\r\n" + "body" + "\r\n--x--\r\n"
	if got := fetchBody(t, c, "Drafts", 1); got != want {
		t.Fatalf("catenated message:\n got %q\nwant %q", got, want)
	}
	mustContain(t, c.ok("FETCH 1 (FLAGS RFC822.SIZE BINARY.PEEK[1])"), "* 1 FETCH (FLAGS (\\Recent \\Seen) RFC822.SIZE "+itoa(uint64(len(want)))+" BINARY[1] {11}\r\nhello world)")

	// The whole message, HEADER and TEXT; and MULTIAPPEND with a plain
	// literal, in the selected mailbox.
	c.ok("SELECT Drafts")
	u, done := c.do("APPEND Drafts CATENATE (URL " + url + ") " + lit(simpleMsg) + " CATENATE (URL " + url + "/;SECTION=HEADER URL " + url + "/;SECTION=TEXT)")
	if !strings.HasSuffix(done, " 2:4] APPEND completed") {
		t.Fatal(done)
	}
	mustContain(t, u, "* 4 EXISTS")
	for seq, want := range map[int]string{2: multipartMsg, 3: simpleMsg, 4: multipartMsg} {
		if got := fetchBody(t, c, "Drafts", seq); got != want {
			t.Fatalf("message %d:\n got %q\nwant %q", seq, got, want)
		}
	}
	// RFC 4469 §3: the source keeps its flags (no \Seen).
	c.ok("EXAMINE INBOX")
	mustContain(t, c.ok("FETCH 1 FLAGS"), "* 1 FETCH (FLAGS (\\Recent))")
	// A CATENATE TEXT part may be a literal8 (BINARY): stored exactly.
	c.ok("APPEND Drafts CATENATE (TEXT ~{13+}\r\nSubject: x\n\r\n URL " + url + "/;SECTION=1 TEXT ~{3+}\r\n\x00\r\n)")
	c.ok("EXAMINE Drafts")
	mustContain(t, c.ok("FETCH 5 BINARY.PEEK[]"), "* 5 FETCH (BINARY[] ~{26}\r\nSubject: x\n\r\nplain body\x00\r\n)")
}

// TestCatenateSync: synchronising literals in CATENATE get a continuation
// each (RFC 9051 §7.5), and a TEXT part past the APPEND limit is refused
// before it is sent (RFC 4469 §5, RFC 7889).
func TestCatenateSync(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.MaxLiteral = 100 })
	ts.deliver(t, "INBOX", multipartMsg, 0)
	c := ts.login(t)
	c.send("a1 APPEND Drafts CATENATE (TEXT {9}")
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatal(l)
	}
	c.send("Subject: " + " URL \"/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(Date)\" TEXT {5}")
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatal(l)
	}
	c.send("\r\nhi!)")
	if l := c.line(); !strings.HasPrefix(l, "a1 OK [APPENDUID ") {
		t.Fatal(l)
	}
	want := "Subject: Date: Tue, 3 Jan 2006 10:00:00 +0800\r\n\r\n\r\nhi!"
	if got := fetchBody(t, c, "Drafts", 1); got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	// 60 + 41 octets of TEXT exceed the limit of 100.
	c.send("a2 APPEND Drafts CATENATE (TEXT {60}")
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatal(l)
	}
	c.send(strings.Repeat("x", 60) + " TEXT {41}")
	if l := c.line(); !strings.HasPrefix(l, "a2 NO [TOOBIG]") {
		t.Fatal(l)
	}
	// The URL part makes the message too large: NO [TOOBIG], nothing stored.
	if _, done := c.do("APPEND Drafts CATENATE (TEXT " + lit("x") + " URL /INBOX/;UID=1)"); !strings.HasPrefix(done, "NO [TOOBIG]") {
		t.Fatal(done)
	}
	mustContain(t, c.ok("STATUS Drafts (MESSAGES)"), "* STATUS Drafts (MESSAGES 1)")
	c.ok("NOOP")
}

// TestCatenateBadURL: every URL CATENATE cannot use is NO [BADURL url]
// (RFC 4469 §5), another user's mailbox included; MULTIAPPEND stores
// nothing then (RFC 3502 §6.3.11).
func TestCatenateBadURL(t *testing.T) {
	ts := startServer(t, nil)
	ts.deliver(t, "INBOX", simpleMsg, 0)
	ctx := context.Background()
	bob, err := ts.st.CreateAccount(ctx, store.Account{Address: "bob@example.org", PasswordHash: passwordHash(), AllowIMAP: true})
	if err != nil {
		t.Fatal(err)
	}
	bobInbox, err := ts.st.Mailbox(ctx, bob.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	secret := "Subject: bob's secret\r\n\r\nsecret\r\n"
	if _, err := ts.st.Deliver(ctx, store.Delivery{Data: []byte(secret), Targets: []store.Target{{Account: bob.ID, Mailbox: bobInbox.ID}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.st.CreateMailbox(ctx, bob.ID, "Private", ""); err != nil {
		t.Fatal(err)
	}
	c := ts.login(t)
	v := uidValidity(t, c, "INBOX")
	good := fmt.Sprintf("/INBOX;UIDVALIDITY=%d/;UID=1", v)
	for _, url := range []string{
		fmt.Sprintf("/INBOX;UIDVALIDITY=%d/;UID=1", v+1), // stale UIDVALIDITY
		fmt.Sprintf("/INBOX;UIDVALIDITY=%d/;UID=2", v),   // no such message
		"/Private/;UID=1",            // bob's mailbox name, not alice's
		"/Nope;UIDVALIDITY=1/;UID=1", // no such mailbox
		fmt.Sprintf("imap://bob%%40example.org@imap.example.org/INBOX;UIDVALIDITY=%d/;UID=1", bobInbox.UIDValidity), // another user
		"imap://bob@imap.example.org/INBOX/;UID=1",
		fmt.Sprintf("imap://alice%%40example.org@other.example.net/INBOX;UIDVALIDITY=%d/;UID=1", v), // another server
		good + "/;SECTION=9",                       // no such part
		good + "/;SECTION=1.HEADER",                // not a message/rfc822
		good + "/;URLAUTH=anonymous:internal:0a1b", // RFC 4467, not supported
		// RFC 4469 §3: only relative URLs; even the user's own absolute
		// URL is refused.
		fmt.Sprintf("imap://alice%%40example.org@imap.example.org/INBOX;UIDVALIDITY=%d/;UID=1", v),
		";UID=1", // relative to the selected mailbox, but none is selected
		"INBOX/;UID=1", "/INBOX/;UID=x",
	} {
		_, done := c.do("APPEND Drafts CATENATE (TEXT " + lit("a") + " URL \"" + url + "\")")
		if want := "NO [BADURL " + url + "] "; !strings.HasPrefix(done, want) {
			t.Errorf("%s: %s, want %s", url, done, want)
		}
	}
	// ";UID=" is relative to the selected mailbox (RFC 4469 §3).
	c.ok("EXAMINE INBOX")
	_, done := c.do("APPEND Drafts CATENATE (URL \";UID=1/;SECTION=TEXT\" URL \";uid=1;section=HEADER\")")
	if !strings.HasPrefix(done, "OK") {
		t.Fatal(done)
	}
	c.ok("UNSELECT")
	// MULTIAPPEND is all or nothing: the first message is removed again.
	_, done = c.do("APPEND Drafts " + lit(simpleMsg) + " CATENATE (URL " + good + "/;SECTION=7)")
	if !strings.HasPrefix(done, "NO [BADURL ") {
		t.Fatal(done)
	}
	mustContain(t, c.ok("STATUS Drafts (MESSAGES)"), "* STATUS Drafts (MESSAGES 1)")
	// A URL with characters a response code cannot carry is cleaned.
	_, done = c.do("APPEND Drafts CATENATE (URL {6+}\r\n/a]\r\nb)")
	if !strings.HasPrefix(done, "NO [BADURL /ab] ") {
		t.Fatal(done)
	}
	i := strings.Index(simpleMsg, "\r\n\r\n") + 4
	if got := fetchBody(t, c, "Drafts", 1); got != simpleMsg[i:]+simpleMsg[:i] {
		t.Fatalf("relative URLs gave %q", got)
	}
	// Nothing of bob's reached alice.
	c.ok("EXAMINE Drafts")
	if u := c.ok("FETCH 1:* BODY.PEEK[]"); strings.Contains(strings.Join(u, ""), "secret") {
		t.Fatalf("bob's message leaked: %q", u)
	}
}

// TestAppendLiteral8: a literal8 APPEND is stored octet for octet (RFC
// 3516 §4.4): bare LF, bare CR and NUL kept, RFC822.SIZE exact, and
// BINARY[] gives the same octets back; a plain literal is still
// normalised to CRLF.
func TestAppendLiteral8(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.login(t)
	msg := "Subject: bin\nX-A: b\r\n\r\nline\nnul\x00\rend\x00"
	c.send("a1 APPEND Drafts ~{" + itoa(uint64(len(msg))) + "}")
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatal(l)
	}
	c.send(msg)
	if l := c.line(); !strings.HasPrefix(l, "a1 OK [APPENDUID ") {
		t.Fatal(l)
	}
	c.ok("APPEND Drafts ~{" + itoa(uint64(len(msg))) + "+}\r\n" + msg)
	lf := "Subject: lf\n\nbody\n"
	c.ok("APPEND Drafts " + lit(lf))
	c.ok("EXAMINE Drafts")
	n := itoa(uint64(len(msg)))
	for _, seq := range []string{"1", "2"} {
		mustContain(t, c.ok("FETCH "+seq+" (RFC822.SIZE BINARY.PEEK[] BINARY.SIZE[])"),
			"* "+seq+" FETCH (RFC822.SIZE "+n+" BINARY[] ~{"+n+"}\r\n"+msg+" BINARY.SIZE[] "+n+")")
		// BODY[] cannot use literal8: NUL goes as 0x80 (see Writer.Literal).
		mustContain(t, c.ok("FETCH "+seq+" BODY.PEEK[]"), "* "+seq+" FETCH (BODY[] {"+n+"}\r\n"+strings.ReplaceAll(msg, "\x00", "\x80")+")")
	}
	crlf := strings.ReplaceAll(lf, "\n", "\r\n")
	mustContain(t, c.ok("FETCH 3 (RFC822.SIZE BODY.PEEK[])"), "* 3 FETCH (RFC822.SIZE "+itoa(uint64(len(crlf)))+" BODY[] {"+itoa(uint64(len(crlf)))+"}\r\n"+crlf+")")
}
