package acme

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	xacme "golang.org/x/crypto/acme"

	"github.com/youju/youju/internal/fsutil"
)

// obtain runs one order (RFC 8555 §7.4) for names and writes the result.
func (m *Manager) obtain(ctx context.Context, names []string) error {
	key, err := m.accountKey()
	if err != nil {
		return err
	}
	cl := &xacme.Client{Key: key, DirectoryURL: m.opt.Directory, HTTPClient: m.opt.HTTPClient, UserAgent: "youju"}
	acct := &xacme.Account{}
	if m.opt.Email != "" {
		acct.Contact = []string{"mailto:" + m.opt.Email}
	}
	// Register is idempotent for a known key (§7.3.1 returns the
	// existing account); the CA's terms are accepted as certbot does
	// with --agree-tos, which the documentation says.
	if _, err := cl.Register(ctx, acct, xacme.AcceptTOS); err != nil && !errors.Is(err, xacme.ErrAccountAlreadyExists) {
		return fmt.Errorf("registering the ACME account at %s: %w", m.opt.Directory, err)
	}
	var oo []xacme.OrderOption
	if m.opt.Profile != "" {
		oo = append(oo, xacme.WithOrderIssuanceProfile(xacme.ProfileName(m.opt.Profile)))
	}
	order, err := cl.AuthorizeOrder(ctx, xacme.DomainIDs(names...), oo...)
	if err != nil {
		return fmt.Errorf("creating the order: %w", err)
	}
	for _, u := range order.AuthzURLs {
		if err := m.authorize(ctx, cl, u); err != nil {
			m.rotate()
			return err
		}
	}
	if _, err := cl.WaitOrder(ctx, order.URI); err != nil {
		return fmt.Errorf("waiting for the order: %w", err)
	}
	certKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
	}, certKey)
	if err != nil {
		return fmt.Errorf("making the CSR: %w", err)
	}
	chain, _, err := cl.CreateCertFromOrder(ctx, order, csr, true)
	if err != nil {
		return fmt.Errorf("finalising the order: %w", err)
	}
	return m.write(chain, certKey)
}

// authorize satisfies one authorization (§7.5) with the first challenge
// type we can answer, in the order of preference of this attempt.
func (m *Manager) authorize(ctx context.Context, cl *xacme.Client, u string) error {
	z, err := cl.GetAuthorization(ctx, u)
	if err != nil {
		return fmt.Errorf("fetching authorization: %w", err)
	}
	if z.Status == xacme.StatusValid {
		return nil // reused (§7.1.4)
	}
	name := z.Identifier.Value
	var chal *xacme.Challenge
	for _, typ := range m.challengeOrder() {
		i := slices.IndexFunc(z.Challenges, func(c *xacme.Challenge) bool { return c.Type == typ })
		if i >= 0 {
			chal = z.Challenges[i]
			break
		}
	}
	if chal == nil {
		return fmt.Errorf("%s: the CA offers no challenge we can answer (%v)", name, m.opt.Challenges)
	}
	switch chal.Type {
	case HTTP01:
		resp, err := cl.HTTP01ChallengeResponse(chal.Token)
		if err != nil {
			return err
		}
		m.ch.putHTTP(chal.Token, resp)
		defer m.ch.dropHTTP(chal.Token)
	case TLSALPN01:
		cert, err := cl.TLSALPN01ChallengeCert(chal.Token, name)
		if err != nil {
			return err
		}
		m.ch.putALPN(name, &cert)
		defer m.ch.dropALPN(name)
	}
	if _, err := cl.Accept(ctx, chal); err != nil {
		return fmt.Errorf("%s: accepting the %s challenge: %w", name, chal.Type, err)
	}
	if _, err := cl.WaitAuthorization(ctx, z.URI); err != nil {
		return fmt.Errorf("%s: the CA could not validate the %s challenge (is the name's A/AAAA record this server, and port %s reachable from the internet?): %w",
			name, chal.Type, map[string]string{HTTP01: "80", TLSALPN01: "443"}[chal.Type], err)
	}
	return nil
}

// write stores chain and key as one file, atomically: the listeners never
// read a chain with another key.
func (m *Manager) write(chain [][]byte, key *ecdsa.PrivateKey) error {
	if len(chain) == 0 {
		return errors.New("the CA returned no certificate")
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	var out []byte
	for _, der := range chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)
	return fsutil.WriteFileAtomic(m.CertPath(), out, 0o600)
}

// accountKey reads the account key, creating it at first use.
func (m *Manager) accountKey() (crypto.Signer, error) {
	path := filepath.Join(m.opt.Dir, AccountKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		if err := fsutil.WriteFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, fmt.Errorf("writing the ACME account key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the ACME account key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: not PEM", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: not a signing key", path)
	}
	return s, nil
}

// firstCert parses the first CERTIFICATE block of a PEM file.
func firstCert(b []byte) (*x509.Certificate, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no certificate in the file")
		}
		if blk.Type == "CERTIFICATE" {
			return x509.ParseCertificate(blk.Bytes)
		}
	}
}
