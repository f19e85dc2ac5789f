package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckStrength(t *testing.T) {
	for _, c := range []struct {
		pw, addr string
		want     error
	}{
		{"short", "a@example.org", ErrPasswordShort},
		{"123456789", "a@example.org", ErrPasswordShort},
		{"密码密码密码密码密", "a@example.org", ErrPasswordShort}, // 9 characters, 27 bytes
		{"1234567890", "a@example.org", ErrPasswordCommon},
		{"QWERTYUIOP", "a@example.org", ErrPasswordCommon},   // case does not help
		{"1qaz2wsx3edc", "a@example.org", ErrPasswordCommon}, // from the Chinese supplement
		{"woaini1314", "a@example.org", ErrPasswordCommon},
		{"password2024!", "a@example.org", ErrPasswordCommon}, // padded common word
		{"Sunshine123456", "a@example.org", ErrPasswordCommon},
		{"zhangwei2024", "zhangwei@example.org", ErrPasswordUser},
		{strings.Repeat("x", maxPasswordLen+1), "a@example.org", ErrPasswordLong},
		{"correct horse battery staple", "a@example.org", nil},
		{"Tr0ub4dor&3x", "a@example.org", nil},
		{"春眠不觉晓处处闻啼鸟", "a@example.org", nil},                    // 10 characters
		{"zhangwei-walks-the-dog", "zhangwei@example.org", nil}, // long enough around the name
	} {
		if got := CheckStrength(c.pw, c.addr); !errors.Is(got, c.want) {
			t.Errorf("CheckStrength(%q, %q) = %v, want %v", c.pw, c.addr, got, c.want)
		}
	}
}

// The embedded lists are what the doc comment says: 10,000 ranked entries
// of the Xato list, lower-case, no blanks.
func TestCommonPasswordList(t *testing.T) {
	lines := strings.Split(strings.TrimSuffix(commonPasswords, "\n"), "\n")
	if len(lines) != 10000 {
		t.Fatalf("common-passwords.txt has %d lines, want 10000", len(lines))
	}
	if lines[0] != "123456" || lines[1] != "password" {
		t.Errorf("list does not start with the top-ranked passwords: %q", lines[:2])
	}
	for i, l := range lines {
		if l == "" || l != strings.ToLower(l) || strings.TrimSpace(l) != l {
			t.Fatalf("line %d %q: not a lower-case, trimmed password", i+1, l)
		}
	}
	if n := len(common()); n < 10000 {
		t.Errorf("set has %d entries", n)
	}
}
