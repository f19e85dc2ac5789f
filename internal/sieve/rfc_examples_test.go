package sieve

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// Every example script and script fragment of RFC 5228, 5229, 5230, 5232
// and 5173, run against messages made for it. A fragment is completed with
// the require it needs (said so in its comment) and, where the RFC shows a
// test alone, with "if ... { discard; }" so that its truth is seen.
// Examples the RFC prints with a typo are run as printed (they must not
// compile) and then as corrected.
//
// Covered elsewhere and not repeated here (rfc_test.go TestRFCExamples):
// RFC 5228 §9 (five messages), the RFC 5229 §3.2 script as corrected, the
// §4 set and §4.1 modifier examples, RFC 5230 §4.8's first example, RFC
// 5232 §3.1's boss example. sieve_test.go TestRun runs RFC 5228 §4.1.

// msgA and msgB are RFC 5228 §1.2's Message A and Message B.
var msgA = crlf(`Date: Tue, 1 Apr 1997 09:06:31 -0800 (PST)
From: coyote@desert.example.org
To: roadrunner@acme.example.com
Subject: I have a present for you

Look, I'm sorry about the whole anvil thing, and I really
didn't mean to try and drop it on you from the top of the
cliff.  I want to try to make it up to you.  I've got some
great birdseed over here at my place--top of the line
stuff--and if you come by, I'll have it all wrapped up
for you.  I'm really sorry for all the problems I've caused
for you over the years, but I know we can work this out.
--
Wile E. Coyote   "Super Genius"   coyote@desert.example.org
`)

var msgB = crlf(`From: youcouldberich!@reply-by-postal-mail.invalid
Sender: b1ff@de.res.example.com
To: rube@landru.example.com
Date:  Mon, 31 Mar 1997 18:26:10 -0800
Subject: $$$ YOU, TOO, CAN BE A MILLIONAIRE! $$$

YOU MAY HAVE ALREADY WON TEN MILLION DOLLARS, BUT I DOUBT
IT!  SO JUST POST THIS TO SIX HUNDRED NEWSGROUPS!  IT WILL
GUARANTEE THAT YOU GET AT LEAST FIVE RESPONSES WITH MONEY!
MONEY! MONEY! COLD HARD CASH!  YOU WILL RECEIVE OVER
$20,000 IN LESS THAN TWO MONTHS!  AND IT'S LEGAL!!!!!!!!!
!!!!!!!!!!!!!!!!!!111111111!!!!!!!11111111111!!1  JUST
SEND $5 IN SMALL, UNMARKED BILLS TO THE ADDRESSES BELOW!
`)

// crlf turns a message written with LF line ends into CRLF form.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// sized is hdr (LF line ends, without the blank line) with a body that
// makes the message exactly total octets in CRLF form.
func sized(hdr string, total int) string {
	head := crlf(hdr) + "\r\n"
	line := strings.Repeat("x", 76) + "\r\n"
	body := strings.Repeat(line, (total-len(head))/len(line)+1)
	return head + body[:total-len(head)]
}

// mkMsg is a message with the given header fields and body.
func mkMsg(hdr, body string) string { return crlf(hdr + "\n" + body) }

type rfcCase struct {
	ref  string // RFC and section
	name string
	src  string
	msg  string
	from string // envelope sender; "" is coyote@desert.example.org
	// want is the result (exSummary), or "COMPILE: " and a part of the
	// compile error, or "RUNTIME: " and a part of the runtime error.
	want string
}

// runCase compiles and runs one case and renders what came of it.
func runCase(t *testing.T, c rfcCase) string {
	t.Helper()
	s, err := Compile(c.src)
	if err != nil {
		return "COMPILE: " + err.Error()
	}
	from := c.from
	if from == "" {
		from = "coyote@desert.example.org"
	}
	m, err := NewMessage([]byte(c.msg), from, "roadrunner@acme.example.com")
	if err != nil {
		t.Fatalf("message: %v", err)
	}
	r, err := s.Run(m, Options{})
	if err != nil {
		return "RUNTIME: " + err.Error()
	}
	return exSummary(r)
}

// exSummary is summary with flags sorted (flags are a set, RFC 5232 §3:
// "Scripts MUST NOT make assumptions about the ordering of flags") and the
// vacation's parameters.
func exSummary(r *Result) string {
	c := *r
	c.KeepFlags = slices.Sorted(slices.Values(r.KeepFlags))
	c.FileInto = slices.Clone(r.FileInto)
	for i := range c.FileInto {
		c.FileInto[i].Flags = slices.Sorted(slices.Values(c.FileInto[i].Flags))
	}
	s := summary(&c)
	if v := r.Vacation; v != nil {
		if v.Subject != "" {
			s += " subject:" + v.Subject
		}
		if v.Days != 0 {
			s += fmt.Sprintf(" days:%d", v.Days)
		}
		if v.Handle != "" {
			s += " handle:" + v.Handle
		}
		if v.Mime {
			s += " :mime"
		}
	}
	return s
}

func checkCases(t *testing.T, cases []rfcCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.ref+" "+c.name, func(t *testing.T) {
			got := runCase(t, c)
			ok := got == c.want
			for _, p := range []string{"COMPILE: ", "RUNTIME: "} {
				if strings.HasPrefix(c.want, p) {
					ok = strings.HasPrefix(got, p) && strings.Contains(got, strings.TrimPrefix(c.want, p))
				}
			}
			if !ok {
				t.Errorf("script:\n%s\ngot  %q\nwant %q", c.src, got, c.want)
			}
		})
	}
}

