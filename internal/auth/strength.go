package auth

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// The password strength rule, in one place for the CLI (`youju user add`,
// `user passwd`) and the web (change password). It follows NIST SP
// 800-63B §5.1.1.2: a minimum length and a check against passwords known
// from breaches, and no composition rules (they make passwords harder to
// remember, not harder to guess).

// MinPasswordLen is the shortest password accepted, in characters.
const MinPasswordLen = 10

// commonPasswords are the 10,000 most frequent passwords of the Xato
// corpus (10 million passwords from public breaches) as ranked in
// zxcvbn's passwords list (Dropbox, MIT licence; taken from the Go port
// github.com/trustelem/zxcvbn v1.0.1, data/passwords.txt), lower-cased,
// duplicates dropped, in rank order. Regenerate with:
//
//	awk '{print tolower($1)}' data/passwords.txt | awk '!seen[$0]++' | head -10000
//
//go:embed common-passwords.txt
var commonPasswords string

// commonPasswordsZH adds the passwords that top the published analyses of
// Chinese breaches (the 2011 CSDN, Tianya and 163 leaks) and are missing
// from the Xato list: pinyin words (woaini, wodemima), 520/1314 love
// numbers, keypad patterns.
//
//go:embed common-passwords-zh.txt
var commonPasswordsZH string

var (
	commonOnce sync.Once
	commonSet  map[string]struct{}
)

func common() map[string]struct{} {
	commonOnce.Do(func() {
		commonSet = make(map[string]struct{}, 10_100)
		for _, list := range []string{commonPasswords, commonPasswordsZH} {
			for _, l := range strings.Split(list, "\n") {
				if l = strings.TrimSpace(l); l != "" {
					commonSet[l] = struct{}{}
				}
			}
		}
	})
	return commonSet
}

// Errors of CheckStrength, for callers that show their own text.
var (
	ErrPasswordShort  = fmt.Errorf("auth: password shorter than %d characters", MinPasswordLen)
	ErrPasswordCommon = errors.New("auth: password is one of the most common passwords")
	ErrPasswordLong   = fmt.Errorf("auth: password longer than %d bytes", maxPasswordLen)
	ErrPasswordUser   = errors.New("auth: password contains the user name")
)

// CheckStrength reports why pw is too weak for the account address, or
// nil. The rule: at least MinPasswordLen characters, not one of the most
// common passwords (compared without case, and also with trailing digits
// and punctuation removed, the usual way a short common word is padded to
// length: "password2024!"), and not the address's local part with a few
// characters around it.
func CheckStrength(pw, address string) error {
	if len(pw) > maxPasswordLen {
		return ErrPasswordLong
	}
	if utf8.RuneCountInString(pw) < MinPasswordLen {
		return ErrPasswordShort
	}
	lower := strings.ToLower(pw)
	set := common()
	if _, ok := set[lower]; ok {
		return ErrPasswordCommon
	}
	core := strings.TrimRightFunc(lower, func(r rune) bool { return r < 128 && !isLetter(byte(r)) })
	if core != lower && len(core) >= 4 {
		if _, ok := set[core]; ok {
			return ErrPasswordCommon
		}
	}
	if local, _, _ := strings.Cut(strings.ToLower(address), "@"); len(local) >= 3 && strings.Contains(lower, local) &&
		utf8.RuneCountInString(lower)-utf8.RuneCountInString(local) < 6 {
		return ErrPasswordUser
	}
	return nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' }
