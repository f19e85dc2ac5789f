package sieve

import (
	"testing"
	"time"
)

var timeZero = time.Unix(0, 0)

func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`require ["fileinto","variables"]; if header :matches "Subject" "*" { fileinto "${1}"; }`,
		"require \"vacation\"; vacation :days 1 text:\nx\n.\n;",
		`if anyof (size :over 1K, not exists "x") { discard; } else { keep; }`,
		`/* x */ if true { stop; }`,
		`require ["encoded-character", "fileinto"]; fileinto "${hex:24 7b}${unicode:53d1 0}${hex:4${hex:30}}";`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		s, err := Compile(src)
		if err == nil && s == nil {
			t.Fatal("nil script without error")
		}
		if err != nil {
			if _, ok := err.(*CompileError); !ok {
				t.Fatalf("error %T", err)
			}
		}
	})
}

// FuzzRun runs fuzzed scripts over fuzzed messages: it must end, within
// its step limit, without panicking.
func FuzzRun(f *testing.F) {
	f.Add(`require ["variables","body","imap4flags","relational"]; if header :matches "subject" "*a?b*" { set "x" "${1}"; addflag "${x}"; } if body :text :contains "x" { discard; } if address :count "gt" "to" "1" { keep; }`,
		"Subject: aXbY\r\nTo: a@b, c@d\r\n\r\nx\r\n")
	f.Add(`require "vacation"; vacation "x";`, "From: a@b\r\n\r\n")
	f.Add(`require "body"; if body :content ["multipart", "message/rfc822", "text/html"] :contains "x" { discard; }`,
		"Content-Type: multipart/mixed; boundary=b\r\n\r\npro\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\ny\r\n--b--\r\nepi\r\n")
	f.Fuzz(func(t *testing.T, src, msg string) {
		s, err := Compile(src)
		if err != nil {
			return
		}
		m, err := NewMessage([]byte(msg), "a@b.c", "d@e.f")
		if err != nil {
			return
		}
		r, err := s.Run(m, Options{MaxSteps: 20000})
		if err == nil && r == nil {
			t.Fatal("nil result without error")
		}
	})
}
