package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argon2id parameters. RFC 9106 §4 recommends t=3, m=64 MiB for memory-
// constrained uses; we take t=2, m=19 MiB, p=1 (the OWASP minimum) because a
// mail server verifies a password on every client connection (phones poll
// IMAP and POP3 every few minutes) and must stay responsive on 2 cores.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// maxPasswordLen bounds the work a client can cause with one password.
const maxPasswordLen = 1024

var b64 = base64.RawStdEncoding

// HashPassword returns the argon2id hash of pw in the PHC string format
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
func HashPassword(pw string) (string, error) {
	if pw == "" {
		return "", errors.New("auth: empty password")
	}
	if len(pw) > maxPasswordLen {
		return "", fmt.Errorf("auth: password longer than %d bytes", maxPasswordLen)
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches the PHC hash. Hashes made with
// other parameters still verify (parameters are read from the string).
func VerifyPassword(hash, pw string) bool {
	if len(pw) > maxPasswordLen || pw == "" {
		return false
	}
	p, err := parsePHC(hash)
	if err != nil {
		return false
	}
	key := argon2.IDKey([]byte(pw), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1
}

type phc struct {
	time, memory uint32
	threads      uint8
	salt, key    []byte
}

func parsePHC(s string) (phc, error) {
	var p phc
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" {
		return p, errors.New("auth: not an argon2id hash")
	}
	var v int
	if _, err := fmt.Sscanf(f[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, errors.New("auth: unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(f[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &p.threads); err != nil {
		return p, errors.New("auth: bad argon2 parameters")
	}
	// Bound what a corrupted or hostile hash can make us spend.
	if p.memory == 0 || p.memory > 1<<18 || p.time == 0 || p.time > 16 || p.threads == 0 {
		return p, errors.New("auth: argon2 parameters out of range")
	}
	var err error
	if p.salt, err = b64.DecodeString(f[4]); err != nil {
		return p, errors.New("auth: bad salt")
	}
	if p.key, err = b64.DecodeString(f[5]); err != nil || len(p.key) < 16 || len(p.key) > 64 {
		return p, errors.New("auth: bad key")
	}
	return p, nil
}

// GeneratePassword returns a random password of n characters from an
// alphabet without look-alikes (0/O, 1/l/I), easy to type on a phone.
func GeneratePassword(n int) string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, n)
	rnd := make([]byte, n)
	if _, err := rand.Read(rnd); err != nil {
		panic("auth: crypto/rand failed: " + err.Error()) // the OS has no entropy: nothing is safe
	}
	for i := range b {
		// 256 % 56 != 0 gives a slight bias; rejection sampling removes it.
		for rnd[i] >= byte(256-256%len(alphabet)) {
			var one [1]byte
			_, _ = rand.Read(one[:])
			rnd[i] = one[0]
		}
		b[i] = alphabet[int(rnd[i])%len(alphabet)]
	}
	return string(b)
}
