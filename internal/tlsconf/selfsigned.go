// Package tlsconf provides youju's TLS certificates: a self-signed
// certificate made at "youju init" so that every listener can offer TLS from
// the first start, and a Manager that serves a certificate pair from files
// and can reload it (after a renewal) without restarting listeners.
package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"strings"
	"time"

	"github.com/youju/youju/internal/fsutil"
)

// validity is how long a self-signed certificate lasts. Self-signed
// certificates are trusted by pinning, not by a CA, so a renewal would only
// break pinned clients; ten years outlives most installations.
const validity = 10 * 365 * 24 * time.Hour

// clockSkew backdates NotBefore so that a client whose clock is slightly
// behind the server's does not reject a freshly made certificate.
const clockSkew = 24 * time.Hour

// SelfSigned makes a self-signed ECDSA P-256 server certificate for hosts.
// Each host that parses as an IP address becomes an IP SAN, every other one
// a DNS SAN (RFC 5280 §4.2.1.6); the first host is also the subject common
// name, for old clients that still look there. The certificate is valid
// from one day ago for ten years. The returned certificate has Leaf set.
func SelfSigned(hosts []string) (*tls.Certificate, error) {
	key, der, err := selfSigned(hosts, time.Now())
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: parse generated certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// selfSigned returns the key and the DER certificate for SelfSigned.
func selfSigned(hosts []string, now time.Time) (*ecdsa.PrivateKey, []byte, error) {
	if len(hosts) == 0 {
		return nil, nil, errors.New("tlsconf: self-signed certificate needs at least one host name")
	}
	tmpl := &x509.Certificate{
		NotBefore: now.Add(-clockSkew),
		NotAfter:  now.Add(validity),
		// RFC 5280 §4.2.1.3/§4.2.1.12: an ECDSA server key only signs (the
		// handshake); it never encrypts, so no KeyEncipherment.
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, nil, errors.New("tlsconf: empty host name")
		}
		if ip, err := netip.ParseAddr(h); err == nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip.AsSlice())
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
		if tmpl.Subject.CommonName == "" {
			tmpl.Subject.CommonName = h
		}
	}
	// RFC 5280 §4.1.2.2: serial numbers are positive and at most 20 octets;
	// 128 random bits make collisions between installations negligible.
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("tlsconf: serial number: %w", err)
	}
	tmpl.SerialNumber = serial.Add(serial, big.NewInt(1))
	tmpl.Subject.Organization = []string{"youju self-signed"}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsconf: generate key: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsconf: create certificate: %w", err)
	}
	return key, der, nil
}

// WriteSelfSigned makes a certificate with SelfSigned and writes it as PEM
// to certFile (mode 0644) and its PKCS #8 private key to keyFile (mode 0600).
// Each file is written to a temporary file, synced and renamed into place,
// so a crash leaves either the old file or the complete new one, never half
// a key.
func WriteSelfSigned(certFile, keyFile string, hosts []string) error {
	cert, err := SelfSigned(hosts)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return fmt.Errorf("tlsconf: marshal key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	// The key goes first: a crash between the two renames leaves a new key
	// with the old certificate, which loading reports as a mismatch rather
	// than silently serving something.
	if err := fsutil.WriteFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(certFile, certPEM, 0o644)
}