// TestRFC5228Examples: RFC 5228, section by section.
func TestRFC5228Examples(t *testing.T) {
	big := sized("From: coyote@desert.example.org\nTo: roadrunner@acme.example.com\n", 1<<20+100)
	other := mkMsg("From: tweety@cage.example.org\nTo: roadrunner@acme.example.com\nSubject: hi\n", "tweet\n")
	word := func(v string) string { return mkMsg("X-Word:"+v+"\n", "\n") }
	const hashComment = `if size :over 100k { # this is a comment
    discard;
}`
	const bracketComment = `if size :over 100K { /* this is a comment
    this is still a comment */ discard /* this is a comment
    */ ;
}`
	// §2.4.2.1 prints only the test; completed with if and discard.
	const stringLists = `if header :contains ["To", "Cc"]
    ["me@example.com", "me00@landru.example.com"] { discard; }`
	const encoded = `require "encoded-character";
if header :contains "Subject" "$${hex:24 24}" {
   discard;
}`
	const testList = `if anyof (not exists ["From", "Date"],
        header :contains "from" "fool@example.com") {
   discard;
}`
	// §2.7.3: "would discard any message with subjects like "You can MAKE
	// MONEY FAST", but not "You can Make Money Fast"".
	const octet = `if header :contains :comparator "i;octet" "Subject"
        "MAKE MONEY FAST" {
   discard;
}`
	const ifElsif = `require "fileinto";
if header :contains "from" "coyote" {
   discard;
} elsif header :contains ["subject"] ["$$$"] {
   discard;
} else {
   fileinto "INBOX";
}`
	const redirects = `if header :contains ["From"] ["coyote"] {
   redirect "acm@example.com";
} elsif header :contains "Subject" "$$$" {
   redirect "postmaster@example.com";
} else {
   redirect "field@example.com";
}`
	const keep1M = `if size :under 1M { keep; } else { discard; }`
	const notUnder1M = `if not size :under 1M { discard; }`
	const idiot = `if header :contains ["from"] ["idiot@example.com"] {
   discard;
}`
	const notExists = `if not exists ["From","Date"] {
   discard;
}`
	caffeine := mkMsg("X-Caffeine: C8H10N4O2\n", "\n")
	cases := []rfcCase{
		{"RFC 5228 §2.3", "hash comment, message A", hashComment, msgA, "", "keep"},
		{"RFC 5228 §2.3", "hash comment, 1M message", hashComment, big, "", "discard"},
		{"RFC 5228 §2.3", "bracket comment, message A", bracketComment, msgA, "", "keep"},
		{"RFC 5228 §2.3", "bracket comment, 1M message", bracketComment, big, "", "discard"},
		{"RFC 5228 §2.4.2.1", "string lists, Cc me00", stringLists, mkMsg("To: a@example.org\nCc: Me <me00@landru.example.com>\n", "\n"), "", "discard"},
		{"RFC 5228 §2.4.2.1", "string lists, message A", stringLists, msgA, "", "keep"},
		{"RFC 5228 §2.4.2.1", `exists "To"`, `if exists "To" { discard; }`, msgA, "", "discard"},
		{"RFC 5228 §2.4.2.1", `exists ["To"]`, `if exists ["To"] { discard; }`, msgA, "", "discard"},
		{"RFC 5228 §2.4.2.1", `exists "To", no To`, `if exists "To" { discard; }`, msgB[strings.Index(msgB, "Date:"):], "", "keep"},
		// §2.4.2.2: "No header will match the string "From:" ... An
		// implementation MUST NOT cause an error for syntactically invalid
		// header names in tests."
		{"RFC 5228 §2.4.2.2", `header "From:"`, `if header :contains "From:" "" { discard; }`, msgA, "", "keep"},
		{"RFC 5228 §2.4.2.2", `address "From:"`, `if address :contains "From:" "" { discard; }`, msgA, "", "keep"},
		{"RFC 5228 §2.4.2.4", "encoded-character, message B", encoded, msgB, "", "discard"},
		{"RFC 5228 §2.4.2.4", "encoded-character, message A", encoded, msgA, "", "keep"},
		{"RFC 5228 §2.5.1", "test list, message A", testList, msgA, "", "keep"},
		{"RFC 5228 §2.5.1", "test list, fool", testList, mkMsg("From: Fool <fool@example.com>\nDate: Tue, 1 Apr 1997 09:06:31 -0800\n", "\n"), "", "discard"},
		{"RFC 5228 §2.5.1", "test list, no Date", testList, mkMsg("From: wise@example.com\n", "\n"), "", "discard"},
		// §2.7.1 in prose: "frobnitzm" contains "frob" and "nit", but not
		// "fbm"; the empty key is contained in all values; only "frobnitzm"
		// :is "frobnitzm"; the empty key :is only the empty value.
		{"RFC 5228 §2.7.1", "contains frob", `if header :contains "X-Word" "frob" { discard; }`, word(" frobnitzm"), "", "discard"},
		{"RFC 5228 §2.7.1", "contains nit", `if header :contains "X-Word" "nit" { discard; }`, word(" frobnitzm"), "", "discard"},
		{"RFC 5228 §2.7.1", "not contains fbm", `if header :contains "X-Word" "fbm" { discard; }`, word(" frobnitzm"), "", "keep"},
		{"RFC 5228 §2.7.1", "contains empty", `if header :contains "X-Word" "" { discard; }`, word(" frobnitzm"), "", "discard"},
		{"RFC 5228 §2.7.1", "is frobnitzm", `if header :is "X-Word" "frobnitzm" { discard; }`, word(" frobnitzm"), "", "discard"},
		{"RFC 5228 §2.7.1", "is not frob", `if header :is "X-Word" "frob" { discard; }`, word(" frobnitzm"), "", "keep"},
		{"RFC 5228 §2.7.1", "empty is not frobnitzm", `if header :is "X-Word" "" { discard; }`, word(" frobnitzm"), "", "keep"},
		{"RFC 5228 §2.7.1", "empty is empty", `if header :is "X-Word" "" { discard; }`, word(""), "", "discard"},
		// "\\?" and "\\*" in a string match a literal "?" and "*".
		{"RFC 5228 §2.7.1", `escaped "\\?" matches "?"`, `if header :matches "X-Word" "why\\?" { discard; }`, word(" why?"), "", "discard"},
		{"RFC 5228 §2.7.1", `escaped "\\?" is not a wildcard`, `if header :matches "X-Word" "why\\?" { discard; }`, word(" why!"), "", "keep"},
		{"RFC 5228 §2.7.1", `escaped "\\*" is not a wildcard`, `if header :matches "X-Word" "a\\*" { discard; }`, word(" abc"), "", "keep"},
		{"RFC 5228 §2.7.3", "i;octet, MAKE MONEY FAST", octet, mkMsg("Subject: You can MAKE MONEY FAST\n", "\n"), "", "discard"},
		{"RFC 5228 §2.7.3", "i;octet, Make Money Fast", octet, mkMsg("Subject: You can Make Money Fast\n", "\n"), "", "keep"},
		{"RFC 5228 §2.10.2", "implicit keep, message A", `if size :over 500K { discard; }`, msgA, "", "keep"},
		{"RFC 5228 §2.10.2", "implicit keep, message B", `if size :over 500K { discard; }`, msgB, "", "keep"},
		{"RFC 5228 §3.1", "if/elsif/else, message A", ifElsif, msgA, "", "discard"},
		{"RFC 5228 §3.1", "if/elsif/else, message B", ifElsif, msgB, "", "discard"},
		{"RFC 5228 §3.1", "if/elsif/else, other", ifElsif, other, "", "fileinto:INBOX"},
		{"RFC 5228 §3.1", "redirects, message A", redirects, msgA, "", "redirect:acm@example.com"},
		{"RFC 5228 §3.1", "redirects, message B", redirects, msgB, "", "redirect:postmaster@example.com"},
		{"RFC 5228 §3.1", "redirects, other", redirects, other, "", "redirect:field@example.com"},
		{"RFC 5228 §3.2", "require list", `require ["fileinto", "reject"];`, msgA, "", "keep"},
		{"RFC 5228 §3.2", "two requires", "require \"fileinto\";\nrequire \"vacation\";", msgA, "", "keep"},
		{"RFC 5228 §4.2", "redirect", `redirect "bart@example.com";`, msgA, "", "redirect:bart@example.com"},
		{"RFC 5228 §4.3", "keep under 1M, message A", keep1M, msgA, "", "keep"},
		{"RFC 5228 §4.3", "keep under 1M, big", keep1M, big, "", "discard"},
		{"RFC 5228 §4.3", "not under 1M, message A", notUnder1M, msgA, "", "keep"},
		{"RFC 5228 §4.3", "not under 1M, big", notUnder1M, big, "", "discard"},
		{"RFC 5228 §4.4", "discard idiot", idiot, mkMsg("From: The Idiot <idiot@example.com>\n", "\n"), "", "discard"},
		{"RFC 5228 §4.4", "discard idiot, message A", idiot, msgA, "", "keep"},
		{"RFC 5228 §5.1", "address :all", `if address :is :all "from" "tim@example.com" {
   discard;
}`, mkMsg("From: Tim <tim@example.com>\n", "\n"), "", "discard"},
		{"RFC 5228 §5.1", "address :all, message A", `if address :is :all "from" "tim@example.com" { discard; }`, msgA, "", "keep"},
		// §5.2 and §5.3 print truth tables; each row completed with if.
		{"RFC 5228 §5.2", "allof (false, false)", `if allof (false, false) { discard; }`, msgA, "", "keep"},
		{"RFC 5228 §5.2", "allof (false, true)", `if allof (false, true) { discard; }`, msgA, "", "keep"},
		{"RFC 5228 §5.2", "allof (true, true)", `if allof (true,  true) { discard; }`, msgA, "", "discard"},
		{"RFC 5228 §5.3", "anyof (false, false)", `if anyof (false, false) { discard; }`, msgA, "", "keep"},
		{"RFC 5228 §5.3", "anyof (false, true)", `if anyof (false, true) { discard; }`, msgA, "", "discard"},
		{"RFC 5228 §5.3", "anyof (true, true)", `if anyof (true,  true) { discard; }`, msgA, "", "discard"},
		{"RFC 5228 §5.4", "envelope from tim", `require "envelope";
if envelope :all :is "from" "tim@example.com" {
   discard;
}`, msgA, "tim@example.com", "discard"},
		{"RFC 5228 §5.4", "envelope from coyote", `require "envelope";
if envelope :all :is "from" "tim@example.com" { discard; }`, msgA, "", "keep"},
		{"RFC 5228 §5.5", "not exists, message A", notExists, msgA, "", "keep"},
		{"RFC 5228 §5.5", "not exists, no Date", notExists, mkMsg("From: a@example.org\n", "\n"), "", "discard"},
		{"RFC 5228 §5.7", `X-Caffeine :is ""`, `if header :is ["X-Caffeine"] [""] { discard; }`, caffeine, "", "keep"},
		{"RFC 5228 §5.7", `X-Caffeine :contains ""`, `if header :contains ["X-Caffeine"] [""] { discard; }`, caffeine, "", "discard"},
		{"RFC 5228 §5.7", "not Cc ?*, no Cc", `if not header :matches "Cc" "?*" { discard; }`, msgA, "", "discard"},
		{"RFC 5228 §5.7", "not Cc ?*, blank Cc", `if not header :matches "Cc" "?*" { discard; }`, mkMsg("Cc:   \n", "\n"), "", "discard"},
		{"RFC 5228 §5.7", "not Cc ?*, Cc set", `if not header :matches "Cc" "?*" { discard; }`, mkMsg("Cc: a@example.org\n", "\n"), "", "keep"},
		{"RFC 5228 §5.8", "not false", `if not false { discard; }`, msgA, "", "discard"},
		{"RFC 5228 §5.8", "not true", `if not true { discard; }`, msgA, "", "keep"},
		// §5.9: "for a message that is exactly 4,000 octets, the message is
		// neither ":over" nor ":under" 4000 octets."
		{"RFC 5228 §5.9", "4000 octets not over", `if size :over 4000 { discard; }`, sized("From: a@example.org\n", 4000), "", "keep"},
		{"RFC 5228 §5.9", "4000 octets not under", `if size :under 4000 { discard; }`, sized("From: a@example.org\n", 4000), "", "keep"},
		{"RFC 5228 §5.9", "4001 octets over", `if size :over 4000 { discard; }`, sized("From: a@example.org\n", 4001), "", "discard"},
	}
	checkCases(t, cases)
}

