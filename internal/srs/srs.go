// Package srs implements the Sender Rewriting Scheme: when an alias
// forwards mail to another domain, the envelope sender is rewritten into
// an address of ours, so that the receiver's SPF check (RFC 7208) sees our
// domain, which authorises us, and a bounce comes back to us; we then
// check the address and send the bounce on to the original sender.
//
// The address forms are those of Shevek's SRS paper, as libsrs2, postsrsd
// and Postfix setups use them:
//
//	SRS0=HHHHHHHH=TT=orig-domain=orig-local@srs-domain
//	SRS1=HHHHHHHH=first-forwarder==HHHHHHHH=TT=orig-domain=orig-local@srs-domain
//
// TT is the day of signing (days since 1970, modulo 1024) in two base32
// characters; HHHHHHHH is HMAC-SHA256 with a secret of ours over the rest,
// lower-cased (some MTAs change the case of addresses), truncated to 40
// bits and written in base32, so that it survives case changes too. An
// SRS0 address is valid MaxAge days; SRS1 (mail we forward that another
// forwarder had rewritten already) goes back one hop to that forwarder,
// which checks its own SRS0 part.
//
// Forwarding changes only the envelope: the message, and so its DKIM
// signature, is untouched.
package srs

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/youju/youju/internal/fsutil"
)

// Errors of Reverse.
var (
	ErrNotSRS  = errors.New("srs: not an SRS address")
	ErrBadHash = errors.New("srs: hash does not match")
	ErrExpired = errors.New("srs: address too old")
	ErrSyntax  = errors.New("srs: malformed SRS address")
)

// DefaultMaxAge is how long a rewritten sender takes bounces: longer than
// any queue's retry lifetime (5 days is usual, RFC 5321 §4.5.4.1 asks for
// at least 4-5 days).
const DefaultMaxAge = 21

const (
	hashLen  = 8    // base32 characters: 40 bits
	tsMod    = 1024 // two base32 characters
	maxLocal = 64   // RFC 5321 §4.5.3.1.1
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

const b32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// Rewriter signs and checks SRS addresses of one domain.
type Rewriter struct {
	// Domain is the domain of the SRS addresses (ours, with an SPF
	// record that authorises us).
	Domain string
	// MaxAge is how many days an SRS0 address is valid (default 21).
	MaxAge int
	// Now is the clock (tests).
	Now  func() time.Time
	keys [][]byte // keys[0] signs; every key verifies (rotation)
}

// New returns a Rewriter with the given secrets (the first one signs).
func New(domain string, keys ...[]byte) (*Rewriter, error) {
	if len(keys) == 0 || len(keys[0]) < 16 {
		return nil, errors.New("srs: need a secret of at least 16 bytes")
	}
	return &Rewriter{Domain: strings.ToLower(domain), keys: keys}, nil
}

// LoadKeyFile reads the secrets from path, one hex-encoded secret per
// line (the first signs, the others still verify: put a new one first to
// rotate), creating the file with one random 32-byte secret, mode 0600,
// when it does not exist.
func LoadKeyFile(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k := make([]byte, 32)
		rand.Read(k)
		if err := fsutil.WriteFileAtomic(path, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("srs: creating the secret: %w", err)
		}
		return [][]byte{k}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("srs: %w", err)
	}
	var keys [][]byte
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := hex.DecodeString(line)
		if err != nil || len(k) < 16 {
			return nil, fmt.Errorf("srs: %s: each line must be a hex secret of at least 16 bytes", path)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("srs: %s holds no secret", path)
	}
	return keys, nil
}

func (r *Rewriter) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Rewriter) maxAge() int {
	if r.MaxAge > 0 {
		return r.MaxAge
	}
	return DefaultMaxAge
}

// hash is the truncated HMAC of parts with key, lower-cased.
func hash(key []byte, parts ...string) string {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(strings.ToLower(p)))
		m.Write([]byte{0}) // no ambiguity between "ab","c" and "a","bc"
	}
	return b32.EncodeToString(m.Sum(nil))[:hashLen]
}

// timestamp is day modulo 1024 in two base32 characters.
func timestamp(t time.Time) string {
	d := int(t.Unix()/86400) % tsMod
	return string([]byte{b32Alphabet[d>>5], b32Alphabet[d&31]})
}

