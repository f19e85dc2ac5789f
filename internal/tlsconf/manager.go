package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

// Manager serves one certificate pair to TLS listeners. Config returns a
// tls.Config whose GetCertificate reads the current certificate on every
// handshake, so Reload takes effect for new connections without restarting
// listeners; connections already established keep their session.
type Manager struct {
	certFile, keyFile string

	reloadMu sync.Mutex // serializes Reload and SetFiles; guards the file names
	cert     atomic.Pointer[tls.Certificate]
	// alpn, if set, answers TLS-ALPN-01 validation handshakes (RFC 8737).
	alpn atomic.Pointer[func(*tls.ClientHelloInfo) *tls.Certificate]
}

// NewManager loads the PEM certificate chain in certFile and its private
// key in keyFile.
func NewManager(certFile, keyFile string) (*Manager, error) {
	m := &Manager{certFile: certFile, keyFile: keyFile}
	cert, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	m.cert.Store(cert)
	return m, nil
}

// NewStaticManager returns a Manager that always serves cert. Its Reload
// does nothing. It is for tests and for a certificate made in memory.
func NewStaticManager(cert *tls.Certificate) *Manager {
	m := &Manager{}
	m.cert.Store(cert)
	return m
}

// Config returns a new server tls.Config: TLS 1.2 or newer (RFC 8996
// deprecates 1.0 and 1.1; RFC 8314 §4.1 asks mail servers for current TLS),
// cipher suites and curves left to Go's defaults, which track current
// advice. Each call returns a fresh Config, so a caller may set fields
// such as NextProtos without affecting others.
func (m *Manager) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return m.cert.Load(), nil
		},
		GetConfigForClient: m.configForChallenge,
	}
}

// SetALPNChallenge installs f, which returns the validation certificate
// for a TLS-ALPN-01 handshake (RFC 8737 §3) or nil for any other one.
func (m *Manager) SetALPNChallenge(f func(*tls.ClientHelloInfo) *tls.Certificate) {
	m.alpn.Store(&f)
}

// configForChallenge answers an ACME validation handshake with its own
// config, negotiating acme-tls/1 (RFC 8737 §3: the server must select
// it). Other handshakes (nil) use the listener's config unchanged: adding
// acme-tls/1 to every listener's NextProtos would make Go refuse clients
// that offer other protocols, such as "imap".
func (m *Manager) configForChallenge(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	f := m.alpn.Load()
	if f == nil {
		return nil, nil
	}
	cert := (*f)(hello)
	if cert == nil {
		return nil, nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}, NextProtos: []string{"acme-tls/1"}}, nil
}

// SetFiles switches to another certificate pair (an ACME certificate
// replacing the self-signed one) and serves it from the next handshake
// on; Reload reads these files from then on. On error nothing changes.
// certFile and keyFile may be one file holding both.
func (m *Manager) SetFiles(certFile, keyFile string) error {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	cert, err := loadPair(certFile, keyFile)
	if err != nil {
		return err
	}
	m.certFile, m.keyFile = certFile, keyFile
	m.cert.Store(cert)
	return nil
}

// Certificate returns the certificate currently served, with Leaf set.
func (m *Manager) Certificate() *tls.Certificate {
	return m.cert.Load()
}

// Reload reads the certificate and key files again. On error the previous
// certificate stays in use and the error is returned; the caller logs it.
// A static Manager has no files and Reload returns nil.
func (m *Manager) Reload() error {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	if m.certFile == "" && m.keyFile == "" {
		return nil
	}
	cert, err := loadPair(m.certFile, m.keyFile)
	if err != nil {
		return err
	}
	m.cert.Store(cert)
	return nil
}

// loadPair reads and checks a certificate/key pair. Each file is read on
// its own so that the error names the file at fault.
func loadPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: read certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: read key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: load certificate %s with key %s: %w", certFile, keyFile, err)
	}
	if cert.Leaf == nil {
		// X509KeyPair sets Leaf since Go 1.23 unless GODEBUG x509keypairleaf=0.
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tlsconf: parse certificate %s: %w", certFile, err)
		}
	}
	if len(cert.Leaf.DNSNames) == 0 && len(cert.Leaf.IPAddresses) == 0 {
		// Clients verify names against SANs only (RFC 6125 §6.4.4); a
		// certificate without them can never verify, so refuse it now
		// rather than fail every handshake.
		return nil, errors.New("tlsconf: certificate " + certFile + " has no subject alternative names")
	}
	return &cert, nil
}