// TestRFC5228EncodedCharacter: the encodings of RFC 5228 §2.4.2.4, each
// string of the RFC's list given to fileinto.
func TestRFC5228EncodedCharacter(t *testing.T) {
	tests := []struct{ str, want string }{
		{`"$${hex:40}"`, "$@"},
		{`"${hex: 40 }"`, "@"},
		{`"${HEX: 40}"`, "@"},
		{`"${hex:40"`, "${hex:40"},
		{`"${hex:400}"`, "${hex:400}"},
		{`"${hex:4${hex:30}}"`, "${hex:40}"},
		{`"${unicode:40}"`, "@"},
		{`"${ unicode:40}"`, "${ unicode:40}"},
		{`"${UNICODE:40}"`, "@"},
		{`"${UnICoDE:0000040}"`, "@"},
		{`"${Unicode:40}"`, "@"},
		{`"${Unicode:Cool}"`, "${Unicode:Cool}"},
		{`"${unicode:200000}"`, "COMPILE: "},
		// The RFC prints this one without its closing quote.
		{`"${Unicode:DF01}"`, "COMPILE: "},
	}
	var cases []rfcCase
	for _, tc := range tests {
		want := "fileinto:" + tc.want
		if strings.HasPrefix(tc.want, "COMPILE") {
			want = "COMPILE: not a Unicode character"
		}
		src := "require [\"encoded-character\", \"fileinto\"];\nfileinto " + tc.str + ";"
		cases = append(cases, rfcCase{"RFC 5228 §2.4.2.4", tc.str, src, msgA, "", want})
	}
	// Beyond the list: blanks may be line breaks, a hex pair is one or two
	// digits, and the capability must be required.
	cases = append(cases,
		rfcCase{"RFC 5228 §2.4.2.4", "CRLF blank", "require [\"encoded-character\", \"fileinto\"];\nfileinto \"${hex:\r\n e4 b8 ad\r\n}\";", msgA, "", "fileinto:中"},
		rfcCase{"RFC 5228 §2.4.2.4", "unicode", `require ["encoded-character", "fileinto"]; fileinto "${unicode:53d1 7968}";`, msgA, "", "fileinto:发票"},
		rfcCase{"RFC 5228 §2.4.2.4", "not required", `require "fileinto"; fileinto "${hex:40}";`, msgA, "", "fileinto:${hex:40}"},
		rfcCase{"RFC 5228 §2.4.2.4", "require is not decoded", `require ["encoded-character", "${hex:66}ileinto"];`, msgA, "", "COMPILE: unsupported extension"},
	)
	checkCases(t, cases)
}

