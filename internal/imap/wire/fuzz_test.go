package wire

import (
	"bufio"
	"bytes"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"a LOGIN fred pw\r\n", "a UID FETCH 1:* (UID FLAGS BODY.PEEK[1.HEADER.FIELDS (FROM)]<0.10>)\r\n",
		"a SEARCH OR (FROM x) NOT 1:3 CHARSET\r\n", "a APPEND INBOX (\\Seen) {3+}\r\nabc\r\n",
		"a LIST (SUBSCRIBED) \"\" (a b) RETURN (STATUS (MESSAGES))\r\n", "a SELECT x (QRESYNC (1 2 1:3 (1 2)))\r\n",
		"a STORE 1 (UNCHANGEDSINCE 3) +FLAGS (\\Seen)\r\n", "a ID (\"a\" NIL)\r\n", "a CREATE x (USE (\\Sent))\r\n",
		"a UID SORT (REVERSE DATE SUBJECT DISPLAYFROM) UTF-8 UNSEEN OR FROM {1+}\r\nx 1:*\r\n", "a SORT (REVERSE) US-ASCII ALL\r\n",
		"a UID SORT RETURN (MIN PARTIAL -1:-50 UPDATE) (DATE) UTF-8 ALL\r\n", "a SEARCH RETURN (PARTIAL 1:10 COUNT CONTEXT) UNSEEN\r\n",
		"a CANCELUPDATE \"a1\" \"b\"\r\n",
		"a SELECT &Jjo\r\n", "a LIST \"&AGE-\" (&Jjo %/&XfJT0ZAB-)\r\n", "a CREATE 项目/报告\r\n", "a RENAME \"a\" {3+}\r\n\xe5\xb7x\r\n",
		"a APPEND x (\\Seen) CATENATE (TEXT {3+}\r\nabc URL \"/INBOX;UIDVALIDITY=1/;UID=2/;SECTION=1\" TEXT ~{1+}\r\n\x00) CATENATE (URL /a/;UID=1)\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := NewReader(bufio.NewReader(strings.NewReader(in)))
		r.MaxLine = 1024
		r.MaxLiteral = 4096
		r.Continue = func() error { return nil }
		for i := 0; i < 10; i++ {
			cmd, err := r.ReadCommand()
			if err != nil {
				if pe, ok := err.(*ParseError); ok && !pe.Fatal {
					continue
				}
				return
			}
			if cmd.Tag == "" || cmd.Name == "" {
				t.Fatalf("empty tag or name: %#v", cmd)
			}
		}
	})
}

func FuzzMUTF7(f *testing.F) {
	for _, s := range []string{"INBOX", "已发送", "&XfJT0ZAB-", "a&-b", "&2D3eAA-", "\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := DecodeMUTF7(s); err == nil {
			if e := EncodeMUTF7(d); e != s {
				t.Fatalf("decode %q = %q, encodes back to %q", s, d, e)
			}
		}
		if !strings.ContainsRune(s, '\uFFFD') && validUTF8(s) {
			e := EncodeMUTF7(s)
			d, err := DecodeMUTF7(e)
			if err != nil || d != s {
				t.Fatalf("encode %q = %q, decodes to %q, %v", s, e, d, err)
			}
		}
	})
}

func FuzzSeqSet(f *testing.F) {
	for _, s := range []string{"1", "1:*", "*", "$", "1,3:5,7:*", "4294967295"} {
		f.Add(s, uint32(10))
	}
	f.Fuzz(func(t *testing.T, s string, max uint32) {
		set, err := ParseSeqSet(s)
		if err != nil {
			return
		}
		again, err := ParseSeqSet(set.String())
		if err != nil || !reflect.DeepEqual(again, set) {
			t.Fatalf("%q formats as %q", s, set.String())
		}
		rs := set.Resolve(max, true)
		for i, r := range rs {
			if r.Lo == 0 || r.Lo > r.Hi || r.Hi > max || (i > 0 && r.Lo <= rs[i-1].Hi+1) {
				t.Fatalf("bad resolved ranges %v for %q max %d", rs, s, max)
			}
		}
	})
}

// FuzzIMAPURL: never a panic; what parses names a message by UID in a
// mailbox with a valid UTF-8 name, or in the selected one (relative URL).
func FuzzIMAPURL(f *testing.F) {
	for _, s := range []string{
		"/INBOX;UIDVALIDITY=785799047/;UID=113330/;SECTION=1.5.9", "/Drafts/;UID=20;section=HEADER.FIELDS%20(FROM)",
		"imap://a%40b;AUTH=*@h:143/%E5%B7%B2/;UID=1/;PARTIAL=0.10", "/x/;UID=1/;URLAUTH=anonymous:internal:00", ";UID=3/;SECTION=2.MIME",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseIMAPURL(s)
		if err != nil {
			return
		}
		relative := len(s) >= 5 && equalFold(s[:5], ";UID=")
		if u.UID == 0 || (u.Mailbox == "") != relative || !utf8.ValidString(u.Mailbox) {
			t.Fatalf("%q parsed as %+v", s, u)
		}
	})
}

// FuzzAppendAhead checks that the look-ahead at a buffered APPEND never
// panics, and that whenever it reports a literal the line really ends
// with that non-synchronising literal.
func FuzzAppendAhead(f *testing.F) {
	f.Add([]byte("a1 APPEND INBOX {10+}\r\n0123456789\r\n"))
	f.Add([]byte("a1 append INBOX (\\Seen) ~{3+}\r\n"))
	f.Add([]byte("a1 APPEND INBOX {10}\r\n"))
	f.Add([]byte("a1 APPEND {5+}\r\n"))
	f.Add([]byte("a1 NOOP\r\n"))
	f.Add([]byte("a1 APPEND INBOX {-1+}\r\n"))
	f.Fuzz(func(t *testing.T, buf []byte) {
		n, ok := appendAhead(buf)
		if !ok {
			return
		}
		line := buf[:bytes.IndexByte(buf, '\n')]
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if n < 0 || !bytes.HasSuffix(line, []byte(strconv.FormatInt(n, 10)+"+}")) {
			t.Fatalf("%q: size %d", buf, n)
		}
	})
}
