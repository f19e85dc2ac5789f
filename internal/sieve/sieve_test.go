package sieve

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

const sampleMsg = "Return-Path: <coyote@desert.example.org>\r\n" +
	"Date: Tue, 1 Apr 1997 09:06:31 -0800 (PST)\r\n" +
	"From: coyote@desert.example.org\r\n" +
	"To: roadrunner@acme.example.com\r\n" +
	"Cc: Boss <boss@acme.example.com>\r\n" +
	"Subject: =?GB18030?B?x+u/qreixrE=?= I have a present for you\r\n" +
	"X-Caffeine: C8H10N4O2\r\n" +
	"List-Id: <acme-users.acme.example.com>\r\n" +
	"Message-ID: <1234@desert.example.org>\r\n" +
	"\r\n" +
	"Look, I'm sorry about the whole anvil thing, and I really\r\n" +
	"didn't mean to try and drop it on you.\r\n"

func runScript(t *testing.T, src, msg string) *Result {
	t.Helper()
	s, err := Compile(src)
	if err != nil {
		t.Fatalf("compile %q: %v", src, err)
	}
	m, err := NewMessage([]byte(msg), "coyote@desert.example.org", "roadrunner@acme.example.com")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Run(m, Options{})
	if err != nil {
		t.Fatalf("run %q: %v", src, err)
	}
	return r
}

// summary renders a result compactly for table tests.
func summary(r *Result) string {
	var parts []string
	if r.Keep {
		parts = append(parts, "keep"+flagStr(r.KeepFlags))
	}
	for _, f := range r.FileInto {
		s := "fileinto:" + f.Mailbox
		if f.Create {
			s += "+create"
		}
		parts = append(parts, s+flagStr(f.Flags))
	}
	for _, a := range r.Redirects {
		parts = append(parts, "redirect:"+a)
	}
	if r.Rejected {
		k := "reject"
		if r.Ereject {
			k = "ereject"
		}
		parts = append(parts, k+":"+r.Reject)
	}
	if r.Vacation != nil {
		parts = append(parts, "vacation:"+r.Vacation.Reason)
	}
	if len(parts) == 0 {
		return "discard"
	}
	return strings.Join(parts, " ")
}

func flagStr(f []string) string {
	if len(f) == 0 {
		return ""
	}
	return "[" + strings.Join(f, " ") + "]"
}

