package wire

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestParseCatenate(t *testing.T) {
	url := "/INBOX;UIDVALIDITY=7/;UID=3/;SECTION=1"
	cases := []struct {
		in    string
		want  []AppendMessage
		conts int
	}{
		{"a APPEND Drafts CATENATE (URL " + url + ")\r\n",
			[]AppendMessage{{Catenate: []CatPart{{URL: url}}}}, 0},
		{"a APPEND Drafts (\\Seen) CATENATE (TEXT {3}\r\nabc URL \"" + url + "\" text ~{2+}\r\n\x00x)\r\n",
			[]AppendMessage{{Flags: []string{`\Seen`}, Catenate: []CatPart{{Text: []byte("abc")}, {URL: url}, {Text: []byte("\x00x"), Binary: true}}}}, 1},
		// MULTIAPPEND (RFC 3502) mixes plain and CATENATE messages.
		{"a APPEND Drafts {1}\r\nx catenate (url {" + strconv.Itoa(len(url)) + "}\r\n" + url + ") () CATENATE (TEXT {0}\r\n)\r\n",
			[]AppendMessage{{Data: []byte("x")}, {Catenate: []CatPart{{URL: url}}}, {Flags: []string{}, Catenate: []CatPart{{Text: []byte{}}}}}, 3},
	}
	for _, c := range cases {
		cmd, err, conts := parse(t, c.in, nil)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if got := cmd.Args.(*AppendArgs).Messages; !reflect.DeepEqual(got, c.want) || conts != c.conts {
			t.Errorf("%q:\n got %#v (%d continuations)\nwant %#v", c.in, got, conts, c.want)
		}
	}
	bad := []string{
		"a APPEND Drafts CATENATE ()\r\n",
		"a APPEND Drafts CATENATE (FOO x)\r\n",
		"a APPEND Drafts CATENATE (URL)\r\n",
		"a APPEND Drafts CATENATE (TEXT \"abc\")\r\n",
		"a APPEND Drafts CATENATE (URL x\r\n",
		"a APPEND Drafts CATENATE (URL x  URL y)\r\n",
		"a APPEND Drafts CATENATE URL x\r\n",
		"a APPEND Drafts CATENATE (" + strings.Repeat("URL x ", MaxCatParts) + "URL x)\r\n",
	}
	for _, in := range bad {
		_, err, _ := parse(t, in, nil)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Fatal {
			t.Errorf("%q: err = %v, want non-fatal ParseError", in, err)
		}
	}
}

// TestCatenateLimit: the TEXT parts of one message share the APPEND
// limit; a synchronising literal past it is refused before it is sent.
func TestCatenateLimit(t *testing.T) {
	in := "a APPEND Drafts CATENATE (TEXT {6}\r\nabcdef TEXT {5}\r\n"
	_, err, conts := parse(t, in, func(r *Reader) { r.MaxLiteral = 10 })
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Code != "TOOBIG" || pe.Fatal || conts != 1 {
		t.Fatalf("err %#v, %d continuations", err, conts)
	}
	// Two messages of MULTIAPPEND each have the whole limit.
	in = "a APPEND Drafts CATENATE (TEXT {6}\r\nabcdef) CATENATE (TEXT {6}\r\nabcdef)\r\n"
	if _, err, _ := parse(t, in, func(r *Reader) { r.MaxLiteral = 10 }); err != nil {
		t.Fatal(err)
	}
}

