package web

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	encasn1 "encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// CMS SignedData (RFC 5652 §5) of a configuration profile, signed with the
// server's TLS key so that devices show the profile as coming from the
// server's name ("Verified" when the certificate chains to a trusted root).
// Only what a profile needs: one signer, SHA-256, the certificate chain
// embedded, the content encapsulated (not detached).

var (
	oidData          = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData    = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidContentType   = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTime   = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidSHA256        = encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidRSA           = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidECDSASHA256   = encasn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
)

// signCMS wraps content in a SignedData signed by cert's key (RSA or ECDSA).
func signCMS(content []byte, cert *tls.Certificate) ([]byte, error) {
	return signCMSAt(content, cert, time.Now())
}

func signCMSAt(content []byte, cert *tls.Certificate, now time.Time) ([]byte, error) {
	if len(cert.Certificate) == 0 {
		return nil, errors.New("cms: no certificate")
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("cms: %w", err)
	}
	signer, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("cms: the private key cannot sign")
	}
	var sigAlg encasn1.ObjectIdentifier
	switch signer.Public().(type) {
	case *rsa.PublicKey:
		sigAlg = oidRSA // RFC 3370 §3.2: rsaEncryption with the digest algorithm
	case *ecdsa.PublicKey:
		sigAlg = oidECDSASHA256 // RFC 5753 §2.1.1
	default:
		return nil, fmt.Errorf("cms: unsupported key type %T", signer.Public())
	}
	digest := sha256.Sum256(content)
	attrs, err := signedAttrs(digest[:], now)
	if err != nil {
		return nil, err
	}
	// RFC 5652 §5.4: the signature covers the DER of the attributes as a
	// SET OF (tag 0x31), not the [0] IMPLICIT form they are sent in.
	attrsDigest := sha256.Sum256(attrs)
	sig, err := signer.Sign(rand.Reader, attrsDigest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("cms: signing: %w", err)
	}
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(ci *cryptobyte.Builder) { // ContentInfo
		ci.AddASN1ObjectIdentifier(oidSignedData)
		ci.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(e *cryptobyte.Builder) {
			e.AddASN1(asn1.SEQUENCE, func(sd *cryptobyte.Builder) { // SignedData
				sd.AddASN1Int64(1)
				sd.AddASN1(asn1.SET, func(s *cryptobyte.Builder) { addAlg(s, oidSHA256, true) })
				sd.AddASN1(asn1.SEQUENCE, func(eci *cryptobyte.Builder) { // EncapsulatedContentInfo
					eci.AddASN1ObjectIdentifier(oidData)
					eci.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(c *cryptobyte.Builder) {
						c.AddASN1OctetString(content)
					})
				})
				sd.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(cs *cryptobyte.Builder) {
					for _, der := range cert.Certificate {
						cs.AddBytes(der)
					}
				})
				sd.AddASN1(asn1.SET, func(sis *cryptobyte.Builder) {
					sis.AddASN1(asn1.SEQUENCE, func(si *cryptobyte.Builder) { // SignerInfo
						si.AddASN1Int64(1)
						si.AddASN1(asn1.SEQUENCE, func(ias *cryptobyte.Builder) { // IssuerAndSerialNumber
							ias.AddBytes(leaf.RawIssuer)
							ias.AddASN1BigInt(leaf.SerialNumber)
						})
						addAlg(si, oidSHA256, true)
						// [0] IMPLICIT: the SET's content under a new tag.
						si.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(a *cryptobyte.Builder) {
							a.AddBytes(setContent(attrs))
						})
						addAlg(si, sigAlg, sigAlg.Equal(oidRSA))
						si.AddASN1OctetString(sig)
					})
				})
			})
		})
	})
	return b.Bytes()
}

func addAlg(b *cryptobyte.Builder, oid encasn1.ObjectIdentifier, null bool) {
	b.AddASN1(asn1.SEQUENCE, func(a *cryptobyte.Builder) {
		a.AddASN1ObjectIdentifier(oid)
		if null {
			a.AddASN1NULL()
		}
	})
}

// signedAttrs is the DER SET OF the content-type, signing-time and
// message-digest attributes (RFC 5652 §11), sorted as DER requires.
func signedAttrs(digest []byte, now time.Time) ([]byte, error) {
	one := func(oid encasn1.ObjectIdentifier, val func(*cryptobyte.Builder)) ([]byte, error) {
		var b cryptobyte.Builder
		b.AddASN1(asn1.SEQUENCE, func(a *cryptobyte.Builder) {
			a.AddASN1ObjectIdentifier(oid)
			a.AddASN1(asn1.SET, val)
		})
		return b.Bytes()
	}
	var enc [][]byte
	for _, x := range []struct {
		oid encasn1.ObjectIdentifier
		val func(*cryptobyte.Builder)
	}{
		{oidContentType, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidData) }},
		{oidSigningTime, func(b *cryptobyte.Builder) { b.AddASN1UTCTime(now.UTC().Truncate(time.Second)) }},
		{oidMessageDigest, func(b *cryptobyte.Builder) { b.AddASN1OctetString(digest) }},
	} {
		e, err := one(x.oid, x.val)
		if err != nil {
			return nil, fmt.Errorf("cms: %w", err)
		}
		enc = append(enc, e)
	}
	// X.690 §11.6: the elements of a DER SET OF are in ascending order of
	// their encodings.
	slices.SortFunc(enc, bytes.Compare)
	var b cryptobyte.Builder
	b.AddASN1(asn1.SET, func(s *cryptobyte.Builder) {
		for _, e := range enc {
			s.AddBytes(e)
		}
	})
	return b.Bytes()
}

// setContent strips the tag and length of a DER element.
func setContent(der []byte) []byte {
	s := cryptobyte.String(der)
	var content cryptobyte.String
	if !s.ReadASN1(&content, asn1.SET) {
		panic("web: cms: signedAttrs is not a SET") // built just above
	}
	return content
}