func TestRun(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"implicit keep", ``, "keep"},
		{"discard", `discard;`, "discard"},
		{"RFC 5228 §4.1 fileinto", `require "fileinto"; if header :contains ["from"] "coyote" { fileinto "INBOX.harassment"; }`, "fileinto:INBOX.harassment"},
		{"RFC 5228 §2.7.1 matches ?", `require "fileinto"; if header :matches "X-Caffeine" "C?H10N4O2" { fileinto "coffee"; }`, "fileinto:coffee"},
		{"RFC 5228 §2.7.1 matches escape", `if header :matches "X-Caffeine" "C\\*" { discard; }`, "keep"},
		{"RFC 5228 §5.1 address :domain", `if address :is :domain "from" "desert.example.org" { discard; }`, "discard"},
		{"address :localpart all", `if address :is :localpart ["to", "cc"] "boss" { discard; }`, "discard"},
		{"RFC 5228 §5.4 envelope", `require "envelope"; if envelope :all :is "from" "coyote@desert.example.org" { discard; }`, "discard"},
		{"exists", `if exists ["From","Date"] { discard; }`, "discard"},
		{"not exists", `if not exists "X-Nope" { discard; }`, "discard"},
		{"size over", `if size :over 100K { discard; }`, "keep"},
		{"size under", `if size :under 1M { discard; }`, "discard"},
		{"anyof/allof", `if anyof (false, allof (true, header :contains "subject" "present")) { discard; }`, "discard"},
		{"RFC 2047 GB18030 subject", `require "fileinto"; if header :contains "subject" "请开发票" { fileinto "发票"; }`, "fileinto:发票"},
		{"i;octet case", `if header :is :comparator "i;octet" "X-Caffeine" "c8h10n4o2" { discard; }`, "keep"},
		{"casemap", `if header :is "X-Caffeine" "c8h10n4o2" { discard; }`, "discard"},
		{"elsif else", `require "fileinto"; if false { discard; } elsif false { discard; } else { fileinto "x"; }`, "fileinto:x"},
		{"stop", `stop; discard;`, "keep"},
		{"redirect", `redirect "a@example.net";`, "redirect:a@example.net"},
		{"RFC 3894 copy", `require ["copy","fileinto"]; redirect :copy "a@example.net"; fileinto :copy "x";`, "keep fileinto:x redirect:a@example.net"},
		{"RFC 5490 create", `require ["fileinto","mailbox"]; fileinto :create "New";`, "fileinto:New+create"},
		{"dup fileinto", `require "fileinto"; fileinto "a"; fileinto "a";`, "fileinto:a"},
		{"RFC 5429 reject", `require "reject"; reject "go away";`, "reject:go away"},
		{"ereject", `require "ereject"; ereject "no";`, "ereject:no"},
		{"RFC 5232 flags", `require "imap4flags"; setflag "\\Seen"; addflag ["\\Flagged", "$Work"]; removeflag "\\Seen";`, `keep[\Flagged $Work]`},
		{"RFC 5232 keep :flags", `require "imap4flags"; keep :flags "\\Seen";`, `keep[\Seen]`},
		{"RFC 5232 hasflag", `require "imap4flags"; addflag "\\Draft"; if hasflag :is "\\draft" { discard; }`, "discard"},
		{"RFC 5232 fileinto flags var", `require ["imap4flags","fileinto"]; setflag "\\Seen"; fileinto "a";`, `fileinto:a[\Seen]`},
		{"RFC 5229 matches vars", `require ["variables","fileinto"]; if header :matches "List-Id" "*<*.*>*" { fileinto "lists.${2}"; }`, "fileinto:lists.acme-users"},
		{"RFC 5229 shortest leftmost", `require ["variables","fileinto"]; if string :matches "[acme-users] [fwd] version 1.0 is out" "[*] *" { fileinto "${1}|${2}"; }`, "fileinto:acme-users|[fwd] version 1.0 is out"},
		{"RFC 5229 set modifiers", `require ["variables","fileinto"]; set :upperfirst "b" "hello"; set :length "n" "${b}x"; fileinto "${b}-${n}";`, "fileinto:Hello-6"},
		{"RFC 5229 unknown var", `require ["variables","fileinto"]; fileinto "a${nope}b${}c";`, "fileinto:ab${}c"},
		{"RFC 5173 body text", `require "body"; if body :contains "anvil" { discard; }`, "discard"},
		{"RFC 5173 body raw", `require "body"; if body :raw :contains "drop it" { discard; }`, "discard"},
		{"RFC 5173 body content", `require "body"; if body :content "image" :contains "anvil" { discard; }`, "keep"},
		{"RFC 5231 count", `require "relational"; if address :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] "2" { discard; }`, "discard"},
		{"RFC 5231 value", `require "relational"; if header :value "lt" :comparator "i;ascii-numeric" "X-Num" "5" { discard; }`, "keep"},
		{"RFC 5230 vacation", `require "vacation"; vacation :days 3 :subject "away" "I am away";`, "keep vacation:I am away"},
		{"multiline", "require \"vacation\";\nvacation text:\nline one\n..dot\n.\n;", "keep vacation:line one\n.dot\n"},
		{"comments", "/* c */ # x\r\ndiscard; # y", "discard"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := summary(runScript(t, tc.src, sampleMsg)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{`fileinto "x";`, `line 1, column 1: fileinto needs require "fileinto"`},
		{"require \"nope\";", `line 1, column 9: unsupported extension "nope"`},
		{"if true {\n  discard\n}", "line 3, column 1: expected ';' or '{' after command discard"},
		{"keep", "line 1, column 5: expected ';' or '{' after command keep, found end of script"},
		{`if header :is "a" { keep; }`, "header takes 2 positional argument(s), found 1"},
		{`if header :bogus "a" "b" { keep; }`, "unknown tag :bogus for header"},
		{`if header :is :contains "a" "b" { keep; }`, "tags :is and :contains exclude each other"},
		{`"x";`, "line 1, column 1: expected a command, found string"},
		{`keep; require "fileinto";`, "require must come before any other command"},
		{`if true { keep; } else keep;`, "else takes no arguments and needs a block"},
		{`elsif true { keep; }`, "elsif without a preceding if"},
		{`redirect "not an address";`, "is not a valid address"},
		{`if header :comparator "i;foo" "a" "b" { keep; }`, `unknown comparator "i;foo"`},
		{`if size 100 { keep; }`, "size needs :over or :under"},
		{"/* unterminated", "line 1, column 1: unterminated comment"},
		{`if header "a" "unterminated { keep; }`, "unterminated string"},
		{`frobnicate;`, `unknown command "frobnicate"`},
		{`if frob { keep; }`, `unknown test "frob"`},
		{`if true { if true { stop; }`, "expected '}'"},
		{`if header :is ["a" "b"] "c" {}`, "expected ',' or ']' in string list"},
		{`discard 99999999999999999999;`, "number too large"},
		{`require "relational"; if header :count "xx" "a" "1" {}`, `unknown relation "xx"`},
	}
	for _, tc := range tests {
		_, err := Compile(tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Compile(%q) = %v, want %q", tc.src, err, tc.want)
		}
		if _, ok := err.(*CompileError); err != nil && !ok {
			t.Errorf("Compile(%q): error %T is not a *CompileError", tc.src, err)
		}
	}
}

