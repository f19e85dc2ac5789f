package wire

import (
	"bufio"
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMUTF7RoundTrip(t *testing.T) {
	cases := []struct{ utf8, mutf7 string }{
		{"INBOX", "INBOX"},
		{"已发送", "&XfJT0ZAB-"},
		{"草稿箱", "&g0l6P3ux-"},
		{"垃圾邮件", "&V4NXPpCuTvY-"},
		{"Tom & Jerry", "Tom &- Jerry"},
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
		{"Entwürfe", "Entw&APw-rfe"},
		{"😀", "&2D3eAA-"},
		{"a\tb", "a&AAk-b"},
	}
	for _, c := range cases {
		if got := EncodeMUTF7(c.utf8); got != c.mutf7 {
			t.Errorf("EncodeMUTF7(%q) = %q, want %q", c.utf8, got, c.mutf7)
		}
		got, err := DecodeMUTF7(c.mutf7)
		if err != nil || got != c.utf8 {
			t.Errorf("DecodeMUTF7(%q) = %q, %v, want %q", c.mutf7, got, err, c.utf8)
		}
	}
}

func TestMUTF7Invalid(t *testing.T) {
	for _, s := range []string{"&", "&Jjo", "&AGE-", "&Jjo-&Jjo-", "a\x80", "&2D0-", "&U,BTF2-", "&!-"} {
		if got, err := DecodeMUTF7(s); err == nil {
			t.Errorf("DecodeMUTF7(%q) = %q, want error", s, got)
		}
	}
}

func TestSeqSet(t *testing.T) {
	s, err := ParseSeqSet("1:3,5,7:*,*:9")
	if err != nil {
		t.Fatal(err)
	}
	want := []SeqRange{{1, 3}, {5, 5}, {7, Star}, {Star, 9}}
	if !reflect.DeepEqual(s.Ranges, want) {
		t.Fatalf("ranges %v", s.Ranges)
	}
	if s.String() != "1:3,5,7:*,*:9" {
		t.Fatalf("String %q", s.String())
	}
	if got := s.Resolve(8, true); !reflect.DeepEqual(got, []SeqRange{{1, 3}, {5, 5}, {7, 8}}) {
		t.Fatalf("Resolve(8, clip) = %v", got)
	}
	if got := s.Resolve(12, false); !reflect.DeepEqual(got, []SeqRange{{1, 3}, {5, 5}, {7, 12}}) {
		t.Fatalf("Resolve(12) = %v", got)
	}
	if got := s.Resolve(0, true); len(got) != 0 {
		t.Fatalf("Resolve(0, clip) = %v", got)
	}
	for _, bad := range []string{"", "0", "1:0", "1,", ",1", "a", "1::2", "4294967296", "01"} {
		if _, err := ParseSeqSet(bad); err == nil {
			t.Errorf("ParseSeqSet(%q) succeeded", bad)
		}
	}
	if s, _ := ParseSeqSet("$"); !s.Saved {
		t.Error("$ not saved")
	}
}

// parse reads one command from in, answering synchronising literals.
func parse(t *testing.T, in string, setup func(*Reader)) (*Command, error, int) {
	t.Helper()
	r := NewReader(bufio.NewReader(strings.NewReader(in)))
	conts := 0
	r.Continue = func() error { conts++; return nil }
	if setup != nil {
		setup(r)
	}
	cmd, err := r.ReadCommand()
	return cmd, err, conts
}

func mustSet(s string) SeqSet {
	set, err := ParseSeqSet(s)
	if err != nil {
		panic(err)
	}
	return set
}

func TestParseCommands(t *testing.T) {
	date := time.Date(1994, 2, 7, 21, 52, 25, 0, time.FixedZone("", -8*3600))
	cases := []struct {
		in   string
		want *Command
	}{
		{"a1 CAPABILITY\r\n", &Command{Tag: "a1", Name: "CAPABILITY"}},
		{"a noop\r\n", &Command{Tag: "a", Name: "NOOP"}},
		{"a LOGOUT\n", &Command{Tag: "a", Name: "LOGOUT"}},
		{"a STARTTLS\r\n", &Command{Tag: "a", Name: "STARTTLS"}},
		{"a IDLE\r\n", &Command{Tag: "a", Name: "IDLE"}},
		{"a UNSELECT\r\n", &Command{Tag: "a", Name: "UNSELECT"}},
		{"a CLOSE\r\n", &Command{Tag: "a", Name: "CLOSE"}},
		{"a CHECK\r\n", &Command{Tag: "a", Name: "CHECK"}},
		{"a NAMESPACE\r\n", &Command{Tag: "a", Name: "NAMESPACE"}},
		{"a EXPUNGE\r\n", &Command{Tag: "a", Name: "EXPUNGE"}},
		{"a UID EXPUNGE 3:5\r\n", &Command{Tag: "a", Name: "EXPUNGE", UID: true, Args: &ExpungeArgs{Set: mustSet("3:5")}}},
		{`a LOGIN fred "p\"w d"` + "\r\n", &Command{Tag: "a", Name: "LOGIN", Args: &LoginArgs{"fred", `p"w d`}}},
		{"a LOGIN {4}\r\nfred {3+}\r\nabc\r\n", &Command{Tag: "a", Name: "LOGIN", Args: &LoginArgs{"fred", "abc"}}},
		{"a AUTHENTICATE plain\r\n", &Command{Tag: "a", Name: "AUTHENTICATE", Args: &AuthenticateArgs{Mechanism: "PLAIN"}}},
		{"a AUTHENTICATE PLAIN AGZyZWQAcHc=\r\n", &Command{Tag: "a", Name: "AUTHENTICATE", Args: &AuthenticateArgs{"PLAIN", "AGZyZWQAcHc=", true}}},
		{"a AUTHENTICATE PLAIN =\r\n", &Command{Tag: "a", Name: "AUTHENTICATE", Args: &AuthenticateArgs{"PLAIN", "=", true}}},
		{"a ENABLE CONDSTORE utf8=accept\r\n", &Command{Tag: "a", Name: "ENABLE", Args: &EnableArgs{[]string{"CONDSTORE", "UTF8=ACCEPT"}}}},
		{`a ID ("name" "foxmail" "version" NIL)` + "\r\n", &Command{Tag: "a", Name: "ID", Args: &IDArgs{[][2]string{{"name", "foxmail"}, {"version", ""}}}}},
		{"a ID NIL\r\n", &Command{Tag: "a", Name: "ID", Args: &IDArgs{}}},
		{"a COMPRESS deflate\r\n", &Command{Tag: "a", Name: "COMPRESS", Args: &CompressArgs{"DEFLATE"}}},
		{"a SELECT inbox\r\n", &Command{Tag: "a", Name: "SELECT", Args: &SelectArgs{Mailbox: "INBOX"}}},
		{"a EXAMINE &XfJT0ZAB-\r\n", &Command{Tag: "a", Name: "EXAMINE", Args: &SelectArgs{Mailbox: "已发送"}}},
		{"a SELECT INBOX (CONDSTORE)\r\n", &Command{Tag: "a", Name: "SELECT", Args: &SelectArgs{Mailbox: "INBOX", CondStore: true}}},
		{"a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n",
			&Command{Tag: "a", Name: "SELECT", Args: &SelectArgs{Mailbox: "INBOX", QResync: &QResyncParams{UIDValidity: 67890007, ModSeq: 20050715194045000, KnownUIDs: ptr(mustSet("41,43:211,214:541"))}}}},
		{"a SELECT INBOX (QRESYNC (1 2 (1:3 7:9)))\r\n",
			&Command{Tag: "a", Name: "SELECT", Args: &SelectArgs{Mailbox: "INBOX", QResync: &QResyncParams{UIDValidity: 1, ModSeq: 2, SeqMatch: ptr(mustSet("1:3")), UIDMatch: ptr(mustSet("7:9"))}}}},
		{"a CREATE Archive/2024\r\n", &Command{Tag: "a", Name: "CREATE", Args: &CreateArgs{Mailbox: "Archive/2024"}}},
		{"a CREATE MySent (USE (\\Sent))\r\n", &Command{Tag: "a", Name: "CREATE", Args: &CreateArgs{Mailbox: "MySent", SpecialUse: []string{`\Sent`}}}},
		{"a DELETE \"a b\"\r\n", &Command{Tag: "a", Name: "DELETE", Args: &MailboxArgs{"a b"}}},
		{"a SUBSCRIBE &XfJT0ZAB-\r\n", &Command{Tag: "a", Name: "SUBSCRIBE", Args: &MailboxArgs{"已发送"}}},
		{"a UNSUBSCRIBE x\r\n", &Command{Tag: "a", Name: "UNSUBSCRIBE", Args: &MailboxArgs{"x"}}},
		{"a GETQUOTAROOT INBOX\r\n", &Command{Tag: "a", Name: "GETQUOTAROOT", Args: &MailboxArgs{"INBOX"}}},
		{"a GETQUOTA \"\"\r\n", &Command{Tag: "a", Name: "GETQUOTA", Args: &GetQuotaArgs{""}}},
		{"a RENAME a b\r\n", &Command{Tag: "a", Name: "RENAME", Args: &RenameArgs{"a", "b"}}},
		{"a LIST \"\" *\r\n", &Command{Tag: "a", Name: "LIST", Args: &ListArgs{Patterns: []string{"*"}}}},
		{"a LSUB \"\" %/&XfJT0ZAB-\r\n", &Command{Tag: "a", Name: "LSUB", Args: &ListArgs{Patterns: []string{"%/已发送"}}}},
		{"a LIST (SUBSCRIBED REMOTE) \"\" (INBOX* Sent) RETURN (CHILDREN STATUS (MESSAGES UNSEEN) SPECIAL-USE)\r\n",
			&Command{Tag: "a", Name: "LIST", Args: &ListArgs{Patterns: []string{"INBOX*", "Sent"}, Extended: true, SelectOpts: []string{"SUBSCRIBED", "REMOTE"}, ReturnOpts: []string{"CHILDREN", "STATUS", "SPECIAL-USE"}, StatusItems: []string{"MESSAGES", "UNSEEN"}}}},
		{"a STATUS INBOX (MESSAGES UIDNEXT size highestmodseq)\r\n", &Command{Tag: "a", Name: "STATUS", Args: &StatusArgs{"INBOX", []string{"MESSAGES", "UIDNEXT", "SIZE", "HIGHESTMODSEQ"}}}},
		{"a APPEND INBOX {5}\r\nhello\r\n", &Command{Tag: "a", Name: "APPEND", Args: &AppendArgs{"INBOX", []AppendMessage{{Data: []byte("hello")}}}}},
		{"a APPEND INBOX (\\Seen) \" 7-Feb-1994 21:52:25 -0800\" {5+}\r\nhello {2}\r\nhi\r\n", &Command{Tag: "a", Name: "APPEND", Args: &AppendArgs{"INBOX", []AppendMessage{{Flags: []string{`\Seen`}, Date: date, Data: []byte("hello")}, {Data: []byte("hi")}}}}},
		{"a APPEND INBOX () ~{3}\r\na\x00b\r\n", &Command{Tag: "a", Name: "APPEND", Args: &AppendArgs{"INBOX", []AppendMessage{{Flags: []string{}, Data: []byte("a\x00b"), Binary: true}}}}},
		{"a COPY 1:* Trash\r\n", &Command{Tag: "a", Name: "COPY", Args: &CopyArgs{mustSet("1:*"), "Trash"}}},
		{"a UID MOVE $ Trash\r\n", &Command{Tag: "a", Name: "MOVE", UID: true, Args: &CopyArgs{SeqSet{Saved: true}, "Trash"}}},
		{"a STORE 1 +FLAGS.SILENT (\\Seen $Forwarded)\r\n", &Command{Tag: "a", Name: "STORE", Args: &StoreArgs{Set: mustSet("1"), Op: StoreAdd, Silent: true, Flags: []string{`\Seen`, "$Forwarded"}}}},
		{"a UID STORE 1:2 (UNCHANGEDSINCE 12) -FLAGS \\Deleted \\Seen\r\n", &Command{Tag: "a", Name: "STORE", UID: true, Args: &StoreArgs{Set: mustSet("1:2"), Op: StoreRemove, Flags: []string{`\Deleted`, `\Seen`}, UnchangedSince: 12, HasUnchangedSince: true}}},
		{"a STORE 1 FLAGS ()\r\n", &Command{Tag: "a", Name: "STORE", Args: &StoreArgs{Set: mustSet("1"), Flags: []string{}}}},
		{"a FETCH 1:* FAST\r\n", &Command{Tag: "a", Name: "FETCH", Args: &FetchArgs{Set: mustSet("1:*"), Items: items("FLAGS", "INTERNALDATE", "RFC822.SIZE")}}},
		{"a UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 5 VANISHED)\r\n", &Command{Tag: "a", Name: "FETCH", UID: true, Args: &FetchArgs{Set: mustSet("1:*"), Items: items("UID", "FLAGS"), ChangedSince: 5, HasChangedSince: true, Vanished: true}}},
		{"a FETCH 2 body[]\r\n", &Command{Tag: "a", Name: "FETCH", Args: &FetchArgs{Set: mustSet("2"), Items: []FetchItem{{Name: "BODY", Section: &Section{}}}}}},
		{"a FETCH 2 (BODY.PEEK[1.2.HEADER.FIELDS (from To)]<0.100> BINARY[1] BINARY.SIZE[2] BODY RFC822.TEXT)\r\n", &Command{Tag: "a", Name: "FETCH", Args: &FetchArgs{Set: mustSet("2"), Items: []FetchItem{
			{Name: "BODY", Peek: true, Section: &Section{Part: []uint32{1, 2}, Specifier: "HEADER.FIELDS", Fields: []string{"FROM", "TO"}}, Partial: &Partial{0, 100}},
			{Name: "BINARY", Section: &Section{Part: []uint32{1}}},
			{Name: "BINARY.SIZE", Section: &Section{Part: []uint32{2}}},
			{Name: "BODY"}, {Name: "RFC822.TEXT"}}}}},
		{"a FETCH 1 BODY[3.MIME]\r\n", &Command{Tag: "a", Name: "FETCH", Args: &FetchArgs{Set: mustSet("1"), Items: []FetchItem{{Name: "BODY", Section: &Section{Part: []uint32{3}, Specifier: "MIME"}}}}}},
		{"a SEARCH UNSEEN\r\n", &Command{Tag: "a", Name: "SEARCH", Args: &SearchArgs{Key: SearchKey{Key: "AND", Sub: []SearchKey{{Key: "UNSEEN"}}}}}},
		{"a UID SEARCH RETURN (MIN COUNT) CHARSET gb18030 OR FROM {4}\r\n\xd5\xc5\xc8\xfd NOT (1:5 SINCE 1-Feb-1994) HEADER X-Spam yes\r\n", &Command{Tag: "a", Name: "SEARCH", UID: true, Args: &SearchArgs{Charset: "GB18030", Return: []string{"MIN", "COUNT"}, HasReturn: true, Key: SearchKey{Key: "AND", Sub: []SearchKey{
			{Key: "OR", Sub: []SearchKey{{Key: "FROM", Value: "\xd5\xc5\xc8\xfd"}, {Key: "NOT", Sub: []SearchKey{{Key: "AND", Sub: []SearchKey{{Key: "SEQ", Set: mustSet("1:5")}, {Key: "SINCE", Date: time.Date(1994, 2, 1, 0, 0, 0, 0, time.UTC)}}}}}}},
			{Key: "HEADER", Field: "X-Spam", Value: "yes"}}}}}},
		{"a SEARCH UID 1:4 LARGER 100 MODSEQ \"/flags/\\\\draft\" all 620162338 KEYWORD $x\r\n", &Command{Tag: "a", Name: "SEARCH", Args: &SearchArgs{Key: SearchKey{Key: "AND", Sub: []SearchKey{
			{Key: "UID", Set: mustSet("1:4")}, {Key: "LARGER", Num: 100}, {Key: "MODSEQ", Num: 620162338}, {Key: "KEYWORD", Value: "$x"}}}}}},
	}
	for _, c := range cases {
		got, err, _ := parse(t, c.in, nil)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q:\n got %#v\nwant %#v", c.in, got.Args, c.want.Args)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestParseAppendUTF8(t *testing.T) {
	cmd, err, _ := parse(t, "a APPEND INBOX UTF8 (~{3}\r\nabc)\r\n", func(r *Reader) { r.UTF8 = true })
	if err != nil || string(cmd.Args.(*AppendArgs).Messages[0].Data) != "abc" {
		t.Fatalf("%v %#v", err, cmd)
	}
	if _, err, _ := parse(t, "a APPEND INBOX UTF8 (~{3}\r\nabc)\r\n", nil); err == nil {
		t.Fatal("UTF8 data accepted without UTF8=ACCEPT")
	}
}

func TestParseUTF8Mailbox(t *testing.T) {
	cmd, err, _ := parse(t, "a SELECT \"&-已发送\"\r\n", func(r *Reader) { r.UTF8 = true })
	if err != nil || cmd.Args.(*SelectArgs).Mailbox != "&-已发送" {
		t.Fatalf("%v %#v", err, cmd)
	}
}

// TestParseMailboxNames checks that names which are good syntax but no
// acceptable name are not parse errors (BAD) but Command.NameErr (NO),
// RFC 3501 §7.1, and that LIST patterns of that kind match nothing.
func TestParseMailboxNames(t *testing.T) {
	cases := []struct {
		in      string
		utf8    bool
		name    string // the decoded name when accepted
		nameErr bool
	}{
		{in: "a SELECT &Jjo\r\n", nameErr: true},         // unterminated shift
		{in: "a SELECT &-&Jjo-&Jjo-\r\n", nameErr: true}, // adjacent shifts: not minimal
		{in: "a DELETE &AGE-\r\n", nameErr: true},        // printable ASCII encoded
		{in: "a CREATE &!-\r\n", nameErr: true},          // not base64
		{in: "a CREATE &AAA-\r\n", nameErr: true},        // NUL
		{in: "a STATUS \"&U,BTF2-\" (MESSAGES)\r\n", nameErr: true},
		{in: "a RENAME a &Jjo\r\n", nameErr: true},
		{in: "a SUBSCRIBE 项目\r\n", nameErr: true}, // 8-bit without UTF8=ACCEPT
		{in: "a SELECT {9}\r\n\xe9\xa1\xb9\xe7\x9b\xae\xe6\x8a\xa5\r\n", nameErr: true},
		{in: "a COPY 1 \"已发送\"\r\n", nameErr: true},
		{in: "a APPEND \"已发送\" {1+}\r\nx\r\n", nameErr: true},
		{in: "a GETQUOTAROOT 已发送\r\n", nameErr: true},
		{in: "a SELECT \"&XfJT0ZAB-\"\r\n", name: "已发送"},
		{in: "a SELECT \"已发送\"\r\n", utf8: true, name: "已发送"},
		{in: "a SELECT \"&XfJT0ZAB-\"\r\n", utf8: true, name: "&XfJT0ZAB-"}, // no mUTF-7 once UTF-8 is on
		{in: "a SELECT {3}\r\n\xe5\xb7\r\n", utf8: true, nameErr: true},     // not UTF-8
		{in: "a SELECT \"a\u2028b\"\r\n", utf8: true, nameErr: true},        // RFC 6855 §3
		{in: "a SELECT \"a\u0085b\"\r\n", utf8: true, nameErr: true},
	}
	for _, c := range cases {
		cmd, err, _ := parse(t, c.in, func(r *Reader) { r.UTF8 = c.utf8 })
		if err != nil {
			t.Errorf("%q: %v, want no parse error", c.in, err)
			continue
		}
		if (cmd.NameErr != "") != c.nameErr {
			t.Errorf("%q: NameErr %q, want error %v", c.in, cmd.NameErr, c.nameErr)
		}
		if sa, ok := cmd.Args.(*SelectArgs); ok && !c.nameErr && sa.Mailbox != c.name {
			t.Errorf("%q: mailbox %q, want %q", c.in, sa.Mailbox, c.name)
		}
	}
	for _, in := range []string{"a LIST \"\" &Jjo\r\n", "a LIST \"&AGE-\" *\r\n", "a LSUB \"\" \"&-&Jjo\"\r\n"} {
		cmd, err, _ := parse(t, in, nil)
		if err != nil || cmd.NameErr != "" {
			t.Fatalf("%q: %v %q", in, err, cmd.NameErr)
		}
		if a := cmd.Args.(*ListArgs); !a.Unmatchable || len(a.Patterns) != 0 {
			t.Errorf("%q: %#v, want no pattern", in, a)
		}
	}
	cmd, err, _ := parse(t, "a LIST \"\" (&Jjo %)\r\n", nil)
	if a := cmd.Args.(*ListArgs); err != nil || !a.Unmatchable || !reflect.DeepEqual(a.Patterns, []string{"%"}) {
		t.Errorf("pattern list: %v %#v", err, cmd.Args)
	}
	if cmd, _, _ := parse(t, "a LIST \"\" 项目/*\r\n", nil); cmd.NameErr == "" {
		t.Error("8-bit LIST pattern without UTF8=ACCEPT accepted")
	}
}

func TestParseErrors(t *testing.T) {
	cases := []string{
		"\r\n", "a\r\n", "a FOO\r\n", "a UID NOOP\r\n", "a LOGIN x\r\n", "a FETCH 0 FLAGS\r\n",
		"a FETCH 1 (FLAGS\r\n", "a FETCH 1 BODY[4.TEXT.X]\r\n", "a FETCH 1 BODY.PEEK\r\n",
		"a FETCH 1 BINARY[TEXT]\r\n", "a FETCH 1 BODY[]<1.0>\r\n", "a SEARCH\r\n", "a SEARCH FOO\r\n",
		"a SEARCH OR SEEN\r\n", "a SEARCH SINCE 31-Foo-2000\r\n",
		"a STORE 1 FLAGX (\\Seen)\r\n", "a APPEND INBOX\r\n", "a LOGIN a \"b\r\n", "a NOOP extra\r\n",
		"a FETCH 1 FLAGS (VANISHED)\r\n", "a SELECT INBOX (QRESYNC (0 1))\r\n",
		"a SEARCH " + strings.Repeat("NOT ", 100) + "ALL\r\n",
	}
	for _, in := range cases {
		_, err, _ := parse(t, in, nil)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Fatal {
			t.Errorf("%q: err = %v, want non-fatal ParseError", in, err)
		}
	}
}

func TestLiteralLimits(t *testing.T) {
	// A synchronising literal over the limit is refused before the client
	// sends it: no continuation, the next command is read normally.
	in := "a APPEND INBOX {100}\r\nb NOOP\r\n"
	r := NewReader(bufio.NewReader(strings.NewReader(in)))
	r.MaxLiteral = 10
	conts := 0
	r.Continue = func() error { conts++; return nil }
	_, err := r.ReadCommand()
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Code != "TOOBIG" || pe.Fatal || pe.Tag != "a" || conts != 0 {
		t.Fatalf("err %#v conts %d", err, conts)
	}
	cmd, err := r.ReadCommand()
	if err != nil || cmd.Name != "NOOP" {
		t.Fatalf("next command: %v %v", cmd, err)
	}
	// A non-synchronising literal over the limit cannot be followed.
	_, err, _ = parse(t, "a APPEND INBOX {100+}\r\n", func(r *Reader) { r.MaxLiteral = 10 })
	if !errors.As(err, &pe) || !pe.Fatal {
		t.Fatalf("non-sync: %v", err)
	}
	// LITERAL-: a non-synchronising string literal over 4096 is refused.
	_, err, _ = parse(t, "a LOGIN {5000+}\r\n", nil)
	if !errors.As(err, &pe) || !pe.Fatal {
		t.Fatalf("LITERAL-: %v", err)
	}
	// A line over the limit is fatal.
	_, err, _ = parse(t, "a NOOP "+strings.Repeat("x", 200)+"\r\n", func(r *Reader) { r.MaxLine = 100 })
	if !errors.As(err, &pe) || !pe.Fatal {
		t.Fatalf("long line: %v", err)
	}
	// Synchronising literals ask for a continuation each.
	_, err, conts = parse(t, "a LOGIN {1}\r\nx {1}\r\ny\r\n", nil)
	if err != nil || conts != 2 {
		t.Fatalf("conts %d err %v", conts, err)
	}
}

func TestSkipAfterError(t *testing.T) {
	// The rejected command carries a non-synchronising literal: it is
	// skipped and the following command parses.
	in := "a FOO {3+}\r\nabc\r\nb NOOP\r\n"
	r := NewReader(bufio.NewReader(strings.NewReader(in)))
	if _, err := r.ReadCommand(); err == nil {
		t.Fatal("want error")
	}
	cmd, err := r.ReadCommand()
	if err != nil || cmd.Tag != "b" {
		t.Fatalf("%v %v", cmd, err)
	}
}

func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	w := NewWriter(bw)
	w.Raw("* ").String(`a"b\c`).SP().String("x\r\ny").SP().NString("").SP().String("已").SP().
		Mailbox("已发送").SP().AString("abc").SP().AString("a b").SP().
		Literal(3, strings.NewReader("xyz"), false).SP().Number(42).SP().
		DateTime(time.Date(2024, 3, 5, 1, 2, 3, 0, time.UTC)).SP().Flags([]string{`\Seen`, "$x"}).CRLF()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "* \"a\\\"b\\\\c\" {4}\r\nx\r\ny NIL {3}\r\n已 &XfJT0ZAB- abc \"a b\" {3}\r\nxyz 42 \"05-Mar-2024 01:02:03 +0000\" (\\Seen $x)\r\n"
	if buf.String() != want {
		t.Fatalf("got  %q\nwant %q", buf.String(), want)
	}
	buf.Reset()
	w.UTF8 = true
	w.String("已").SP().Mailbox("已发送").Flush()
	if buf.String() != `"已" "已发送"` {
		t.Fatalf("UTF8: %q", buf.String())
	}
	if err := NewWriter(bufio.NewWriter(&buf)).Literal(5, strings.NewReader("ab"), false).Err(); err == nil {
		t.Fatal("short literal not reported")
	}
}

func TestSectionString(t *testing.T) {
	s := &Section{Part: []uint32{1, 2}, Specifier: "HEADER.FIELDS", Fields: []string{"FROM", "TO"}}
	if s.String() != "1.2.HEADER.FIELDS (FROM TO)" {
		t.Fatal(s.String())
	}
	if (&Section{}).String() != "" || (&Section{Specifier: "TEXT"}).String() != "TEXT" {
		t.Fatal("empty/TEXT")
	}
}

// TestAppendString checks the in-memory form against String on a Writer.
func TestAppendString(t *testing.T) {
	for _, c := range []struct {
		s    string
		utf8 bool
		want string
	}{
		{"plain", false, `"plain"`},
		{"", false, `""`},
		{`a"b\c`, false, `"a\"b\\c"`},
		{"x\r\ny", false, "{4}\r\nx\r\ny"},
		{"nul\x00", true, "{4}\r\nnul\x80"}, // RFC 3501 §9: no NUL in a literal
		{"已", false, "{3}\r\n已"},
		{"已", true, `"已"`},
		{strings.Repeat("a", 1025), true, "{1025}\r\n" + strings.Repeat("a", 1025)},
	} {
		if got := string(AppendString([]byte("x"), c.s, c.utf8)); got != "x"+c.want {
			t.Errorf("AppendString(%q, %v) = %q, want %q", c.s, c.utf8, got, "x"+c.want)
		}
		var buf bytes.Buffer
		w := NewWriter(bufio.NewWriter(&buf))
		w.UTF8 = c.utf8
		w.String(c.s).Flush()
		if buf.String() != c.want {
			t.Errorf("String(%q, %v) = %q, want %q", c.s, c.utf8, buf.String(), c.want)
		}
	}
	if got := string(AppendNString(nil, "", false)); got != "NIL" {
		t.Errorf("AppendNString empty = %q", got)
	}
}

// TestWriterNUL: a plain literal never carries NUL (RFC 3501 §9 CHAR8);
// NULs become 0x80 at the same size, and only literal8 keeps them.
func TestWriterNUL(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(bufio.NewWriter(&buf))
	w.Literal(4, strings.NewReader("a\x00\x00b"), false).SP().Literal(3, strings.NewReader("\x00x\x00"), true).SP().
		String("n\x00l").SP().LiteralString("\x00")
	w.Flush()
	want := "{4}\r\na\x80\x80b ~{3}\r\n\x00x\x00 {3}\r\nn\x80l {1}\r\n\x80"
	if buf.String() != want {
		t.Fatalf("got  %q\nwant %q", buf.String(), want)
	}
	if got := string(AppendString(nil, "\x00a", false)); got != "{2}\r\n\x80a" {
		t.Fatalf("AppendString: %q", got)
	}
}

// TestMultiAppendBounded: one MULTIAPPEND holds all its messages at once
// (they are stored as one batch), so their total is bounded by
// MaxAppendTotal message limits and their count by MaxAppendMessages.
func TestMultiAppendBounded(t *testing.T) {
	limit := func(r *Reader) { r.MaxLiteral = 10 }
	if _, err, _ := parse(t, "a APPEND INBOX {8}\r\n12345678 {8}\r\n12345678\r\n", limit); err != nil {
		t.Fatalf("within the total: %v", err)
	}
	_, err, _ := parse(t, "a APPEND INBOX {8}\r\n12345678 {8}\r\n12345678 {8}\r\n", limit)
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Code != "TOOBIG" || pe.Fatal {
		t.Fatalf("third message past twice the limit: %#v", err)
	}
	var b strings.Builder
	b.WriteString("a APPEND INBOX")
	for i := 0; i <= MaxAppendMessages; i++ {
		b.WriteString(" {0+}\r\n")
	}
	b.WriteString("\r\n")
	if _, err, _ := parse(t, b.String(), nil); err == nil || !strings.Contains(err.Error(), "messages in one APPEND") {
		t.Fatalf("%d messages: %v", MaxAppendMessages+1, err)
	}
}
