package wire

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeMailbox checks the mailbox name rules of decodeMailbox in both
// modes: an accepted name is valid UTF-8 without control characters (RFC
// 6855 §3) and, in modified UTF-7 mode, encodes back to what was sent; a
// refused one records why, except for a LIST pattern that merely matches
// nothing.
func FuzzDecodeMailbox(f *testing.F) {
	for _, s := range []string{"INBOX", "inbox", "&XfJT0ZAB-", "&mHl27g-/&YqVUSg-", "R&-D", "&Jjo", "&AGE-", "&AAA-",
		"已发送", "a\u2028b", "\xe5\xb7", "%/&XfJT0ZAB-*", ""} {
		f.Add(s, false, false)
		f.Add(s, true, true)
	}
	f.Fuzz(func(t *testing.T, s string, utf8Mode, pattern bool) {
		r := &Reader{UTF8: utf8Mode}
		name, ok := r.decodeMailbox(s, pattern)
		if !ok {
			if name != "" {
				t.Fatalf("%q refused but named %q", s, name)
			}
			if r.nameErr == "" && (!pattern || utf8Mode) {
				t.Fatalf("%q refused without a reason (utf8 %v, pattern %v)", s, utf8Mode, pattern)
			}
			return
		}
		if r.nameErr != "" {
			t.Fatalf("%q accepted with error %q", s, r.nameErr)
		}
		if !utf8.ValidString(name) || checkUTF8Name(name) != "" {
			t.Fatalf("%q accepted as bad name %q", s, name)
		}
		if name == "INBOX" {
			if !strings.EqualFold(s, "INBOX") {
				t.Fatalf("%q decoded to INBOX", s)
			}
			return
		}
		if !utf8Mode && EncodeMUTF7(name) != s {
			t.Fatalf("%q decoded to %q, which encodes as %q", s, name, EncodeMUTF7(name))
		}
		if utf8Mode && name != s {
			t.Fatalf("UTF-8 name %q changed to %q", s, name)
		}
	})
}