func TestLimits(t *testing.T) {
	s, err := Compile(`if header :matches "Subject" "*a*a*a*a*a*a*a*a*a*a*a*b" { keep; }`)
	if err != nil {
		t.Fatal(err)
	}
	long := "Subject: " + strings.Repeat("a", 5000) + "\r\n\r\n"
	m, _ := NewMessage([]byte(long), "x@y", "z@w")
	if _, err := s.Run(m, Options{MaxSteps: 10000}); err == nil {
		t.Error("pathological :matches within 10000 steps: no error")
	}
	s, _ = Compile(`redirect "a@x.org"; redirect "b@x.org"; redirect "c@x.org";`)
	if _, err := s.Run(m, Options{MaxRedirects: 2}); err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Errorf("3 redirects with limit 2: %v", err)
	}
	if _, err := Compile(strings.Repeat(" ", MaxScriptSize+1)); err == nil {
		t.Error("oversized script compiled")
	}
	if _, err := Compile(strings.Repeat("if true {", 100) + strings.Repeat("}", 100)); err == nil {
		t.Error("deep nesting compiled")
	}
	s, _ = Compile(`require "reject"; reject "x"; keep;`)
	if _, err := s.Run(m, Options{}); err == nil {
		t.Error("reject with keep ran")
	}
}

func TestVacationRules(t *testing.T) {
	v := &Vacation{Reason: "away"}
	own := []string{"roadrunner@acme.example.com"}
	base := "From: coyote@desert.example.org\r\nTo: roadrunner@acme.example.com\r\nSubject: hi\r\nMessage-ID: <m1@d>\r\n"
	cases := []struct {
		from, extra, want string
	}{
		{"coyote@desert.example.org", "", ""},
		{"", "", "null sender"},
		{"owner-list@x.org", "", "sender is a list or a daemon"},
		{"MAILER-DAEMON@x.org", "", "sender is a list or a daemon"},
		{"roadrunner@acme.example.com", "", "sender is ourselves"},
		{"coyote@desert.example.org", "Auto-Submitted: auto-replied\r\n", "Auto-Submitted"},
		{"coyote@desert.example.org", "Auto-Submitted: no\r\n", ""},
		{"coyote@desert.example.org", "List-Unsubscribe: <mailto:x@y>\r\n", "List-Unsubscribe"},
		{"coyote@desert.example.org", "Precedence: bulk\r\n", "Precedence: bulk"},
		{"coyote@desert.example.org", "Precedence: junk\r\n", "Precedence: junk"},
	}
	for _, c := range cases {
		m, _ := NewMessage([]byte(base+c.extra+"\r\nbody\r\n"), c.from, own[0])
		if got := VacationSkip(m, v, own); got != c.want {
			t.Errorf("from %q extra %q: %q, want %q", c.from, c.extra, got, c.want)
		}
	}
	m, _ := NewMessage([]byte("From: a@b.c\r\nTo: other@x.org\r\n\r\n"), "a@b.c", own[0])
	if got := VacationSkip(m, v, own); got != "not addressed to the user" {
		t.Errorf("Bcc'd: %q", got)
	}
	m, _ = NewMessage([]byte(base+"\r\nbody\r\n"), "coyote@desert.example.org", own[0])
	reply := string(VacationReply(m, &Vacation{Reason: "我在休假"}, own[0], "mx.example", timeZero))
	for _, want := range []string{"Auto-Submitted: auto-replied", "In-Reply-To: <m1@d>", "References: <m1@d>", "Subject: Auto: hi", "To: <coyote@desert.example.org>"} {
		if !strings.Contains(reply, want) {
			t.Errorf("reply lacks %q:\n%s", want, reply)
		}
	}
	reply = string(VacationReply(m, &Vacation{Reason: "x", From: "张三 <zs@acme.example.com>"}, own[0], "mx.example", timeZero))
	if !strings.Contains(reply, "From: =?utf-8?q?=E5=BC=A0=E4=B8=89?= <zs@acme.example.com>\r\n") {
		t.Errorf("From with a Chinese name:\n%s", reply)
	}
	if VacationKey(m, &Vacation{Handle: "a"}) == VacationKey(m, &Vacation{Handle: "b"}) {
		t.Error("handles a and b share a key")
	}
}