func TestParseIMAPURL(t *testing.T) {
	cases := []struct {
		in   string
		want IMAPURL
	}{
		{"/INBOX;UIDVALIDITY=785799047/;UID=113330/;SECTION=1.5.9",
			IMAPURL{Mailbox: "INBOX", UIDValidity: 785799047, UID: 113330, Section: &Section{Part: []uint32{1, 5, 9}}}},
		// RFC 4469 Appendix A writes the section without "/".
		{"/inbox;uidvalidity=1/;uid=2;section=HEADER", IMAPURL{Mailbox: "INBOX", UIDValidity: 1, UID: 2, Section: &Section{Specifier: "HEADER"}}},
		{"/Drafts/;UID=20/;section=1.MIME", IMAPURL{Mailbox: "Drafts", UID: 20, Section: &Section{Part: []uint32{1}, Specifier: "MIME"}}},
		{"/Drafts;UIDVALIDITY=3/;UID=20/;SECTION=text/;PARTIAL=5.10", IMAPURL{Mailbox: "Drafts", UIDValidity: 3, UID: 20, Section: &Section{Specifier: "TEXT"}, Partial: &Partial{5, 10}}},
		{"/Drafts;UIDVALIDITY=3/;UID=20/;PARTIAL=0", IMAPURL{Mailbox: "Drafts", UIDValidity: 3, UID: 20, Partial: &Partial{0, 0}}},
		{"/Archive/2024;UIDVALIDITY=3/;UID=1/;SECTION=HEADER.FIELDS%20(From%20To)",
			IMAPURL{Mailbox: "Archive/2024", UIDValidity: 3, UID: 1, Section: &Section{Specifier: "HEADER.FIELDS", Fields: []string{"FROM", "TO"}}}},
		// RFC 5092 §3.3: mailbox names are percent-encoded UTF-8.
		{"/%E5%B7%B2%E5%8F%91%E9%80%81;UIDVALIDITY=9/;UID=4", IMAPURL{Mailbox: "已发送", UIDValidity: 9, UID: 4}},
		{"imap://alice%40example.org;AUTH=*@imap.Example.org:143/INBOX;UIDVALIDITY=1/;UID=2",
			IMAPURL{User: "alice@example.org", Host: "imap.example.org", Mailbox: "INBOX", UIDValidity: 1, UID: 2}},
		{"IMAP://bob@host/INBOX/;UID=2", IMAPURL{User: "bob", Host: "host", Mailbox: "INBOX", UID: 2}},
		// RFC 4469 §3: relative to the selected mailbox.
		{";UID=20/;section=1", IMAPURL{UID: 20, Section: &Section{Part: []uint32{1}}}},
	}
	for _, c := range cases {
		got, err := ParseIMAPURL(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(*got, c.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", c.in, *got, c.want)
		}
	}
	for _, in := range []string{
		"", "/", "INBOX;UID=1", "/INBOX", "/INBOX;UIDVALIDITY=1", "/INBOX/;UID=0", "/INBOX/;UID=x", "/INBOX/;UID=1/;UID=2",
		"/;UID=1", "/INBOX/;UID=1/;SECTION=", "/INBOX/;UID=1/;SECTION=BOGUS", "/INBOX/;UID=1/;SECTION=1.0",
		"/INBOX/;UID=1/;PARTIAL=x", "/INBOX/;UID=1/;PARTIAL=1.0", "/INBOX/;UID=1/;PARTIAL=1/;SECTION=1",
		"/INBOX/;UID=1/;URLAUTH=anonymous:internal:0123", "/INBOX/;UID=1;EXPIRE=2030-01-01T00:00:00Z",
		"/INBOX/;UID=1/;UIDVALIDITY=3", "/IN%ZZBOX/;UID=1", "/IN%0aBOX/;UID=1", "/%FF/;UID=1",
		"imap://host", "imap://@host/INBOX/;UID=1", "imap://host:x/INBOX/;UID=1", "http://host/INBOX/;UID=1",
		"/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20({3}", "/INBOX/;UID=99999999999",
		";UIDVALIDITY=1/;UID=2", ";UID=1;UID=2", ";UID=", "/INBOX;UID=1;SECTION=1;PARTIAL=1;UID=3;UID=4",
		"/" + strings.Repeat("a", maxURL) + "/;UID=1",
	} {
		if u, err := ParseIMAPURL(in); err == nil {
			t.Errorf("%q: accepted as %+v", in, *u)
		}
	}
}
