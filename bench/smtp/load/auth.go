package load

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/youju/youju/internal/dnsresolver"
)

// Signed makes every message of a run carry a valid DKIM signature
// (RFC 6376, RSA-2048, relaxed/relaxed, as most senders sign) by Domain
// with Selector. Signing costs the client a private-key operation, so it
// is done once: every message of the run has the same body and the same
// From and To, which are all the signature covers (h=From:To); the
// Subject and Message-ID that make each message unique are unsigned.
// The receiver verifies each message in full (key, body hash, header
// hash).
type Signed struct {
	Domain, Selector string

	once      sync.Once
	key       *rsa.PrivateKey
	sig, body []byte
	err       error
}

// PublicTXT is the DKIM key record to publish at
// Selector._domainkey.Domain (RFC 6376 §3.6.1).
func (s *Signed) PublicTXT() (string, error) {
	if err := s.init(); err != nil {
		return "", err
	}
	der, err := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	if err != nil {
		return "", err
	}
	return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
}

func (s *Signed) init() error {
	s.once.Do(func() { s.key, s.err = rsa.GenerateKey(rand.Reader, 2048) })
	return s.err
}

// prepare signs the shared part of cfg's messages once.
func (s *Signed) prepare(cfg Config) error {
	if err := s.init(); err != nil {
		return err
	}
	if s.sig != nil {
		return nil
	}
	fromTo := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\n", cfg.From, cfg.To)
	s.body = filler(nil, cfg.Size-len(fromTo)-200) // room for the signature and the unsigned fields
	var out bytes.Buffer
	err := dkim.Sign(&out, strings.NewReader(fromTo+"\r\n"+string(s.body)), &dkim.SignOptions{
		Domain: s.Domain, Selector: s.Selector, Signer: s.key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: []string{"From", "To"},
	})
	if err != nil {
		return err
	}
	// out is the DKIM-Signature field, then the message signed.
	s.sig = out.Bytes()[:out.Len()-len(fromTo)-2-len(s.body)]
	return nil
}

// message is message n of connection conn: signature, signed fields,
// unsigned unique fields, shared body.
func (s *Signed) message(conn, n int, cfg Config) []byte {
	b := make([]byte, 0, len(s.sig)+len(s.body)+256)
	b = append(b, s.sig...)
	b = fmt.Appendf(b, "From: <%s>\r\nTo: <%s>\r\nSubject: load %d\r\nMessage-ID: <%d.%d@loadgen.test>\r\n\r\n", cfg.From, cfg.To, n, conn, n)
	return append(b, s.body...)
}

// filler appends about size bytes of random hex lines (no line starts
// with a dot), ending with CRLF.
func filler(b []byte, size int) []byte {
	var rnd [39]byte
	rand.Read(rnd[:])
	line := fmt.Sprintf("%x\r\n", rnd) // 80 bytes
	start := len(b)
	for len(b)-start+len(line)+2 <= size {
		b = append(b, line...)
	}
	for len(b)-start < size-2 {
		b = append(b, 'x')
	}
	return append(b, "\r\n"...)
}

// SlowDNS is a dnsresolver.Fake whose every answer takes Delay, as a
// resolver across the network does, and may not be cached (TTL 0): each
// message then asks for its SPF, DKIM key and DMARC records again, and
// the time its DATA waits shows whether those queries overlap.
type SlowDNS struct {
	*dnsresolver.Fake
	Delay time.Duration
}

func (d SlowDNS) wait(ctx context.Context) error {
	t := time.NewTimer(d.Delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// LookupTXT implements dnsresolver.Resolver.
func (d SlowDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if err := d.wait(ctx); err != nil {
		return nil, err
	}
	return d.Fake.LookupTXT(ctx, name)
}

// LookupIPAddr implements dnsresolver.Resolver.
func (d SlowDNS) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if err := d.wait(ctx); err != nil {
		return nil, err
	}
	return d.Fake.LookupIPAddr(ctx, host)
}

// LookupMX implements dnsresolver.Resolver.
func (d SlowDNS) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	if err := d.wait(ctx); err != nil {
		return nil, err
	}
	return d.Fake.LookupMX(ctx, name)
}

// AuthDNS returns a resolver answering what an MX needs to check cfg's
// messages from 127.0.0.1: SPF of the From domain passing for
// 127.0.0.1, the key of sig (nil: unsigned) and a DMARC p=reject policy,
// each answer after delay.
func AuthDNS(cfg Config, sig *Signed, delay time.Duration) (dnsresolver.Resolver, error) {
	domain := strings.ToLower(cfg.From[strings.LastIndexByte(cfg.From, '@')+1:])
	f := &dnsresolver.Fake{TXT: map[string][]string{
		domain:             {"v=spf1 ip4:127.0.0.1 -all"},
		"_dmarc." + domain: {"v=DMARC1; p=reject"},
	}}
	if sig != nil {
		txt, err := sig.PublicTXT()
		if err != nil {
			return nil, err
		}
		f.TXT[strings.ToLower(sig.Selector+"._domainkey."+sig.Domain)] = []string{txt}
	}
	return SlowDNS{Fake: f, Delay: delay}, nil
}

// LookupTXTTTL implements dnsresolver.TTLResolver: after Delay, TTL 0.
func (d SlowDNS) LookupTXTTTL(ctx context.Context, name string) ([]string, time.Duration, error) {
	v, err := d.LookupTXT(ctx, name)
	return v, 0, err
}

// LookupMXTTL implements dnsresolver.TTLResolver: after Delay, TTL 0.
func (d SlowDNS) LookupMXTTL(ctx context.Context, name string) ([]*net.MX, time.Duration, error) {
	v, err := d.LookupMX(ctx, name)
	return v, 0, err
}

// LookupIPAddrTTL implements dnsresolver.TTLResolver: after Delay, TTL 0.
func (d SlowDNS) LookupIPAddrTTL(ctx context.Context, host string) ([]net.IPAddr, time.Duration, error) {
	v, err := d.LookupIPAddr(ctx, host)
	return v, 0, err
}