// TestRFC5229Examples: RFC 5229 (variables). The string examples of §3
// and §3.1 are each stored with set and shown by fileinto "=${r}" (the
// "=" keeps an empty result a valid mailbox name).
func TestRFC5229Examples(t *testing.T) {
	expr := func(setup, str string) string {
		return "require [\"variables\", \"fileinto\"];\n" + setup + "\nset \"r\" " + str + ";\nfileinto \"=${r}\";"
	}
	const company = `set "company" "ACME";`
	const foo = `set "foo" "bar";`
	// As printed, "set "name" "Ethelbert"" lacks its ";" (so "if" is taken
	// for a test of set), and the if block holds only a comment.
	const ethelbertPrinted = `require ["encoded-character", "variables"];
set "name" "Ethelbert"
if header :contains "Subject" "dear${hex:20 24 7b 4e}ame}" {
    # the test string is "dear Ethelbert"
}`
	const ethelbert = `require ["encoded-character", "variables"];
set "name" "Ethelbert";
if header :contains "Subject" "dear${hex:20 24 7b 4e}ame}" {
    # the test string is "dear Ethelbert"
    discard;
}`
	// §3.2 prints "fileinfo" for fileinto; rfc_test.go runs it corrected.
	fileinfoPrinted := strings.Replace(rfc5229Lists, `fileinto "INBOX.lists.${1}"`, `fileinfo "INBOX.lists.${1}"`, 1)
	// §3.2's comments on the address example: "${0} is the matching
	// address", "${1} is always the empty string", "${2} is part of the
	// domain name ("ACME.Example")".
	const matchVars = `require ["fileinto", "variables"];
if address :matches ["To", "Cc"] ["coyote@**.com",
        "wile@**.com"] {
    fileinto "${0}|${1}|${2}"; stop;
}`
	// §3.2: the second test of anyof is never evaluated, so no match
	// variables are set (completed with a fileinto showing ${0}).
	const shortCircuit = `require ["fileinto", "variables"];
if anyof (true, address :domain :matches "To" "*.com") {
    fileinto "=${0}";
    stop;
}`
	// §5: the test "always succeeds".
	const state = `require "variables";
set "state" "${state} pending";
if string :matches " ${state} " "* pending *" {
    # the above test always succeeds
    discard;
}`
	cases := []rfcCase{
		{"RFC 5229 §3", `"&%${}!"`, expr(company, `"&%${}!"`), msgA, "", "fileinto:=&%${}!"},
		{"RFC 5229 §3", `"${doh!}"`, expr(company, `"${doh!}"`), msgA, "", "fileinto:=${doh!}"},
		{"RFC 5229 §3", `"${full}"`, expr(company, `"${full}"`), msgA, "", "fileinto:="},
		{"RFC 5229 §3", `"${company}"`, expr(company, `"${company}"`), msgA, "", "fileinto:=ACME"},
		{"RFC 5229 §3", `"${BAD${Company}"`, expr(company, `"${BAD${Company}"`), msgA, "", "fileinto:=${BADACME"},
		{"RFC 5229 §3", `"${President, ${Company} Inc.}"`, expr(company, `"${President, ${Company} Inc.}"`), msgA, "", "fileinto:=${President, ACME Inc.}"},
		{"RFC 5229 §3.1", `"${fo\o}"`, expr(foo, `"${fo\o}"`), msgA, "", "fileinto:=bar"},
		{"RFC 5229 §3.1", `"${fo\\o}"`, expr(foo, `"${fo\\o}"`), msgA, "", `fileinto:=${fo\o}`},
		{"RFC 5229 §3.1", `"\${foo}"`, expr(foo, `"\${foo}"`), msgA, "", "fileinto:=bar"},
		{"RFC 5229 §3.1", `"\\${foo}"`, expr(foo, `"\\${foo}"`), msgA, "", `fileinto:=\bar`},
		{"RFC 5229 §3.1", "dollar", expr(`set "dollar" "$";
set "text" "regarding ${dollar}{beep}";`, `"${text}"`), msgA, "", "fileinto:=regarding ${beep}"},
		{"RFC 5229 §3.1", "encoded character, as printed", ethelbertPrinted, msgA, "", "COMPILE: set takes no block"},
		{"RFC 5229 §3.1", "encoded character, dear Ethelbert", ethelbert, mkMsg("Subject: Hello dear Ethelbert\n", "\n"), "", "discard"},
		{"RFC 5229 §3.1", "encoded character, dear Ethel", ethelbert, mkMsg("Subject: Hello dear Ethel\n", "\n"), "", "keep"},
		{"RFC 5229 §3.2", "fileinfo, as printed", fileinfoPrinted, msgA, "", `COMPILE: unknown command "fileinfo"`},
		{"RFC 5229 §3.2", "${0} ${1} ${2}", matchVars, mkMsg("To: coyote@ACME.Example.COM\n", "\n"), "", "fileinto:coyote@ACME.Example.COM||ACME.Example"},
		{"RFC 5229 §3.2", "anyof short-circuits", shortCircuit, mkMsg("To: coyote@ACME.Example.COM\n", "\n"), "", "fileinto:="},
		{"RFC 5229 §5", "string :matches state", state, msgA, "", "discard"},
	}
	checkCases(t, cases)
}

// The scripts of RFC 5230 §4.2, whose point is response tracking.
const (
	vacCyrus = `require "vacation";
if header :contains "subject" "cyrus" {
    vacation "I'm out -- send mail to cyrus-bugs";
} else {
    vacation "I'm out -- call me at +1 304 555 0123";
}`
	vacSubjectVar = `require ["vacation", "variables"];
if header :matches "subject" "*" {
    vacation :subject "Automatic response to: ${1}"
             "I'm away -- send mail to foo in my absence";
}`
	vacHandle = `require "vacation";
if header :contains "subject" "lunch" {
    vacation :handle "ran-away" "I'm out and can't meet for lunch";
} else {
    vacation :handle "ran-away" "I'm out";
}`
)

