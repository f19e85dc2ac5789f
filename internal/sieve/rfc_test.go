package sieve

import "testing"

// rfc5229Lists is RFC 5229 §3.2's example with "fileinfo" corrected to
// fileinto (rfc_examples_test.go runs it as printed).
const rfc5229Lists = `require ["variables", "fileinto"];
if header :matches "List-ID" "*<*@*" {
    fileinto "INBOX.lists.${2}"; stop;
}
# Imagine the header
# Subject: [acme-users] [fwd] version 1.0 is out
if header :matches "Subject" "[*] *" {
    fileinto "INBOX.lists.${1}"; stop;
}
# Imagine the header
# To: coyote@ACME.Example.COM
if address :matches ["To", "Cc"] ["coyote@**.com",
        "wile@**.com"] {
    fileinto "INBOX.business.${2}"; stop;
} else {
}
if anyof (true, address :domain :matches "To" "*.com") {
    stop;
}
`

// The examples of the RFCs, run against messages made for them.
func TestRFCExamples(t *testing.T) {
	const rfc5228Sec9 = `#
# Example Sieve Filter
# Declare any optional features or extension used by the script
#
require ["fileinto"];

#
# Handle messages from known mailing lists
# Move messages from IETF filter discussion list to filter mailbox
#
if header :is "Sender" "owner-ietf-mta-filters@imc.org"
        {
        fileinto "filter";  # move to "filter" mailbox
        }
#
# Keep all messages to or from people in my company
#
elsif address :DOMAIN :is ["From", "To"] "example.com"
        {
        keep;               # keep in "In" mailbox
        }

#
# Try and catch unsolicited email.  If a message is not to me,
# or it contains a subject known to be spam, file it away.
#
elsif anyof (NOT address :all :contains
               ["To", "Cc", "Bcc"] "me@example.com",
             header :matches "subject"
               ["*make*money*fast*", "*university*dipl*mas*"])
        {
        fileinto "spam";   # move to "spam" mailbox
        }
else
        {
        # Move all other (non-company) mail to "personal"
        # mailbox.
        fileinto "personal";
        }
`
	const rfc5232Boss = `require ["fileinto", "imap4flags", "variables"];
if header :contains "from" "boss@frobnitzm.example.edu" {
    setflag "flagvar" "\\Flagged";
    fileinto :flags "${flagvar}" "INBOX.From Boss";
}
`
	const rfc5232Big = `require ["fileinto", "imap4flags", "variables"];
if size :over 1K {
    addflag "MyFlags" "Big";
    if header :is "From" "boss@company.example.com" {
        addflag "MyFlags" "\\Flagged";
    }
    fileinto :flags "${MyFlags}" "INBOX.big";
}
`
	const rfc5173 = `require ["body", "fileinto"];
if body :content "text" :contains ["missile", "coordinates"] {
    fileinto "secrets";
}
elsif body :content "audio" :contains "" {
    fileinto "music";
}
`
	const mixed = "From: a@b.example\r\nTo: me@example.com\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\nContent-Type: text/plain\r\n\r\nno secrets here\r\n--X\r\nContent-Type: audio/ogg\r\nContent-Transfer-Encoding: base64\r\n\r\nT2dnUw==\r\n--X--\r\n"
	big := "From: boss@company.example.com\r\nTo: me@example.com\r\n\r\n" + string(make([]byte, 2000))
	tests := []struct{ name, src, msg, want string }{
		{"5228 §9 list", rfc5228Sec9, "Sender: owner-ietf-mta-filters@imc.org\r\nTo: me@example.com\r\n\r\n", "fileinto:filter"},
		{"5228 §9 company", rfc5228Sec9, "From: boss@EXAMPLE.com\r\nTo: me@example.com\r\n\r\n", "keep"},
		{"5228 §9 not to me", rfc5228Sec9, "From: x@spam.example\r\nTo: you@elsewhere.example\r\n\r\n", "fileinto:spam"},
		{"5228 §9 make money", rfc5228Sec9, "From: x@spam.example\r\nTo: list@other.example\r\nCc: me@example.com\r\nSubject: MAKE big MONEY really FAST\r\n\r\n", "fileinto:spam"},
		{"5228 §9 personal", rfc5228Sec9, "From: mom@home.example\r\nTo: dad@home.example\r\nCc: me@example.com\r\nSubject: hi\r\n\r\n", "fileinto:personal"},
		{"5229 list-id", rfc5229Lists, "List-ID: Coyote list <coyote-list@acme.example.com>\r\n\r\n", "fileinto:INBOX.lists.coyote-list"},
		{"5229 subject", rfc5229Lists, "Subject: [acme-users] [fwd] version 1.0 is out\r\n\r\n", "fileinto:INBOX.lists.acme-users"},
		{"5229 address **", rfc5229Lists, "To: coyote@ACME.Example.COM\r\n\r\n", "fileinto:INBOX.business.ACME.Example"},
		{"5229 none", rfc5229Lists, "To: road@runner.example.org\r\n\r\n", "keep"},
		{"5229 set text", `require ["variables", "vacation"];
set "honorific"  "Mr";
set "first_name" "Wile";
set "last_name"  "Coyote";
set "vacation" text:
Dear ${HONORIFIC} ${last_name},
I'm out, please leave a message after the meep.
.
;
vacation "${vacation}";`, "From: a@b.c\r\n\r\n", "keep vacation:Dear Mr Coyote,\nI'm out, please leave a message after the meep.\n"},
		{"5229 modifiers", `require ["variables", "fileinto"];
set "a" "juMBlEd lETteRS";
set :length "b" "${a}"; set :lower "c" "${a}"; set :upperfirst "d" "${a}";
set :upperfirst :lower "e" "${a}"; set :quotewildcard "f" "Rock*";
fileinto "${b}|${c}|${d}|${e}|${f}";`, "\r\n", `fileinto:15|jumbled letters|JuMBlEd lETteRS|Jumbled letters|Rock\*`},
		{"5230 cyrus", `require "vacation";
if header :contains "subject" "cyrus" {
    vacation "I'm out -- send mail to cyrus-bugs";
} else {
    vacation "I'm out -- call me at +1 304 555 0123";
}`, "Subject: cyrus crashed\r\n\r\n", "keep vacation:I'm out -- send mail to cyrus-bugs"},
		{"5230 subject var", `require ["vacation", "variables"];
if header :matches "subject" "*" {
    vacation :subject "Automatic response to: ${1}" "I'm away";
}`, "Subject: lunch?\r\n\r\n", "keep vacation:I'm away"},
		{"5230 addresses", `require "vacation";
vacation :days 23 :addresses ["tjs@example.edu",
                              "ts4z@landru.example.edu"]
"I'm away until October 19.
If it's an emergency, call 911, I guess." ;`, "\r\n", "keep vacation:I'm away until October 19.\nIf it's an emergency, call 911, I guess."},
		{"5230 handle + fileinto", `require ["vacation", "fileinto"];
if header :contains "subject" "lunch" {
    vacation :handle "ran-away" "I'm out and can't read my mail.";
    fileinto "INBOX.lunch";
}`, "Subject: lunch\r\n\r\n", "fileinto:INBOX.lunch vacation:I'm out and can't read my mail."},
		{"5230 from", `require "vacation";
vacation :days 7 :from "hemingway@example.com" "My dog ate my homework.";`, "\r\n", "keep vacation:My dog ate my homework."},
		{"5232 boss", rfc5232Boss, "From: boss@frobnitzm.example.edu\r\n\r\n", `fileinto:INBOX.From Boss[\Flagged]`},
		{"5232 big", rfc5232Big, big, `fileinto:INBOX.big[Big \Flagged]`},
		{"5173 audio", rfc5173, mixed, "fileinto:music"},
		{"5173 secrets", rfc5173, "Content-Type: text/plain\r\n\r\nthe coordinates are\r\n", "fileinto:secrets"},
		{"5429 reject", `require ["reject"];
if header :contains "from" "coyote@desert.example.org" {
    reject text:
I am not taking mail from you, and I don't
want your birdseed, either!
.
    ;
}`, "From: coyote@desert.example.org\r\n\r\n", "reject:I am not taking mail from you, and I don't\nwant your birdseed, either!\n"},
		{"3894 copy", `require ["copy", "fileinto"];
if header :contains "subject" "foo" { fileinto :copy "bar"; }`, "Subject: foo\r\n\r\n", "keep fileinto:bar"},
		{"5490 create", `require ["fileinto", "reject", "mailbox"];
if mailboxexists "Partners" { fileinto "Partners"; } else { reject "This message was not accepted by the Mailstore"; }`, "\r\n", "COMPILE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Compile(tc.src)
			if tc.want == "COMPILE" {
				if err == nil {
					t.Errorf("compiled; mailboxexists is not supported and must be refused")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m, err := NewMessage([]byte(tc.msg), "a@b.c", "me@example.com")
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.Run(m, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(r); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
