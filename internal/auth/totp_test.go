package auth

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"testing"
	"time"
)

// RFC 4226 Appendix D: HOTP values of the test secret for counters 0-9.
func TestHOTPRFC4226Vectors(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for i, w := range want {
		if got := hotp([]byte("12345678901234567890"), uint64(i), 6, sha1.New); got != w {
			t.Errorf("HOTP(%d) = %s, want %s", i, got, w)
		}
	}
}

// RFC 6238 Appendix B: 8-digit TOTP values for SHA-1, SHA-256, SHA-512.
func TestTOTPRFC6238Vectors(t *testing.T) {
	seeds := []struct {
		key string
		h   func() hash.Hash
	}{
		{"12345678901234567890", sha1.New},
		{"12345678901234567890123456789012", sha256.New},
		{"1234567890123456789012345678901234567890123456789012345678901234", sha512.New},
	}
	for _, c := range []struct {
		unix int64
		want [3]string
	}{
		{59, [3]string{"94287082", "46119246", "90693936"}},
		{1111111109, [3]string{"07081804", "68084774", "25091201"}},
		{1111111111, [3]string{"14050471", "67062674", "99943326"}},
		{1234567890, [3]string{"89005924", "91819424", "93441116"}},
		{2000000000, [3]string{"69279037", "90698825", "38618901"}},
		{20000000000, [3]string{"65353130", "77737706", "47863826"}},
	} {
		for i, s := range seeds {
			if got := totpAt([]byte(s.key), time.Unix(c.unix, 0), 8, s.h); got != c.want[i] {
				t.Errorf("TOTP(%d, seed %d) = %s, want %s", c.unix, i, got, c.want[i])
			}
		}
	}
}

func TestVerifyTOTP(t *testing.T) {
	secret := b32.EncodeToString([]byte("12345678901234567890"))
	at := time.Unix(1111111111, 0)
	code, err := TOTPCode(secret, at)
	if err != nil || code != "050471" { // the 8-digit vector's last 6 digits
		t.Fatalf("TOTPCode = %q, %v", code, err)
	}
	step, ok := VerifyTOTP(secret, code, at)
	if !ok || step != 1111111111/30 {
		t.Fatalf("VerifyTOTP: %d %v", step, ok)
	}
	if _, ok := VerifyTOTP(secret, code, at.Add(30*time.Second)); !ok {
		t.Error("a code one step old is refused")
	}
	if _, ok := VerifyTOTP(secret, code, at.Add(90*time.Second)); ok {
		t.Error("a code three steps old is accepted")
	}
	for _, bad := range []string{"", "12345", "0504711", "abcdef", "050472"} {
		if _, ok := VerifyTOTP(secret, bad, at); ok {
			t.Errorf("code %q accepted", bad)
		}
	}
	if _, ok := VerifyTOTP("not base32!", code, at); ok {
		t.Error("bad secret accepted")
	}
	if s := NewTOTPSecret(); len(s) != 32 {
		t.Errorf("secret %q: want 32 base32 characters", s)
	}
	if u := TOTPURI("ABC", "mail.example.test", "a@example.test"); u != "otpauth://totp/mail.example.test:a@example.test?algorithm=SHA1&digits=6&issuer=mail.example.test&period=30&secret=ABC" {
		t.Errorf("URI %s", u)
	}
}