// vacMIMEReason is the reason of RFC 5230 §4.4's :mime example.
const vacMIMEReason = `Content-Type: multipart/alternative; boundary=foo

--foo

I'm at the beach relaxing.  Mmmm, surf...

--foo
Content-Type: text/html; charset=us-ascii

<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.0//EN"
 "http://www.w3.org/TR/REC-html40/strict.dtd">
<HTML><HEAD><TITLE>How to relax</TITLE>
<BASE HREF="http://home.example.com/pictures/"></HEAD>
<BODY><P>I'm at the <A HREF="beach.gif">beach</A> relaxing.
Mmmm, <A HREF="ocean.gif">surf</A>...
</BODY></HTML>

--foo--
`

// TestRFC5230Examples: RFC 5230 (vacation). rfc_test.go runs §4.2's
// first script on a "cyrus" subject (here: its else branch, and its
// tracking in TestRFC5230Tracking) and §4.8's first example.
func TestRFC5230Examples(t *testing.T) {
	subj := func(s string) string {
		return mkMsg("From: coyote@desert.example.org\nTo: roadrunner@acme.example.com\nSubject: "+s+"\n", "hi\n")
	}
	// As printed, the :mime example has no ";" after its text: string.
	mimePrinted := "require \"vacation\";\nvacation :mime text:\n" + vacMIMEReason + ".\n"
	const boss = `require "vacation";
if header :contains "from" "boss@example.edu" {
    redirect "pleeb@isp.example.org";
} else {
    vacation "Sorry, I'm away, I'll read your
message when I get around to it.";
}`
	const language = `require "vacation";
if header :contains ["accept-language", "content-language"] "en"
{
    vacation "I am away this week.";
} else {
    vacation "Estoy ausente esta semana.";
}`
	const division = `require "vacation";
if address :matches "from" "*@ourdivision.example.com"
{
    vacation :subject "Gone fishing"
             "Having lots of fun! Back in a day or two!";
} else {
    vacation :subject "Je suis parti cette semaine"
             "Je lirai votre message quand je retourne.";
}`
	cases := []rfcCase{
		{"RFC 5230 §4.2", "cyrus, dinner", vacCyrus, subj("come over for dinner"), "", "keep vacation:I'm out -- call me at +1 304 555 0123"},
		{"RFC 5230 §4.2", "subject variable", vacSubjectVar, subj("lunch?"), "", "keep vacation:I'm away -- send mail to foo in my absence subject:Automatic response to: lunch?"},
		{"RFC 5230 §4.2", "handle, lunch", vacHandle, subj("lunch?"), "", "keep vacation:I'm out and can't meet for lunch handle:ran-away"},
		{"RFC 5230 §4.2", "handle, dinner", vacHandle, subj("dinner?"), "", "keep vacation:I'm out handle:ran-away"},
		{"RFC 5230 §4.4", ":mime, as printed", mimePrinted, msgA, "", "COMPILE: expected ';' or '{' after command vacation"},
		{"RFC 5230 §4.4", ":mime", mimePrinted + ";", msgA, "", "keep vacation:" + vacMIMEReason + " :mime"},
		{"RFC 5230 §4.8", "boss redirected", boss, mkMsg("From: Boss <boss@example.edu>\n", "\n"), "", "redirect:pleeb@isp.example.org"},
		{"RFC 5230 §4.8", "others answered", boss, msgA, "", "keep vacation:Sorry, I'm away, I'll read your\nmessage when I get around to it."},
		{"RFC 5230 §7", "Accept-Language en", language, mkMsg("Accept-Language: en-GB, es;q=0.5\n", "\n"), "", "keep vacation:I am away this week."},
		{"RFC 5230 §7", "Content-Language es", language, mkMsg("Content-Language: es\n", "\n"), "", "keep vacation:Estoy ausente esta semana."},
		{"RFC 5230 §7", "own division", division, mkMsg("From: Fred <fred@ourdivision.example.com>\n", "\n"), "", "keep vacation:Having lots of fun! Back in a day or two! subject:Gone fishing"},
		{"RFC 5230 §7", "stranger", division, msgA, "", "keep vacation:Je lirai votre message quand je retourne. subject:Je suis parti cette semaine"},
	}
	checkCases(t, cases)
}

// TestRFC5230Tracking: which messages RFC 5230 §4.2 says get separate
// responses (different tracking keys) and which one response.
func TestRFC5230Tracking(t *testing.T) {
	key := func(src, subject string) string {
		t.Helper()
		s, err := Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		msg := mkMsg("From: coyote@desert.example.org\nTo: roadrunner@acme.example.com\nSubject: "+subject+"\n", "hi\n")
		m, err := NewMessage([]byte(msg), "coyote@desert.example.org", "roadrunner@acme.example.com")
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Run(m, Options{})
		if err != nil || r.Vacation == nil {
			t.Fatalf("run: %v, vacation %v", err, r)
		}
		return VacationKey(m, r.Vacation)
	}
	tests := []struct {
		name, src, subj1, subj2 string
		same                    bool
	}{
		// "coyote@desert.example.org would receive two responses".
		{"separate responses", vacCyrus, "Cyrus bug", "come over for dinner", false},
		// "the arguments MUST NOT have undergone variable expansion prior to
		// their use in response tracking", so one response per sender.
		{"unexpanded arguments", vacSubjectVar, "lunch?", "dinner?", true},
		// "tweety@cage.example.org will only receive a single response".
		{"same handle", vacHandle, "lunch?", "dinner?", true},
	}
	for _, tc := range tests {
		k1, k2 := key(tc.src, tc.subj1), key(tc.src, tc.subj2)
		if (k1 == k2) != tc.same {
			t.Errorf("%s: keys equal %v, want %v", tc.name, k1 == k2, tc.same)
		}
	}
	// §4.2: :mime is part of what makes a response without :handle.
	if key(`require "vacation"; vacation "x";`, "a") == key(`require "vacation"; vacation :mime "x";`, "a") {
		t.Error("vacation with and without :mime share a tracking key")
	}
	// §4.4: with :mime the reason is the MIME entity of the reply.
	m, _ := NewMessage([]byte(msgA), "coyote@desert.example.org", "roadrunner@acme.example.com")
	reply := string(VacationReply(m, &Vacation{Mime: true, Reason: vacMIMEReason}, "roadrunner@acme.example.com", "mx.example", timeZero))
	if !strings.Contains(reply, "\r\nContent-Type: multipart/alternative; boundary=foo\r\n\r\n--foo\r\n") {
		t.Errorf(":mime reply does not carry the reason as its entity:\n%s", reply)
	}
}

