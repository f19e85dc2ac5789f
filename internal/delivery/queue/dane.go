package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/youju/youju/internal/dnsresolver"
)

// TLSA certificate usages, selectors and matching types (RFC 7218 §2).
const (
	usageDANETA  = 2
	usageDANEEE  = 3
	selectorCert = 0
	selectorSPKI = 1
	matchFull    = 0
	matchSHA256  = 1
	matchSHA512  = 2
)

// danePolicy is what secure TLSA records say about one MX host: TLS is
// mandatory (RFC 7672 §2.2: no fallback to plaintext, nor to an
// unauthenticated session when usable records exist) and the server's
// certificate must match one of records.
type danePolicy struct {
	records []dnsresolver.TLSA // the usable ones: DANE-TA and DANE-EE
	names   []string           // reference identifiers for DANE-TA (RFC 7672 §3.2.2)
	now     func() time.Time
}

// errDANE marks a certificate that matches none of the TLSA records.
var errDANE = errors.New("DANE: certificate matches no TLSA record")

// dane looks up the TLSA records of MX host host (RFC 7672 §2.2.1: the
// TLSA base domain is the MX host name, port 25). It returns nil when DANE
// does not apply: the resolver is not declared validating, the MX RRset
// of domain or the address records of host are not DNSSEC-secure
// (§2.2: then TLS is opportunistic), there are no records, or the TLSA
// answer is not secure (an insecure TLSA RRset is ignored, §2.2). A
// lookup that fails is an error: the host must not be used without the
// records it may have (§2.1.1).
func (q *Queue) dane(ctx context.Context, host, domain string) (*danePolicy, error) {
	tr, ok := q.opt.Resolver.(dnsresolver.TLSAResolver)
	if !ok {
		return nil, nil
	}
	bases, err := q.daneBases(ctx, host, domain)
	if err != nil || len(bases) == 0 {
		return nil, err
	}
	var recs []dnsresolver.TLSA
	base := ""
	for _, b := range bases {
		r, secure, err := tr.LookupTLSA(ctx, "_25._tcp."+b)
		if dnsresolver.IsNotFound(err) || (err == nil && !secure) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("TLSA lookup for %s: %w", b, err)
		}
		recs, base = r, b
		break
	}
	if base == "" {
		return nil, nil
	}
	// RFC 7672 §3.2.2: the reference identifiers are the TLSA base
	// domain, the MX host name and the next-hop domain.
	p := &danePolicy{names: []string{base}, now: q.opt.Now}
	for _, n := range []string{host, domain} {
		if !slices.ContainsFunc(p.names, func(x string) bool { return strings.EqualFold(x, n) }) {
			p.names = append(p.names, n)
		}
	}
	for _, r := range recs {
		// RFC 7672 §3.1.3: PKIX-TA(0) and PKIX-EE(1) are unusable for
		// SMTP; unknown selectors and matching types too (RFC 6698 §4.1).
		if (r.Usage == usageDANETA || r.Usage == usageDANEEE) && r.Selector <= selectorSPKI && r.MatchingType <= matchSHA512 {
			p.records = append(p.records, r)
		}
	}
	return p, nil
}

// daneBases returns the TLSA base domains to try for host, in order, or
// none when DANE does not apply. RFC 7672 §2.2: the MX RRset of domain
// (or, for an implicit MX, its secure denial) and the address records
// of host must be DNSSEC-secure; §2.2.3: when host is an alias reached
// through a secure CNAME chain, the expanded name is tried first, then
// host itself. A resolver that cannot tell (not a SecureResolver) is
// trusted for the TLSA answer alone, as before this check.
func (q *Queue) daneBases(ctx context.Context, host, domain string) ([]string, error) {
	sr, ok := q.opt.Resolver.(dnsresolver.SecureResolver)
	if !ok {
		return []string{host}, nil
	}
	secure, _, err := sr.LookupSecure(ctx, domain, "MX")
	if err != nil && !dnsresolver.IsNotFound(err) {
		return nil, fmt.Errorf("MX DNSSEC check for %s: %w", domain, err)
	}
	if !secure {
		return nil, nil
	}
	secure, target, err := sr.LookupSecure(ctx, host, "A")
	if dnsresolver.IsNotFound(err) {
		secure, target, err = sr.LookupSecure(ctx, host, "AAAA")
	}
	if err != nil {
		return nil, fmt.Errorf("address DNSSEC check for %s: %w", host, err)
	}
	if !secure {
		return nil, nil
	}
	if target != "" && !strings.EqualFold(target, host) {
		return []string{target, host}, nil
	}
	return []string{host}, nil
}

// verify checks the server's chain against the records; it is the
// tls.Config VerifyConnection of a DANE session. With no usable record
// the session must still be encrypted but is not authenticated
// (RFC 7672 §2.2: "mandatory unauthenticated TLS").
func (p *danePolicy) verify(cs tls.ConnectionState) error {
	if len(p.records) == 0 {
		return nil
	}
	chain := cs.PeerCertificates
	if len(chain) == 0 {
		return errDANE
	}
	for _, r := range p.records {
		switch r.Usage {
		case usageDANEEE:
			// RFC 7672 §3.1.1: DANE-EE(3) binds the key; neither the names
			// nor the validity dates of the certificate are checked.
			if tlsaMatches(r, chain[0]) {
				return nil
			}
		case usageDANETA:
			if p.verifyTA(r, chain) == nil {
				return nil
			}
		}
	}
	return errDANE
}

// verifyTA checks a DANE-TA(2) record (RFC 7672 §3.1.2): a certificate of
// the chain the server sent (not the leaf) matches the record, the leaf
// chains to it, and the leaf carries one of the reference names.
func (p *danePolicy) verifyTA(r dnsresolver.TLSA, chain []*x509.Certificate) error {
	for i := 1; i < len(chain); i++ {
		if !tlsaMatches(r, chain[i]) {
			continue
		}
		roots := x509.NewCertPool()
		roots.AddCert(chain[i])
		inter := x509.NewCertPool()
		for _, c := range chain[1:i] {
			inter.AddCert(c)
		}
		opts := x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: p.now(),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
		if _, err := chain[0].Verify(opts); err != nil {
			return err
		}
		for _, n := range p.names {
			if chain[0].VerifyHostname(n) == nil {
				return nil
			}
		}
		return fmt.Errorf("DANE-TA: certificate names none of %s", strings.Join(p.names, ", "))
	}
	return errDANE
}

// tlsaMatches compares one certificate with a record's selector and
// matching type (RFC 6698 §2.1.2, §2.1.3).
func tlsaMatches(r dnsresolver.TLSA, c *x509.Certificate) bool {
	var data []byte
	switch r.Selector {
	case selectorCert:
		data = c.Raw
	case selectorSPKI:
		data = c.RawSubjectPublicKeyInfo
	default:
		return false
	}
	switch r.MatchingType {
	case matchFull:
		return bytes.Equal(data, r.Data)
	case matchSHA256:
		h := sha256.Sum256(data)
		return bytes.Equal(h[:], r.Data)
	case matchSHA512:
		h := sha512.Sum512(data)
		return bytes.Equal(h[:], r.Data)
	}
	return false
}
