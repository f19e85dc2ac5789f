package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"hash"
	"net/url"
	"strings"
	"time"
)

// TOTP, the time-based one-time passwords of authenticator apps (RFC 6238
// over HOTP, RFC 4226), as the optional second factor of the web sign-in.
// Parameters are the ones every app supports: HMAC-SHA-1, 6 digits, 30 s
// steps from the Unix epoch (RFC 6238 §4.1, §4.2).

const (
	totpStep   = 30 // seconds, X of RFC 6238 §4.1
	totpDigits = 6
	// totpSkew is how many steps before and after the current one a code
	// is accepted: RFC 6238 §5.2 recommends at most one step of network
	// delay; a phone's clock a little off is the common case.
	totpSkew = 1
)

// b32 is the secret encoding of otpauth URIs: base32 without padding.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPSecret returns a random 160-bit secret (RFC 4226 §4 R6 asks for
// at least 128 bits; 160 is the HMAC-SHA-1 output length it recommends),
// base32-encoded.
func NewTOTPSecret() string {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	return b32.EncodeToString(b)
}

// hotp is RFC 4226 §5.3: HMAC of the 8-byte big-endian counter, dynamic
// truncation, modulo 10^digits.
func hotp(key []byte, counter uint64, digits int, h func() hash.Hash) string {
	var c [8]byte
	binary.BigEndian.PutUint64(c[:], counter)
	m := hmac.New(h, key)
	m.Write(c[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	code := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, code%mod)
}

// totpAt is RFC 6238 §4.2: HOTP of T = floor(unix time / X).
func totpAt(key []byte, t time.Time, digits int, h func() hash.Hash) string {
	return hotp(key, uint64(t.Unix()/totpStep), digits, h)
}

// TOTPCode returns the current code of a base32 secret (tests, and the
// setup page's check that the app was set up right).
func TOTPCode(secret string, t time.Time) (string, error) {
	key, err := b32.DecodeString(strings.ToUpper(secret))
	if err != nil {
		return "", fmt.Errorf("auth: TOTP secret: %w", err)
	}
	return totpAt(key, t, totpDigits, sha1.New), nil
}

// VerifyTOTP checks code against a base32 secret at time t and returns
// the time step it matched. The caller must refuse a step at or below the
// last one accepted for the account (RFC 6238 §5.2: no code twice).
func VerifyTOTP(secret, code string, t time.Time) (step int64, ok bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	key, err := b32.DecodeString(strings.ToUpper(secret))
	if err != nil || len(code) != totpDigits {
		return 0, false
	}
	now := t.Unix() / totpStep
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		want := hotp(key, uint64(now+d), totpDigits, sha1.New)
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return now + d, true
		}
	}
	return 0, false
}

// TOTPURI is the otpauth:// URI (the de facto format of Google
// Authenticator's "Key Uri Format") that apps import, for issuer and
// account.
func TOTPURI(secret, issuer, account string) string {
	v := url.Values{}
	v.Set("secret", secret)
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", "30")
	return "otpauth://totp/" + url.PathEscape(issuer+":"+account) + "?" + v.Encode()
}
