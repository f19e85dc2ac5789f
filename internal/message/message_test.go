package message

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

func TestNormalizeCRLF(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\nb\n", "a\r\nb\r\n"},
		{"a\rb\r", "a\r\nb\r\n"},
		{"a\r\r\nb", "a\r\n\r\nb"},
		{"\n\n", "\r\n\r\n"},
		{"a\r\nb\nc\r", "a\r\nb\r\nc\r\n"},
	}
	for _, tt := range tests {
		if got := NormalizeCRLF([]byte(tt.in)); string(got) != tt.want {
			t.Errorf("NormalizeCRLF(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	clean := []byte("x\r\ny\r\n")
	if got := NormalizeCRLF(clean); &got[0] != &clean[0] {
		t.Errorf("clean input was copied")
	}
}

func gbk(s string) string {
	b, err := simplifiedchinese.GBK.NewEncoder().String(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestDecodeHeader(t *testing.T) {
	big5, _ := traditionalchinese.Big5.NewEncoder().String("測試")
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"=?UTF-8?B?5L2g5aW9?=", "你好"},
		{"=?utf-8?q?caf=C3=A9_au_lait?=", "café au lait"},
		{"=?UTF-8?B?5L2g?= =?UTF-8?B?5aW9?=", "你好"},            // §6.2 whitespace dropped
		{"=?UTF-8?B?5L2g?=\t =?UTF-8?B?5aW9?= x", "你好 x"},      // trailing text keeps its space
		{"a =?UTF-8?Q?b?= c", "a b c"},                         // text around keeps its spaces
		{"=?UTF-8?B?!!!?= =?UTF-8?Q?x?=", "=?UTF-8?B?!!!?= x"}, // bad base64 left as is
		{"=?gb2312?B?xOO6ww==?=", "你好"},                        // GB2312 label, GBK bytes
		{"=?GBK?B?udjT2g==?=", "关于"},                           // GBK
		{"=?GB18030?B?xOO6ww==?=", "你好"},                       // GB18030
		{"=?big5?B?" + b64(big5) + "?=", "測試"},                 // Big5
		{"=?iso-8859-1?q?J=F6rg?=", "Jörg"},                    // Latin-1
		{"=?ISO-8859-15?Q?=A4?=", "€"},                         // Latin-9
		{"=?windows-1251?B?z/Do4uXy?=", "Привет"},              // Windows-1251
		{"=?koi8-r?B?8NLJ18XU?=", "Привет"},                    // KOI8-R
		{"=?ISO-2022-JP?B?GyRCMnE1RBsoQg==?=", "会議"},           // ISO-2022-JP
		{"=?utf-8*en?Q?hello?=", "hello"},                      // RFC 2231 §5 language
		{"=?x-unknown?Q?abc?= d", "=?x-unknown?Q?abc?= d"},     // unknown charset kept
		{"=?UTF-8?Q?a?==?UTF-8?Q?b?=", "ab"},                   // glued words
		{"=?UTF-8?B?5L2g5Q==?= =?UTF-8?B?pb0=?=", "你好"},        // character split across words
		{"=?utf-8?Q?unterminated", "=?utf-8?Q?unterminated"},   // no ?=
		{"x=?", "x=?"},
		{gbk("中文"), "中文"},      // raw GBK header bytes
		{"\xff\xfe", "\uFFFD"}, // raw garbage
		{"Grüße", "Grüße"},     // RFC 6532 raw UTF-8
	}
	for _, tt := range tests {
		if got := DecodeHeader(tt.in); got != tt.want {
			t.Errorf("DecodeHeader(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func b64(s string) string {
	const enc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var b strings.Builder
	for i := 0; i < len(s); i += 3 {
		var n uint32
		k := min(3, len(s)-i)
		for j := 0; j < 3; j++ {
			n <<= 8
			if j < k {
				n |= uint32(s[i+j])
			}
		}
		for j := 0; j < 4; j++ {
			if j <= k {
				b.WriteByte(enc[n>>(18-6*j)&63])
			} else {
				b.WriteByte('=')
			}
		}
	}
	return b.String()
}

func TestDecodeCharset(t *testing.T) {
	tests := []struct {
		cs, in, want string
		err          error
	}{
		{"utf-8", "héllo", "héllo", nil},
		{"us-ascii", "plain", "plain", nil},
		{"gb2312", gbk("邮局"), "邮局", nil},
		{"GBK", gbk("邮局"), "邮局", nil},
		{"\"gb18030\"", gbk("邮局"), "邮局", nil},
		{"iso-8859-1", "caf\xe9", "café", nil},
		{"windows-1252", "\x80", "€", nil},
		{"utf-16", "\x00a\x00b", "ab", nil},
		{"utf-16", "\xff\xfea\x00", "a", nil},
		{"ISO-2022-JP", "\x1b$B$3$s\x1b(B", "こん", nil},
		{"utf-7", "abc", "abc", ErrUnknownCharset},
		{"utf-8", "bad\xff", "bad\uFFFD", nil},
		{"no-such-charset", "abc", "abc", ErrUnknownCharset},
	}
	for _, tt := range tests {
		got, err := DecodeCharset(tt.cs, []byte(tt.in))
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("DecodeCharset(%q, %q) = %q, %v; want %q, %v", tt.cs, tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseAddressList(t *testing.T) {
	a := func(name, mb, host string) Address { return Address{Name: name, Mailbox: mb, Host: host} }
	tests := []struct {
		in   string
		want []Address
	}{
		{"", nil},
		{"alice@example.com", []Address{a("", "alice", "example.com")}},
		{"Alice <alice@example.com>", []Address{a("Alice", "alice", "example.com")}},
		{`"Doe, John" <john@x.test>, b@y.test`, []Address{a("Doe, John", "john", "x.test"), a("", "b", "y.test")}},
		{`"a \"q\" b" <q@x.test>`, []Address{a(`a "q" b`, "q", "x.test")}},
		{"john@x.test (John Doe)", []Address{a("John Doe", "john", "x.test")}},
		{"(Only) <c@x.test>", []Address{a("Only", "c", "x.test")}},
		{"=?UTF-8?B?5byg5LiJ?= <z@x.cn>", []Address{a("=?UTF-8?B?5byg5LiJ?=", "z", "x.cn")}},
		{"undisclosed-recipients:;", []Address{{Mailbox: "undisclosed-recipients"}, {}}},
		{"G: a@x.test, B <b@x.test>;, c@x.test", []Address{
			{Mailbox: "G"}, a("", "a", "x.test"), a("B", "b", "x.test"), {}, a("", "c", "x.test")}},
		{"G: a@x.test", []Address{{Mailbox: "G"}, a("", "a", "x.test"), {}}}, // unterminated group
		{"<@r1.test,@r2.test:d@x.test>", []Address{{Adl: "@r1.test,@r2.test", Mailbox: "d", Host: "x.test"}}},
		{`"quoted local"@x.test`, []Address{a("", `"quoted local"`, "x.test")}},
		{`"plain"@x.test`, []Address{a("", "plain", "x.test")}},
		{"root", []Address{a("", "root", MissingHost)}},
		{"broken@", []Address{a("", "broken", MissingHost)}},
		{"@nohost", []Address{a("", "", "nohost")}},
		{"<>", nil},
		{"Mailer <>", []Address{{Name: "Mailer", Host: MissingHost}}},
		{", ,,", nil},
		{"Who? <one@y.test>", []Address{a("Who?", "one", "y.test")}},
		{"John Q. Public <jqp@x.test>", []Address{a("John Q. Public", "jqp", "x.test")}},
		{"user@[192.0.2.1]", []Address{a("", "user", "[192.0.2.1]")}},
		{"Name user@x.test", []Address{a("Name", "user", "x.test")}},
		{"<a@x.test", []Address{a("", "a", "x.test")}},
		{"a@x.test>", []Address{a("", "a", "x.test")}},
		{"张三 <zhang@x.cn>", []Address{a("张三", "zhang", "x.cn")}},
		{":;", nil},
		{"a@x.test; b@y.test", []Address{a("", "a", "x.test"), a("", "b", "y.test")}},
	}
	for _, tt := range tests {
		if got := ParseAddressList(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseAddressList(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
		}
	}
}

func TestFormatAddresses(t *testing.T) {
	list := ParseAddressList(`=?UTF-8?B?5byg5LiJ?= <z@x.cn>, G: a@x.test, b@x.test;, E:;, root, c@x.test`)
	want := "张三 <z@x.cn>, G: a@x.test, b@x.test;, E:;, root, c@x.test"
	if got := FormatAddresses(list); got != want {
		t.Errorf("FormatAddresses = %q, want %q", got, want)
	}
}

func TestParseDate(t *testing.T) {
	utc := func(y int, m time.Month, d, h, mi, s, off int) time.Time {
		return time.Date(y, m, d, h, mi, s, 0, time.FixedZone("", off))
	}
	tests := []struct {
		in   string
		want time.Time
	}{
		{"Tue, 1 Jul 2003 10:52:37 +0200", utc(2003, 7, 1, 10, 52, 37, 7200)},
		{"Tue, 1 Jul 2003 10:52:37 +0200 (CEST)", utc(2003, 7, 1, 10, 52, 37, 7200)},
		{"1 Jul 2003 10:52 -0730", utc(2003, 7, 1, 10, 52, 0, -(7*3600 + 1800))},
		{"Thu, 13 Feb 69 23:32:54 -0330", utc(1969, 2, 13, 23, 32, 54, -(3*3600 + 1800))}, // §4.3
		{"3 Nov 26 08:15 GMT", utc(2026, 11, 3, 8, 15, 0, 0)},
		{"Mon, 2 Jan 2006 15:04:05 EST", utc(2006, 1, 2, 15, 4, 5, -5*3600)},
		{"Mon,2 Jan 2006 15:04:05", utc(2006, 1, 2, 15, 4, 5, 0)},    // no zone
		{"Wed Nov 25 16:00:00 2026", utc(2026, 11, 25, 16, 0, 0, 0)}, // asctime
		{"Monday, 02-January-2006 15:04:05 +0100", utc(2006, 1, 2, 15, 4, 5, 3600)},
		{"2 Jan 2006 15:04:05 +01:00", utc(2006, 1, 2, 15, 4, 5, 3600)},
		{"Sat, 31 Dec 2016 23:59:60 +0000", utc(2016, 12, 31, 23, 59, 59, 0)},
		{"", time.Time{}},
		{"not a date", time.Time{}},
		{"31 Feb 2020 10:00:00 +0000", time.Time{}},
		{"1 Jan 2020", time.Time{}}, // no time
		{"1 Jan 2020 25:00:00", time.Time{}},
	}
	for _, tt := range tests {
		got, ok := ParseDate(tt.in)
		if ok != !tt.want.IsZero() || !got.Equal(tt.want) {
			t.Errorf("ParseDate(%q) = %v, %v; want %v", tt.in, got, ok, tt.want)
			continue
		}
		if ok {
			_, o1 := got.Zone()
			_, o2 := tt.want.Zone()
			if o1 != o2 {
				t.Errorf("ParseDate(%q) zone %d, want %d", tt.in, o1, o2)
			}
		}
	}
}

func TestMediaTypeParams(t *testing.T) {
	tests := []struct {
		in   string
		typ  string
		want []Param
	}{
		{"text/plain", "text/plain", nil},
		{"Text/HTML; Charset=\"UTF-8\"", "text/html", []Param{{"charset", "UTF-8"}}},
		{"text/plain; charset=us-ascii (Plain text)", "text/plain", []Param{{"charset", "us-ascii"}}},
		{"application/pdf; name=report 2026.pdf", "application/pdf", []Param{{"name", "report 2026.pdf"}}},
		{"a/b; x=1; x=2", "a/b", []Param{{"x", "1"}}},
		{"a/b;;; =bad; y", "a/b", nil},
		{`a/b; q="semi;colon\"quote"`, "a/b", []Param{{"q", `semi;colon"quote`}}},
		{"a/b; unterminated=\"abc", "a/b", []Param{{"unterminated", "abc"}}},
		// RFC 2231 §3 continuations, §4 charsets, in any order.
		{"a/b; name*1=\"def\"; name*0=\"abc\"", "a/b", []Param{{"name", "abcdef"}}},
		{"a/b; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A", "a/b",
			[]Param{{"title", "This is ***fun***"}}},
		{"a/b; name=\"fallback\"; name*=utf-8''%E9%82%AE%E5%B1%80", "a/b", []Param{{"name", "邮局"}}},
		{"a/b; name*0*=gbk''%D3%CA; name*1*=%BE%D6.txt", "a/b", []Param{{"name", "邮局.txt"}}},
		{"a/b; name*0*=utf-8'en'%E2%82%AC; name*1=\" rate\"", "a/b", []Param{{"name", "€ rate"}}},
		{"a/b; name*99999=x", "a/b", []Param{{"name*99999", "x"}}},
	}
	for _, tt := range tests {
		typ, ps := mediaType(tt.in)
		if typ != tt.typ || !reflect.DeepEqual(ps, tt.want) {
			t.Errorf("mediaType(%q) = %q %+v; want %q %+v", tt.in, typ, ps, tt.typ, tt.want)
		}
	}
}

func TestParseStructure(t *testing.T) {
	tests := []struct {
		name, msg string
		check     func(t *testing.T, info *Info)
	}{
		{"empty", "", func(t *testing.T, info *Info) {
			b := info.Body
			if b.Type != "text" || b.Subtype != "plain" || b.Encoding != "7bit" || b.Size != 0 ||
				!reflect.DeepEqual(b.Params, []Param{{"charset", "us-ascii"}}) {
				t.Errorf("%+v", b)
			}
		}},
		{"bad content-type", "Content-Type: garbage\r\n\r\nx", func(t *testing.T, info *Info) {
			if info.Body.Type != "text" || info.Body.Subtype != "plain" {
				t.Errorf("%s/%s", info.Body.Type, info.Body.Subtype)
			}
		}},
		{"lines", "Subject: x\r\n\r\na\r\nb\r\nc", func(t *testing.T, info *Info) {
			if info.Body.Lines != 3 || info.Body.Size != 7 {
				t.Errorf("lines %d size %d", info.Body.Lines, info.Body.Size)
			}
		}},
		{"folded and duplicate", "Subject: a\r\n\tb\r\nSubject: second\r\nFrom : x@y.test\r\n\r\n", func(t *testing.T, info *Info) {
			if info.Envelope.Subject != "a\tb" || len(info.Envelope.From) != 1 {
				t.Errorf("%+v", info.Envelope)
			}
		}},
		{"sender defaults", "From: a@x.test\r\nReply-To: r@x.test\r\n\r\n", func(t *testing.T, info *Info) {
			e := info.Envelope
			if e.Sender[0].Mailbox != "a" || e.ReplyTo[0].Mailbox != "r" {
				t.Errorf("%+v", e)
			}
		}},
		{"base64 message/rfc822 is a leaf", "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nRnJvbTogeA0KDQp4\r\n",
			func(t *testing.T, info *Info) {
				if info.Body.Message != nil || info.Body.Envelope != nil || info.Body.Lines != 1 {
					t.Errorf("%+v", info.Body)
				}
			}},
		{"empty parts", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\n\r\n--b--", func(t *testing.T, info *Info) {
			ps := info.Body.Parts
			if len(ps) != 2 || ps[0].Size != 0 || ps[0].HeaderOffset != ps[0].BodyOffset || ps[1].Size != 0 || ps[1].HeaderOffset != ps[1].BodyOffset {
				t.Errorf("%+v", ps)
			}
		}},
		{"boundary prefix is not a delimiter", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n--bx\r\n--b--\r\n", func(t *testing.T, info *Info) {
			ps := info.Body.Parts
			if len(ps) != 1 || ps[0].Size != 4 || ps[0].BodyOffset != ps[0].HeaderOffset+2 {
				t.Errorf("%+v", ps)
			}
		}},
		{"message/global", "Content-Type: message/global\r\n\r\nSubject: inner\r\n\r\nbody", func(t *testing.T, info *Info) {
			if info.Body.Envelope == nil || info.Body.Envelope.Subject != "inner" || info.Body.Message.Size != 4 {
				t.Errorf("%+v", info.Body)
			}
		}},
		{"disposition", "Content-Disposition: Attachment; filename*=utf-8''%E6%96%87.txt\r\n\r\n", func(t *testing.T, info *Info) {
			if info.Body.Disposition != "attachment" || info.Body.DispParams[0].Value != "文.txt" {
				t.Errorf("%+v", info.Body)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.msg)
			info := Parse(data)
			checkOffsets(t, data, info)
			checkRoundTrip(t, info)
			tt.check(t, info)
		})
	}
}

// TestLimits builds messages past the nesting and part limits and checks
// Parse stays bounded and still returns a valid tree.
func TestLimits(t *testing.T) {
	t.Run("deep multipart", func(t *testing.T) {
		var b strings.Builder
		n := 200
		for i := 0; i < n; i++ {
			b.WriteString("Content-Type: multipart/mixed; boundary=b" + itoa(i) + "\r\n\r\n--b" + itoa(i) + "\r\n")
		}
		b.WriteString("\r\nleaf\r\n")
		data := []byte(b.String())
		info := Parse(data)
		checkOffsets(t, data, info)
		if d := depth(&info.Body); d > MaxDepth+2 {
			t.Errorf("depth %d", d)
		}
	})
	t.Run("deep rfc822", func(t *testing.T) {
		data := []byte(strings.Repeat("Content-Type: message/rfc822\r\n\r\n", 500) + "x")
		info := Parse(data)
		checkOffsets(t, data, info)
		checkRoundTrip(t, info)
		if d := depth(&info.Body); d > MaxDepth+2 {
			t.Errorf("depth %d", d)
		}
	})
	t.Run("many parts", func(t *testing.T) {
		data := []byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n" + strings.Repeat("--b\r\n\r\nx\r\n", 5000) + "--b--\r\n")
		info := Parse(data)
		checkOffsets(t, data, info)
		if n := len(info.Body.Parts); n > MaxParts || n < MaxParts-2 {
			t.Errorf("%d parts", n)
		}
	})
	t.Run("huge header", func(t *testing.T) {
		data := []byte("Subject: x\r\nX-Junk: " + strings.Repeat("a", 3<<20) + "\r\nFrom: late@x.test\r\n\r\nbody")
		info := Parse(data)
		checkOffsets(t, data, info)
		if info.Body.Size != 4 || info.Envelope.Subject != "x" {
			t.Errorf("size %d subject %q", info.Body.Size, info.Envelope.Subject)
		}
	})
}

func itoa(i int) string { return strconv.Itoa(i) }

func depth(p *Part) int {
	d := 0
	for i := range p.Parts {
		d = max(d, depth(&p.Parts[i]))
	}
	if p.Message != nil {
		d = max(d, depth(p.Message))
	}
	return d + 1
}

func TestUnmarshalInfoErrors(t *testing.T) {
	good := Parse(loadMessage(t, "testdata/nested-rfc822.eml")).Marshal()
	for i := 0; i < len(good); i++ {
		if _, err := UnmarshalInfo(good[:i]); !errors.Is(err, ErrBadInfo) {
			t.Fatalf("truncated at %d: err %v", i, err)
		}
	}
	if _, err := UnmarshalInfo(append(bytes.Clone(good), 0)); err == nil {
		t.Errorf("trailing byte accepted")
	}
	bad := bytes.Clone(good)
	bad[2] = 99
	if _, err := UnmarshalInfo(bad); err == nil {
		t.Errorf("unknown version accepted")
	}
	// Offsets outside the message are refused, so slicing cannot panic.
	info := Parse([]byte("Subject: x\r\n\r\nbody"))
	info.Body.Size = 100
	if _, err := UnmarshalInfo(info.Marshal()); err == nil {
		t.Errorf("part beyond the message accepted")
	}
	// A huge count must not allocate.
	huge := []byte{'Y', 'I', 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}
	if _, err := UnmarshalInfo(huge); err == nil {
		t.Errorf("huge count accepted")
	}
}

func TestBodyText(t *testing.T) {
	data := loadMessage(t, "testdata/gbk-chinese.eml")
	info := Parse(data)
	text, err := BodyText(bytes.NewReader(data), info, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"下周一上午九点在三楼会议室开会", "附件说明"} {
		if !strings.Contains(text, want) {
			t.Errorf("body text %q lacks %q", text, want)
		}
	}
	if strings.Contains(text, "\xd0\xcf") {
		t.Errorf("attachment bytes in text")
	}
	short, _ := BodyText(bytes.NewReader(data), info, 10)
	if len(short) > 10 || !strings.HasPrefix(text, short) {
		t.Errorf("limited text %q", short)
	}
}

func TestDecodeTransfer(t *testing.T) {
	tests := []struct{ name, enc, in, want string }{
		{"b64 lines", "base64", "SGVsbG8s\r\nIHdvcmxk", "Hello, world"},
		{"b64 outside alphabet", "base64", "SGVsbG8s!!IHdv*cmxk", "Hello, world"},
		{"b64 spaces and tabs", "base64", " SGVs\tbG8s IHdv cmxk \r\n", "Hello, world"},
		{"b64 padding ends data", "base64", "SGk=junk", "Hi"},
		{"b64 bare LF", "base64", "SGVs\nbG8=\n", "Hello"},
		{"b64 unpadded group", "base64", "SGVsbG8", "Hello"},
		{"b64 lone sextet", "base64", "SGVsbG8sQ", "Hello,"},
		{"b64 NUL", "BASE64", "AGEA", "\x00a\x00"},
		{"b64 empty", "base64", "", ""},
		{"qp escapes", "quoted-printable", "a=3Db=\r\nc=\nd", "a=bcd"},
		{"qp lower-case hex", "quoted-printable", "caf=c3=a9", "caf\xc3\xa9"},
		{"qp invalid hex kept", "quoted-printable", "bad=ZZ end=", "bad=ZZ end"},
		{"qp = then one hex at end", "quoted-printable", "x=4", "x=4"},
		{"qp = then hex and junk", "quoted-printable", "x=4G y", "x=4G y"},
		{"qp soft break with trailing space", "quoted-printable", "soft=  \r\nbreak", "softbreak"},
		{"qp soft break with tab, bare LF", "quoted-printable", "soft=\t\nbreak", "softbreak"},
		// RFC 2045 §6.7 rule 3: trailing white space is deleted.
		{"qp trailing space CRLF", "quoted-printable", "line  \r\nnext\t \r\n", "line\r\nnext\r\n"},
		{"qp trailing space bare LF", "quoted-printable", "line \nnext", "line\nnext"},
		{"qp trailing space at end", "quoted-printable", "end \t", "end"},
		{"qp encoded trailing space kept", "quoted-printable", "a=20\r\nb=09  \r\n", "a \r\nb\t\r\n"},
		{"qp inner spaces kept", "quoted-printable", "a  b\r\n", "a  b\r\n"},
		{"qp blank lines", "quoted-printable", "\r\n\r\n", "\r\n\r\n"},
		{"qp bare CR kept", "quoted-printable", "a\rb\r\n", "a\rb\r\n"},
		{"qp NUL", "Quoted-Printable", "a=00b", "a\x00b"},
		{"qp only =", "quoted-printable", "=", ""},
		{"7bit", "7bit", "same  \r\n", "same  \r\n"},
		{"binary", "binary", "a\x00\nb", "a\x00\nb"},
		{"unknown", "x-uuencode", "begin 644", "begin 644"},
	}
	for _, tt := range tests {
		if got := string(DecodeTransfer(tt.enc, []byte(tt.in))); got != tt.want {
			t.Errorf("%s: DecodeTransfer(%s, %q) = %q, want %q", tt.name, tt.enc, tt.in, got, tt.want)
		}
	}
}

func TestKnownTransfer(t *testing.T) {
	for enc, want := range map[string]bool{
		"": true, "7bit": true, "8BIT": true, "Binary": true, "base64": true, " quoted-printable ": true,
		"x-uuencode": false, "8bits": false, "uuencode": false,
	} {
		if got := KnownTransfer(enc); got != want {
			t.Errorf("KnownTransfer(%q) = %v", enc, got)
		}
	}
}

// TestDecodeHeaderLinear feeds inputs that made a naive scanner
// quadratic; with the size cap they must still finish (the benchmark
// below measures the time).
func TestDecodeHeaderLinear(t *testing.T) {
	for _, s := range adversarialHeaders() {
		if out := DecodeHeader(s); len(out) == 0 {
			t.Errorf("empty output")
		}
	}
}

func adversarialHeaders() []string {
	return []string{
		strings.Repeat("=?a?q?", 50000),
		"=?utf-8?q?" + strings.Repeat("=?", 100000) + "?=",
		strings.Repeat("=?"+strings.Repeat("x", 60)+"?q?a =?b?q?", 3000) + "?=",
		strings.Repeat("(", 100000) + strings.Repeat("\"", 100000),
	}
}

func BenchmarkDecodeHeaderAdversarial(b *testing.B) {
	in := adversarialHeaders()
	for b.Loop() {
		for _, s := range in {
			DecodeHeader(s)
			ParseAddressList(s)
		}
	}
}

func TestInfoPart(t *testing.T) {
	info := Parse(loadMessage(t, "testdata/nested-rfc822.eml"))
	tests := []struct {
		section []int
		want    *Part
	}{
		{nil, &info.Body},
		{[]int{1}, &info.Body.Parts[0]},
		{[]int{2}, &info.Body.Parts[1]},
		{[]int{2, 1}, &info.Body.Parts[1].Message.Parts[0]},
		{[]int{2, 2}, &info.Body.Parts[1].Message.Parts[1]},
		{[]int{2, 3}, nil},
		{[]int{1, 1}, nil},
		{[]int{3}, nil},
		{[]int{0}, nil},
	}
	for _, tt := range tests {
		if got := info.Part(tt.section); got != tt.want {
			t.Errorf("Part(%v) = %p, want %p", tt.section, got, tt.want)
		}
	}
	plain := Parse([]byte("Subject: x\r\n\r\nbody"))
	if plain.Part([]int{1}) != &plain.Body || plain.Part([]int{2}) != nil {
		t.Errorf("part 1 of a non-multipart message is its body")
	}
	inner := Parse([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\ntext\r\n--b--"))
	if p := inner.Part([]int{1, 1}); p == nil || p != inner.Body.Parts[0].Message {
		t.Errorf("1.1 of a non-multipart encapsulated message is its body: %+v", p)
	}
}

func TestBodyTextHugeLimit(t *testing.T) {
	data := loadMessage(t, "testdata/plain-ascii.eml")
	text, err := BodyText(bytes.NewReader(data), Parse(data), math.MaxInt64)
	if err != nil || !strings.Contains(text, "lunch on Friday") {
		t.Errorf("BodyText with no practical limit = %q, %v", text, err)
	}
}