// TestRFC5232Examples: RFC 5232 (imap4flags). Its fragments are completed
// with require ["imap4flags"] and, where they name a flag variable,
// "variables" (RFC 5232 §3: without it a variable name is an error).
func TestRFC5232Examples(t *testing.T) {
	const big500 = `require "imap4flags";
if size :over 500K {
    setflag "\\Deleted";
}`
	// §3.2: "The following two actions ... produce the same result as the
	// single action ... or ... or ..."; shown with keep :flags.
	addflag := func(actions string) string {
		return "require [\"imap4flags\", \"variables\"];\n" + actions + "\nkeep :flags \"${flagvar}\";"
	}
	const mdn = `require ["imap4flags", "variables", "fileinto"];
if header :contains "Disposition-Notification-To"
   "mel@example.com" {
    addflag "flagvar" "$MDNRequired";
}
if header :contains "from" "imap@cac.washington.example.edu" {
    removeflag "flagvar" "$MDNRequired";
    fileinto :flags "${flagvar}" "INBOX.imap-list";
}`
	// §4: "If the internal variable has the value "A B", the following
	// test ... evaluates to true."
	internalAB := func(test string) string {
		return "require \"imap4flags\";\nsetflag \"A B\";\nif " + test + " { discard; }"
	}
	// §4: "If the variable "MyVar" has value ..., the following tests
	// evaluate to true" (and two to false).
	myVar := func(test string) string {
		return `require ["imap4flags", "variables"];
set "MyVar" "NonJunk Junk gnus-forward $Forwarded NotJunk JunkRecorded $Junk $NotJunk";
if ` + test + " { discard; }"
	}
	const count = `require ["imap4flags", "variables", "relational", "comparator-i;ascii-numeric"];
set "MyFlags" "A B";
if hasflag :count "ge" :comparator "i;ascii-numeric"
        "MyFlags" "2" { discard; }`
	cases := []rfcCase{
		{"RFC 5232 §3.1", "setflag over 500K, big", big500, sized("From: a@example.org\n", 600<<10), "", `keep[\Deleted]`},
		{"RFC 5232 §3.1", "setflag over 500K, message A", big500, msgA, "", "keep"},
		{"RFC 5232 §3.2", "two addflags", addflag(`addflag "flagvar" "\\Deleted";
addflag "flagvar" "\\Answered";`), msgA, "", `keep[\Answered \Deleted]`},
		{"RFC 5232 §3.2", "one addflag, list", addflag(`addflag "flagvar" ["\\Deleted", "\\Answered"];`), msgA, "", `keep[\Answered \Deleted]`},
		{"RFC 5232 §3.2", "one addflag, string", addflag(`addflag "flagvar" "\\Deleted \\Answered";`), msgA, "", `keep[\Answered \Deleted]`},
		{"RFC 5232 §3.2", "one addflag, other order", addflag(`addflag "flagvar" "\\Answered \\Deleted";`), msgA, "", `keep[\Answered \Deleted]`},
		{"RFC 5232 §3.3", "removeflag, imap list with MDN", mdn, mkMsg("From: imap@cac.washington.example.edu\nDisposition-Notification-To: mel@example.com\n", "\n"), "", "fileinto:INBOX.imap-list"},
		{"RFC 5232 §3.3", "removeflag, MDN only", mdn, mkMsg("From: a@example.org\nDisposition-Notification-To: mel@example.com\n", "\n"), "", "keep"},
		{"RFC 5232 §4", `hasflag :is "b A"`, internalAB(`hasflag :is "b A"`), msgA, "", "discard"},
		{"RFC 5232 §4", `hasflag ["b","A"]`, internalAB(`hasflag ["b","A"]`), msgA, "", "discard"},
		{"RFC 5232 §4", `hasflag :is "C"`, internalAB(`hasflag :is "C"`), msgA, "", `keep[A B]`},
		{"RFC 5232 §4", `contains "Junk"`, myVar(`hasflag :contains "MyVar" "Junk"`), msgA, "", "discard"},
		{"RFC 5232 §4", `contains "forward"`, myVar(`hasflag :contains "MyVar" "forward"`), msgA, "", "discard"},
		{"RFC 5232 §4", `contains ["label", "forward"]`, myVar(`hasflag :contains "MyVar" ["label", "forward"]`), msgA, "", "discard"},
		{"RFC 5232 §4", `contains ["junk", "forward"]`, myVar(`hasflag :contains "MyVar" ["junk", "forward"]`), msgA, "", "discard"},
		{"RFC 5232 §4", `contains "junk forward"`, myVar(`hasflag :contains "MyVar" "junk forward"`), msgA, "", "discard"},
		{"RFC 5232 §4", `contains "forward junk"`, myVar(`hasflag :contains "MyVar" "forward junk"`), msgA, "", "discard"},
		{"RFC 5232 §4", `not contains "label"`, myVar(`hasflag :contains "MyVar" "label"`), msgA, "", "keep"},
		{"RFC 5232 §4", `not contains ["label1", "label2"]`, myVar(`hasflag :contains "MyVar" ["label1", "label2"]`), msgA, "", "keep"},
		{"RFC 5232 §4", ":count ge 2", count, msgA, "", "discard"},
		{"RFC 5232 §4", ":count ge 3", strings.Replace(count, `"2"`, `"3"`, 1), msgA, "", "keep"},
		// §5: the two are equivalent when the mailbox cannot store flags;
		// which flags it can store is delivery's business.
		{"RFC 5232 §5", "fileinto :flags", `require ["fileinto", "imap4flags"];
fileinto :flags "\\Deleted" "INBOX.From Boss";`, msgA, "", `fileinto:INBOX.From Boss[\Deleted]`},
		{"RFC 5232 §5", "fileinto", `require ["fileinto", "imap4flags"];
fileinto "INBOX.From Boss";`, msgA, "", "fileinto:INBOX.From Boss"},
	}
	checkCases(t, cases)
}

