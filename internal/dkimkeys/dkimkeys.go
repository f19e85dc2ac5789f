// Package dkimkeys keeps the DKIM signing keys of each mail domain in the
// data directory: DATA/dkim/DOMAIN/SELECTOR.key (PKCS #8 PEM, mode 0600).
// Every domain gets two selectors, one Ed25519 (RFC 8463) and one RSA
// (RFC 6376 §3.3.3): receivers that know Ed25519 verify the small key, the
// others the RSA one, and signing with both is allowed (RFC 6376 §4.2).
package dkimkeys

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/youju/youju/internal/fsutil"
)

// The selectors youju creates. The "1" leaves room for rotation ("y2e", ...).
const (
	SelectorEd25519 = "y1e"
	SelectorRSA     = "y1r"
)

// Algorithms, as in the a= tag of a DKIM-Signature (RFC 6376 §3.5, RFC 8463 §3).
const (
	AlgEd25519 = "ed25519-sha256"
	AlgRSA     = "rsa-sha256"
)

// RSABits is the size of new RSA keys: 2048 is what RFC 8301 §3.2 asks
// verifiers to support and fits a DNS TXT record split in strings.
const RSABits = 2048

// ErrNoKeys is returned by Load for a domain without keys; it matches
// fs.ErrNotExist too.
var ErrNoKeys = fmt.Errorf("dkimkeys: no DKIM keys: %w", fs.ErrNotExist)

// Key is one DKIM signing key.
type Key struct {
	Selector  string
	Algorithm string        // AlgEd25519 or AlgRSA
	Signer    crypto.Signer // ed25519.PrivateKey or *rsa.PrivateKey
	// DNSValue is the text of the TXT record at SELECTOR._domainkey.DOMAIN
	// (RFC 6376 §3.6.1), unsplit.
	DNSValue string
}

// Dir is the directory of a domain's keys.
func Dir(dataDir, domain string) string {
	return filepath.Join(dataDir, "dkim", strings.ToLower(domain))
}

// Generate creates the keys of domain that do not exist yet; existing keys
// are kept, so calling it again is harmless (keys published in DNS must not
// change behind the administrator's back).
func Generate(dataDir, domain string) error {
	if err := checkDomain(domain); err != nil {
		return err
	}
	dir := Dir(dataDir, domain)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("dkimkeys: %w", err)
	}
	for _, sel := range []string{SelectorEd25519, SelectorRSA} {
		path := filepath.Join(dir, sel+".key")
		if _, err := os.Stat(path); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("dkimkeys: %w", err)
		}
		var key crypto.Signer
		var err error
		if sel == SelectorEd25519 {
			_, key, err = ed25519.GenerateKey(rand.Reader)
		} else {
			key, err = rsa.GenerateKey(rand.Reader, RSABits)
		}
		if err != nil {
			return fmt.Errorf("dkimkeys: generating %s: %w", sel, err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return fmt.Errorf("dkimkeys: %w", err)
		}
		data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := fsutil.WriteFileAtomic(path, data, 0o600); err != nil {
			return fmt.Errorf("dkimkeys: writing %s: %w", path, err)
		}
	}
	return nil
}

// Load reads every key of domain, sorted by selector. A domain without
// keys gives ErrNoKeys.
func Load(dataDir, domain string) ([]Key, error) {
	if err := checkDomain(domain); err != nil {
		return nil, err
	}
	dir := Dir(dataDir, domain)
	names, err := filepath.Glob(filepath.Join(dir, "*.key"))
	if err != nil {
		return nil, fmt.Errorf("dkimkeys: %w", err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w for %s in %s", ErrNoKeys, domain, dir)
	}
	sort.Strings(names)
	var keys []Key
	for _, name := range names {
		k, err := loadKey(name)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func loadKey(path string) (Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("dkimkeys: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return Key{}, fmt.Errorf("dkimkeys: %s: not a PEM \"PRIVATE KEY\"", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return Key{}, fmt.Errorf("dkimkeys: %s: %w", path, err)
	}
	k := Key{Selector: strings.TrimSuffix(filepath.Base(path), ".key")}
	switch key := parsed.(type) {
	case ed25519.PrivateKey:
		k.Algorithm, k.Signer = AlgEd25519, key
		// RFC 8463 §4.2: p= is the raw 32-byte public key.
		k.DNSValue = "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	case *rsa.PrivateKey:
		if key.N.BitLen() < 1024 {
			// RFC 8301 §3.2: verifiers must not accept keys under 1024 bits.
			return Key{}, fmt.Errorf("dkimkeys: %s: RSA key of %d bits is too small", path, key.N.BitLen())
		}
		spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
		if err != nil {
			return Key{}, fmt.Errorf("dkimkeys: %s: %w", path, err)
		}
		k.Algorithm, k.Signer = AlgRSA, key
		// RFC 6376 §3.6.1: p= is the base64 of the DER SubjectPublicKeyInfo.
		k.DNSValue = "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(spki)
	default:
		return Key{}, fmt.Errorf("dkimkeys: %s: unsupported key type %T", path, parsed)
	}
	return k, nil
}

// checkDomain refuses names that could escape the key directory.
func checkDomain(d string) error {
	if d == "" || len(d) > 253 || strings.HasPrefix(d, ".") || strings.Contains(d, "..") {
		return fmt.Errorf("dkimkeys: bad domain name %q", d)
	}
	for _, r := range d {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return fmt.Errorf("dkimkeys: bad domain name %q", d)
		}
	}
	return nil
}
