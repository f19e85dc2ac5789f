package mailauth

import (
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
)

// dkimKey is a parsed DKIM key record (RFC 6376 §3.6.1).
type dkimKey struct {
	algo   string   // k=: "rsa" or "ed25519"
	hashes []string // h=: acceptable hash algorithms; nil: any
	strict bool     // t=s: i= must be in d= itself, not a subdomain
	rsa    *rsa.PublicKey
	ed     ed25519.PublicKey
}

// parseKeyRecord parses the text of a key's TXT record. Its errors are
// PERMFAIL (RFC 6376 §6.1.2).
func parseKeyRecord(txt string) (*dkimKey, error) {
	tags, err := parseTagList([]byte(txt))
	if err != nil {
		return nil, fmt.Errorf("key record: %w", err)
	}
	if v, ok := tags.get("v"); ok && string(v) != "DKIM1" {
		return nil, errString("incompatible key record version")
	}
	p, ok := tags.get("p")
	if !ok {
		return nil, errString("key record without p=")
	}
	if len(p) == 0 {
		// RFC 6376 §3.6.1: an empty p= means the key was revoked.
		return nil, errString("key revoked")
	}
	der, err := base64.StdEncoding.DecodeString(stripFWS(p))
	if err != nil {
		return nil, fmt.Errorf("key record p=: %w", err)
	}
	k := &dkimKey{}
	switch kt, _ := tags.get("k"); string(kt) {
	case "rsa", "":
		if err := k.setRSA(der); err != nil {
			return nil, err
		}
	case "ed25519":
		// RFC 8463 §4.2: the raw 32-byte public key.
		if len(der) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("ed25519 key of %d bytes", len(der))
		}
		k.algo, k.ed = "ed25519", ed25519.PublicKey(der)
	default:
		return nil, errString("unsupported key type")
	}
	if h, ok := tags.get("h"); ok {
		k.hashes = strings.Split(stripFWS(h), ":")
	}
	if s, ok := tags.get("s"); ok && !hasItem(stripFWS(s), "*") && !hasItem(stripFWS(s), "email") {
		return nil, errString("key not for email")
	}
	if t, ok := tags.get("t"); ok {
		k.strict = hasItem(stripFWS(t), "s")
	}
	return k, nil
}

// setRSA reads an RSA public key: SubjectPublicKeyInfo, or a bare
// RSAPublicKey (erratum 3017 of RFC 6376 allows both).
func (k *dkimKey) setRSA(der []byte) error {
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		pk, err1 := x509.ParsePKCS1PublicKey(der)
		if err1 != nil {
			return fmt.Errorf("key record p=: %w", err)
		}
		pub = pk
	}
	rp, ok := pub.(*rsa.PublicKey)
	if !ok {
		return errString("key record p= is not an RSA key")
	}
	// RFC 8301 §3.2: keys under 1024 bits MUST NOT be considered valid;
	// verifiers must handle up to 4096. Larger than maxRSABits, a
	// sender's DNS could make each signature cost milliseconds of CPU.
	if bits := rp.N.BitLen(); bits < 1024 || bits > maxRSABits {
		return fmt.Errorf("RSA key of %d bits", bits)
	}
	k.algo, k.rsa = "rsa", rp
	return nil
}

// hasItem: list is colon-separated and has item.
func hasItem(list, item string) bool {
	for p := range strings.SplitSeq(list, ":") {
		if p == item {
			return true
		}
	}
	return false
}

type errString string

func (e errString) Error() string { return string(e) }

// maxRSABits is the largest RSA key accepted.
const maxRSABits = 8192

// keyCacheSize bounds the parsed key records kept, and maxCachedRecord
// the length of a record kept (an RSA-8192 record is about 1.5 KB), so
// that the cache holds at most a few MB.
const (
	keyCacheSize    = 4096
	maxCachedRecord = 4096
)

type keyEntry struct {
	key *dkimKey
	err error
}

// parsedKeys keeps parsed key records by their text, valid or not. It
// sits behind the DNS cache (dnsresolver.Cache keeps the TXT answers,
// and "not found", for their TTL): whatever record DNS returns, its
// parse is done once, not per message (x509 and RSA key checks cost
// more than hashing a 10 KB body).
var parsedKeys = newParseCache(keyCacheSize, maxCachedRecord, func(txt string) keyEntry {
	k, err := parseKeyRecord(txt)
	return keyEntry{k, err}
})