// rfc5232Sec9 is RFC 5232 §9 as printed; the RFC writes "remove" for
// removeflag.
const rfc5232Sec9 = `#
# Example Sieve Filter
# Declare any optional features or extension used by the script
#
require ["fileinto", "imap4flags", "variables"];

#
# Move large messages to a special mailbox
#
if size :over 1M
        {
        addflag "MyFlags" "Big";
        if header :is "From" "boss@company.example.com"
                   {
# The message will be marked as "\Flagged Big" when filed into
# mailbox "Big messages"
                   addflag "MyFlags" "\\Flagged";
                   }
        fileinto :flags "${MyFlags}" "Big messages";
        }

if header :is "From" "grandma@example.net"
        {
        addflag "MyFlags" ["\\Answered", "$MDNSent"];
# If the message is bigger than 1Mb it will be marked as
# "Big \Answered $MDNSent" when filed into mailbox "grandma".
# If the message is shorter than 1Mb it will be marked as
# "\Answered $MDNSent"
        fileinto :flags "${MyFlags}" "GrandMa";
        }

#
# Handle messages from known mailing lists
# Move messages from IETF filter discussion list to filter folder
#
if header :is "Sender" "owner-ietf-mta-filters@example.org"
        {
        set "MyFlags" "\\Flagged $Work";
# Message will have both "\Flagged" and $Work flags
        keep :flags "${MyFlags}";
        }

#
# Keep all messages to or from people in my company
#
elsif anyof (address :domain :is ["From", "To"] "company.example.com")
        {
        keep :flags "${MyFlags}"; # keep in "Inbox" folder
        }

# Try to catch unsolicited email.  If a message is not to me,
# or it contains a subject known to be spam, file it away.
#
elsif anyof (not address :all :contains
               ["To", "Cc"] "me@company.example.com",
             header :matches "subject"
               ["*make*money*fast*", "*university*dipl*mas*"])
        {
        remove "MyFlags" "\\Flagged";
        fileinto :flags "${MyFlags}" "spam";
        }
else
        {
        # Move all other external mail to "personal"
        # folder.
        fileinto :flags "${MyFlags}" "personal";
        }
`

func TestRFC5232ExtendedExample(t *testing.T) {
	fixed := strings.Replace(rfc5232Sec9, "remove \"MyFlags\"", "removeflag \"MyFlags\"", 1)
	const toMe = "To: me@company.example.com\n"
	cases := []rfcCase{
		{"RFC 5232 §9", "as printed", rfc5232Sec9, msgA, "", `COMPILE: unknown command "remove"`},
		{"RFC 5232 §9", "big from boss", fixed, sized("From: boss@company.example.com\n"+toMe, 1<<20+1), "", `keep[Big \Flagged] fileinto:Big messages[Big \Flagged]`},
		{"RFC 5232 §9", "grandma", fixed, mkMsg("From: grandma@example.net\n"+toMe, "hi\n"), "", `keep[$MDNSent \Answered] fileinto:GrandMa[$MDNSent \Answered]`},
		{"RFC 5232 §9", "big from grandma", fixed, sized("From: grandma@example.net\n"+toMe, 1<<20+1), "", `keep[$MDNSent Big \Answered] fileinto:Big messages[Big] fileinto:GrandMa[$MDNSent Big \Answered]`},
		{"RFC 5232 §9", "list", fixed, mkMsg("From: someone@example.org\nSender: owner-ietf-mta-filters@example.org\n"+toMe, "hi\n"), "", `keep[$Work \Flagged]`},
		{"RFC 5232 §9", "spam", fixed, mkMsg("From: x@spam.example\nTo: y@else.example\nCc: me@company.example.com\nSubject: make lots of money fast\n", "hi\n"), "", "fileinto:spam"},
		{"RFC 5232 §9", "not to me", fixed, mkMsg("From: x@else.example\nTo: y@else.example\n", "hi\n"), "", "fileinto:spam"},
		{"RFC 5232 §9", "personal", fixed, mkMsg("From: x@else.example\nTo: y@else.example\nCc: me@company.example.com\nSubject: hi\n", "hi\n"), "", "fileinto:personal"},
	}
	checkCases(t, cases)
}

// rfc5173Mime is the message of RFC 5173 §5.2 without the marks at the
// start of its lines.
var rfc5173Mime = crlf(`From: Whomever
To: Someone
Date: Whenever
Subject: whatever
Content-Type: multipart/mixed; boundary=outer

This is a multi-part message in MIME format.

--outer
Content-Type: multipart/alternative; boundary=inner

This is a nested multi-part message in MIME format.

--inner
Content-Type: text/plain; charset="us-ascii"

Hello

--inner
Content-Type: text/html; charset="us-ascii"

<html><body>Hello</body></html>

--inner--

This is the end of the inner MIME multipart.

--outer
Content-Type: message/rfc822

From: Someone Else
Subject: hello request

Please say Hello

--outer--

This is the end of the outer MIME multipart.
`)