func TestDate(t *testing.T) {
	tests := []struct {
		src  string
		now  time.Time
		want string
	}{
		// RFC 5260 §4 example (hour in the original zone).
		{`require ["date", "relational", "fileinto"];
if allof(header :contains "from" "coyote",
         date :value "ge" :originalzone "date" "hour" "09",
         date :value "lt" :originalzone "date" "hour" "17")
{ fileinto "urgent"; }`, time.Time{}, "fileinto:urgent"},
		{`require ["date", "fileinto"]; if date :is :zone "+0000" "date" "time" "17:06:31" { fileinto "utc"; }`, time.Time{}, "fileinto:utc"},
		{`require ["date", "fileinto"]; if date :is :originalzone "date" "weekday" "2" { fileinto "tuesday"; }`, time.Time{}, "fileinto:tuesday"},
		{`require ["date", "fileinto"]; if date :is :originalzone "date" "julian" "50539" { fileinto "mjd"; }`, time.Time{}, "fileinto:mjd"},
		// RFC 5260 §5 example: a vacation for the first week of July.
		{`require ["date", "relational", "vacation"];
if allof(currentdate :value "ge" :zone "+0800" "date" "2007-06-30",
         currentdate :value "le" :zone "+0800" "date" "2007-07-07")
{ vacation :days 7 "I'm away during the first week in July."; }`, time.Date(2007, 7, 2, 12, 0, 0, 0, time.UTC), "keep vacation:I'm away during the first week in July."},
		{`require ["date", "relational", "vacation"];
if currentdate :value "ge" :zone "+0800" "date" "2007-06-30" { vacation "x"; }`, time.Date(2007, 6, 29, 15, 59, 0, 0, time.UTC), "keep"},
		{`require ["date", "relational", "vacation"];
if currentdate :value "ge" :zone "+0800" "date" "2007-06-30" { vacation "x"; }`, time.Date(2007, 6, 29, 16, 0, 0, 0, time.UTC), "keep vacation:x"},
	}
	for _, tc := range tests {
		s, err := Compile(tc.src)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		m, _ := NewMessage([]byte(sampleMsg), "coyote@desert.example.org", "roadrunner@acme.example.com")
		m.Now = tc.now
		r, err := s.Run(m, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := summary(r); got != tc.want {
			t.Errorf("%s:\ngot %q, want %q", tc.src, got, tc.want)
		}
	}
	for _, bad := range []string{
		`require "date"; if date :zone "0800" "date" "year" "2000" {}`,
		`require "date"; if date "date" "fortnight" "1" {}`,
		`if currentdate "year" "2000" {}`,
	} {
		if _, err := Compile(bad); err == nil {
			t.Errorf("%s compiled", bad)
		}
	}
}

func TestFileStore(t *testing.T) {
	ctx := context.Background()
	fs := &FileStore{Dir: t.TempDir()}
	if s, _, err := fs.Active(ctx, 7); s != nil || err != nil {
		t.Fatalf("no scripts: %v %v", s, err)
	}
	if err := fs.Put(ctx, 7, "a/../b", "keep;"); err != nil {
		t.Fatal(err)
	}
	if err := fs.Put(ctx, 7, "bad\nname", "keep;"); err != ErrBadName {
		t.Errorf("bad name: %v", err)
	}
	if err := fs.SetActive(ctx, 7, "a/../b"); err != nil {
		t.Fatal(err)
	}
	s, name, err := fs.Active(ctx, 7)
	if err != nil || s == nil || name != "a/../b" {
		t.Fatalf("active %q %v", name, err)
	}
	// A file changed behind the store's back is seen.
	time.Sleep(10 * time.Millisecond)
	p := fs.path(7, "a/../b")
	if err := os.WriteFile(p, []byte("discard; # changed by hand"), 0o600); err != nil {
		t.Fatal(err)
	}
	s2, _, _ := fs.Active(ctx, 7)
	if s2 == s {
		t.Error("cached script returned after the file changed")
	}
	if err := fs.Delete(ctx, 7, "a/../b"); err != ErrActive {
		t.Errorf("delete active: %v", err)
	}
	if err := fs.Rename(ctx, 7, "a/../b", "c"); err != nil {
		t.Fatal(err)
	}
	if list, _ := fs.List(ctx, 7); len(list) != 1 || list[0].Name != "c" || !list[0].Active {
		t.Errorf("list %+v", list)
	}
	for i := 0; i < MaxScripts-1; i++ {
		fs.Put(ctx, 7, fmt.Sprint("s", i), "keep;")
	}
	if err := fs.Put(ctx, 7, "one-too-many", "keep;"); err != ErrTooMany {
		t.Errorf("script %d: %v", MaxScripts+1, err)
	}
	ok1, _ := fs.Respond(ctx, 7, "k", time.Hour)
	ok2, _ := fs.Respond(ctx, 7, "k", time.Hour)
	fs2 := &FileStore{Dir: fs.Dir} // as after a restart
	ok3, _ := fs2.Respond(ctx, 7, "k", time.Hour)
	if !ok1 || ok2 || ok3 {
		t.Errorf("vacation tracking: %v %v %v, want true false false", ok1, ok2, ok3)
	}
	r1, _ := fs2.Recorded(ctx, 7, "k")
	r2, _ := fs2.Recorded(ctx, 7, "other")
	r3, _ := (&FileStore{Dir: t.TempDir()}).Recorded(ctx, 7, "k")
	if !r1 || r2 || r3 {
		t.Errorf("recorded: %v %v %v, want true false false", r1, r2, r3)
	}
}

// TestFileStoreRecheck: with Recheck, the files are looked at once per
// period; a change through the store is seen at once, one behind its
// back once the period is over.
func TestFileStoreRecheck(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	fs := &FileStore{Dir: t.TempDir(), Recheck: time.Second, now: func() time.Time { return now }}
	if s, _, err := fs.Active(ctx, 7); s != nil || err != nil {
		t.Fatalf("no scripts: %v %v", s, err)
	}
	// Written through the store: seen at once, though Recheck is not over.
	if err := fs.Put(ctx, 7, "a", "keep;"); err != nil {
		t.Fatal(err)
	}
	if err := fs.SetActive(ctx, 7, "a"); err != nil {
		t.Fatal(err)
	}
	s, name, err := fs.Active(ctx, 7)
	if err != nil || s == nil || name != "a" {
		t.Fatalf("active after SetActive: %q %v %v", name, s, err)
	}
	// Written behind its back (youju user sieve in another process).
	other := &FileStore{Dir: fs.Dir}
	if err := other.Put(ctx, 7, "a", "discard; # from elsewhere, longer"); err != nil {
		t.Fatal(err)
	}
	if s2, _, _ := fs.Active(ctx, 7); s2 != s {
		t.Error("files looked at again within Recheck")
	}
	now = now.Add(time.Second)
	s3, _, err := fs.Active(ctx, 7)
	if err != nil || s3 == s {
		t.Errorf("change behind its back not seen after Recheck: %v", err)
	}
	// Deactivated elsewhere: seen after the next period too.
	if err := other.SetActive(ctx, 7, ""); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Second)
	if s4, _, err := fs.Active(ctx, 7); s4 != nil || err != nil {
		t.Errorf("deactivated elsewhere: %v %v", s4, err)
	}
}