// IsSRS reports whether a local part looks like an SRS address.
func IsSRS(local string) bool {
	if len(local) < 5 {
		return false
	}
	p := strings.ToUpper(local[:4])
	return (p == "SRS0" || p == "SRS1") && strings.ContainsRune("=+-", rune(local[4]))
}

// Forward returns the envelope sender to use when forwarding mail from
// sender: "" (the null sender of a bounce) stays "", an address of the
// SRS domain itself stays as it is, an SRS0 or SRS1 address of another
// forwarder becomes SRS1, any other address SRS0. When the result would
// be longer than SMTP allows for a local part (64 octets), sender is
// returned unchanged: the bounce could not come back anyway.
func (r *Rewriter) Forward(sender string) string {
	at := strings.LastIndexByte(sender, '@')
	if sender == "" || at <= 0 {
		return sender
	}
	local, domain := sender[:at], strings.ToLower(sender[at+1:])
	if domain == r.Domain || domain == "" || strings.ContainsAny(domain, "=@") {
		return sender // ours, or not an address SRS can carry
	}
	var out string
	switch {
	case IsSRS(local) && strings.EqualFold(local[:4], "SRS0"):
		// First forwarder's SRS0: keep it, name its domain.
		rest := local[4:]
		out = "SRS1=" + hash(r.keys[0], domain, rest) + "=" + domain + "=" + rest
	case IsSRS(local):
		// Already SRS1: keep its first forwarder, re-sign.
		f := strings.SplitN(local[5:], "=", 3) // hash, first-forwarder, rest
		if len(f) != 3 {
			return sender
		}
		out = "SRS1=" + hash(r.keys[0], f[1], f[2]) + "=" + f[1] + "=" + f[2]
	default:
		ts := timestamp(r.now())
		out = "SRS0=" + hash(r.keys[0], ts, domain, local) + "=" + ts + "=" + domain + "=" + local
	}
	if len(out) > maxLocal {
		return sender
	}
	return out + "@" + r.Domain
}

// Reverse checks an SRS address of ours (the recipient of a bounce) and
// returns the address to send the bounce on to: the original sender for
// SRS0, the first forwarder's SRS0 address for SRS1.
func (r *Rewriter) Reverse(addr string) (string, error) {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return "", ErrNotSRS
	}
	local := addr[:at]
	if !IsSRS(local) {
		return "", ErrNotSRS
	}
	if strings.EqualFold(local[:4], "SRS1") {
		// SRS1=HASH=first-forwarder==HASH=TT=domain=local
		f := strings.SplitN(local[5:], "=", 3)
		wellFormed := len(f) == 3 && f[1] != "" && len(f[2]) > 1 && strings.ContainsRune("=+-", rune(f[2][0]))
		if !wellFormed {
			return "", ErrSyntax
		}
		if !r.verify(f[0], f[1], f[2]) {
			return "", ErrBadHash
		}
		return "SRS0" + f[2] + "@" + f[1], nil
	}
	// SRS0=HASH=TT=domain=local; the original local part may hold "=".
	f := strings.SplitN(local[5:], "=", 4)
	if len(f) != 4 || len(f[1]) != 2 || f[2] == "" || f[3] == "" {
		return "", ErrSyntax
	}
	if !r.verify(f[0], f[1], f[2], f[3]) {
		return "", ErrBadHash
	}
	ts, ok := decodeTS(f[1])
	if !ok {
		return "", ErrSyntax
	}
	today := int(r.now().Unix()/86400) % tsMod
	if age := (today - ts + tsMod) % tsMod; age > r.maxAge() {
		return "", ErrExpired
	}
	return f[3] + "@" + f[2], nil
}

// verify compares h with the hash of parts under every key, in constant
// time and case-insensitively.
func (r *Rewriter) verify(h string, parts ...string) bool {
	if len(h) != hashLen {
		return false
	}
	got := []byte(strings.ToUpper(h))
	for _, k := range r.keys {
		if hmac.Equal(got, []byte(hash(k, parts...))) {
			return true
		}
	}
	return false
}

func decodeTS(s string) (int, bool) {
	s = strings.ToUpper(s)
	hi, lo := bytes.IndexByte([]byte(b32Alphabet), s[0]), bytes.IndexByte([]byte(b32Alphabet), s[1])
	if hi < 0 || lo < 0 {
		return 0, false
	}
	return hi<<5 | lo, true
}