// TestRFC5173Examples: RFC 5173 (body).
func TestRFC5173Examples(t *testing.T) {
	const raw = `require "body";

# This will match a message containing the literal text
# "MAKE MONEY FAST" in body parts (ignoring any
# content-transfer-encodings) or MIME headers other than
# the outermost RFC 2822 header.

if body :raw :contains "MAKE MONEY FAST" {
        discard;
}`
	const secrets = `require ["body", "fileinto"];

# Save any message with any text MIME part that contains the
# words "missile" or "coordinates" in the "secrets" folder.

if body :content "text" :contains ["missile", "coordinates"] {
        fileinto "secrets";
}

# Save any message with an audio/mp3 MIME part in
# the "jukebox" folder.

if body :content "audio/mp3" :contains "" {
        fileinto "jukebox";
}`
	const schedule = `require ["body", "fileinto"];

# Save messages mentioning the project schedule in the
# project/schedule folder.
if body :text :contains "project schedule" {
        fileinto "project/schedule";
}`
	multipart := func(parts ...string) string {
		s := "From: a@example.org\nContent-Type: multipart/mixed; boundary=X\n\n"
		for _, p := range parts {
			s += "--X\n" + p + "\n"
		}
		return crlf(s + "--X--\n")
	}
	// §5.2 lists what five tests look at in its message (the lines marked
	// &, $, %, !); each is a test completed with if, and beside it a key
	// found only in lines the test must not look at.
	content := func(typ, key string) string {
		return "require \"body\";\nif body :content \"" + typ + "\" :contains \"" + key + "\" { discard; }"
	}
	mp3 := "Content-Type: audio/mp3\nContent-Transfer-Encoding: base64\n\nSUQz\n"
	cases := []rfcCase{
		{"RFC 5173 §5.1", ":raw, plain body", raw, mkMsg("From: a@example.org\n", "You can MAKE MONEY FAST\n"), "", "discard"},
		{"RFC 5173 §5.1", ":raw, MIME header of a part", raw, multipart("Content-Type: text/plain\nContent-Description: MAKE MONEY FAST\n\nhello"), "", "discard"},
		{"RFC 5173 §5.1", ":raw, base64 not decoded", raw, multipart("Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\nTUFLRSBNT05FWSBGQVNU"), "", "keep"},
		{"RFC 5173 §5.1", ":raw, outermost header not searched", raw, mkMsg("Subject: MAKE MONEY FAST\n", "hello\n"), "", "keep"},
		{"RFC 5173 §5.2", `"multipart" "MIME" (&)`, content("multipart", "MIME"), rfc5173Mime, "", "discard"},
		{"RFC 5173 §5.2", `"multipart" "end of the inner" (&)`, content("multipart", "end of the inner"), rfc5173Mime, "", "discard"},
		{"RFC 5173 §5.2", `"multipart" not "Hello"`, content("multipart", "Hello"), rfc5173Mime, "", "keep"},
		{"RFC 5173 §5.2", `"text/plain" "Hello" ($)`, content("text/plain", "Hello"), rfc5173Mime, "", "discard"},
		{"RFC 5173 §5.2", `"text/plain" "Please say Hello" ($)`, content("text/plain", "Please say Hello"), rfc5173Mime, "", "discard"},
		{"RFC 5173 §5.2", `"text/plain" not "html"`, content("text/plain", "html"), rfc5173Mime, "", "keep"},
		{"RFC 5173 §5.2", `"text/html" "Hello" (%)`, content("text/html", "Hello"), rfc5173Mime, "", "discard"},
		{"RFC 5173 §5.2", `"text/html" "<body>" (%)`, content("text/html", "<body>"), rfc5173Mime, "", "discard"},
		{"RFC 5173 §5.2", `"text/html" not "Please"`, content("text/html", "Please"), rfc5173Mime, "", "keep"},
		{"RFC 5173 §5.2", `"text" "Hello" ($ %)`, content("text", "Hello"), rfc5173Mime, "", "discard"},
		{"RFC 5173 §5.2", `"text" not "MIME"`, content("text", "MIME"), rfc5173Mime, "", "keep"},
		{"RFC 5173 §5.2", `"message/rfc822" "Hello" (!)`, content("message/rfc822", "Hello"), rfc5173Mime, "", "discard"},
		{"RFC 5173 §5.2", `"message/rfc822" "Someone Else" (!)`, content("message/rfc822", "Someone Else"), rfc5173Mime, "", "discard"},
		{"RFC 5173 §5.2", `"message/rfc822" not "Please"`, content("message/rfc822", "Please"), rfc5173Mime, "", "keep"},
		{"RFC 5173 §5.2", "secrets and jukebox", secrets, multipart("Content-Type: text/plain\n\nthe coordinates are", mp3), "", "fileinto:secrets fileinto:jukebox"},
		{"RFC 5173 §5.2", "jukebox only", secrets, multipart("Content-Type: text/plain\n\nnothing here", mp3), "", "fileinto:jukebox"},
		{"RFC 5173 §5.2", "audio/ogg is not audio/mp3", secrets, multipart("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nthe missi=\nle", "Content-Type: audio/ogg\n\nOggS"), "", "fileinto:secrets"},
		{"RFC 5173 §5.3", ":text, plain", schedule, mkMsg("From: a@example.org\n", "The project schedule slipped.\n"), "", "fileinto:project/schedule"},
		{"RFC 5173 §5.3", ":text, HTML part", schedule, multipart("Content-Type: text/html\n\n<p>The project schedule</p>"), "", "fileinto:project/schedule"},
		{"RFC 5173 §5.3", ":text, not there", schedule, msgA, "", "keep"},
		// §4 in prose: a header without the empty line after it has no
		// body, and every body test is false, even for the empty key.
		{"RFC 5173 §4", "no body, :text", `require "body"; if body :contains "" { discard; }`, crlf("From: a@example.org\n"), "", "keep"},
		{"RFC 5173 §4", "no body, :raw", `require "body"; if body :raw :contains "" { discard; }`, crlf("From: a@example.org\n"), "", "keep"},
		{"RFC 5173 §4", "empty body", `require "body"; if body :raw :contains "" { discard; }`, crlf("From: a@example.org\n\n"), "", "discard"},
	}
	checkCases(t, cases)
}

// TestRFCRules: rules the RFCs state in prose next to their examples, where
// the interpreter did not follow them.
func TestRFCRules(t *testing.T) {
	cases := []rfcCase{
		// RFC 5229 §6: "References to higher indices than those the
		// implementation supports MUST be treated as a syntax error"; we
		// support ${0} to ${9}, and §3.2 allows leading zeroes.
		{"RFC 5229 §6", "${10}", `require ["variables", "fileinto"]; fileinto "a${10}";`, msgA, "", "COMPILE: ${10}: match variables go from ${0} to ${9}"},
		{"RFC 5229 §6", "${010}", `require ["variables", "fileinto"]; if true { fileinto "a${010}"; }`, msgA, "", "COMPILE: ${010}"},
		{"RFC 5229 §6", "${09}", `require ["variables", "fileinto"]; if header :matches "Subject" "*" { fileinto "a${09}"; }`, msgA, "", "fileinto:a"},
		{"RFC 5229 §6", "${10} without variables", `require "fileinto"; fileinto "a${10}";`, msgA, "", "fileinto:a${10}"},
		// RFC 5228 §5.4: "implementations SHOULD consider unknown envelope
		// parts an error".
		{"RFC 5228 §5.4", "unknown envelope part", `require "envelope"; if envelope "auth" "a@b.c" { discard; }`, msgA, "", `COMPILE: unknown envelope part "auth"`},
		{"RFC 5228 §5.4", "envelope parts any case", `require "envelope"; if envelope :domain ["FROM", "To"] "acme.example.com" { discard; }`, msgA, "", "discard"},
		// RFC 5232 §1: without "variables" the variable name parameter
		// "MUST NOT be used and MUST cause an error".
		{"RFC 5232 §1", "setflag variable without variables", `require "imap4flags"; setflag "v" "\\Seen";`, msgA, "", `COMPILE: setflag: a variable name needs require "variables"`},
		{"RFC 5232 §1", "hasflag variable without variables", `require "imap4flags"; if hasflag "v" "\\Seen" { discard; }`, msgA, "", `COMPILE: hasflag: a variable name needs require "variables"`},
		// RFC 5230 §4.1: ":days" less than the minimum (1) is the minimum.
		{"RFC 5230 §4.1", ":days 0", `require "vacation"; vacation :days 0 "away";`, msgA, "", "keep vacation:away days:1"},
		{"RFC 5230 §4.8", ":days 23", `require "vacation"; vacation :days 23 "away";`, msgA, "", "keep vacation:away days:23"},
	}
	checkCases(t, cases)
}
