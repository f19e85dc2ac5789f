package mailauth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/message"
)

// foldedSigned is a DKIM-signed message with a header field folded n
// times after the signature.
func foldedSigned(b *testing.B, n int) ([]byte, Resolver) {
	r := fakeDNS()
	m := signed(b, r, "example.org", msg("a@example.org"))
	i := bytes.Index(m, []byte("\r\n\r\n"))
	fold := "X-Fold: a\r\n" + strings.Repeat(" a\r\n", n)
	return append(append(append([]byte{}, m[:i+2]...), fold...), m[i+2:]...), r
}

// BenchmarkFoldedHeader compares the CPU a header folded 40,000 times
// costs: go-msgauth reading the message itself (quadratic), and our
// path, with the limits raised so that it gets past the header bound
// (linear), and with the default limits (refused before any work).
func BenchmarkFoldedHeader(b *testing.B) {
	m, r := foldedSigned(b, 40000)
	ctx := context.Background()
	b.Run("go-msgauth", func(b *testing.B) {
		for b.Loop() {
			dkim.VerifyWithOptions(bytes.NewReader(m), &dkim.VerifyOptions{
				LookupTXT: func(name string) ([]string, error) { return r.LookupTXT(ctx, name) }})
		}
	})
	b.Run("youju-unbounded", func(b *testing.B) {
		for b.Loop() {
			h, err := message.ReadHeader(m, message.HeaderLimits{MaxContinuations: 1 << 20})
			if err != nil {
				b.Fatal(err)
			}
			res := Verify(ctx, r, StartSPF(ctx, r, goodIP, "mx.example.org", "a@example.org"), h, m)
			if len(res.DKIM) != 1 || res.DKIM[0].Result != "pass" {
				b.Fatalf("DKIM %+v", res.DKIM)
			}
		}
	})
	b.Run("youju-default", func(b *testing.B) {
		for b.Loop() {
			if _, err := message.ReadHeader(m, message.HeaderLimits{}); err != message.ErrHeaderTooFolded {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkManyFields: a valid signature listing 128 names over a
// header of 40,000 small fields (go-msgauth's picker scans every field
// per listed name).
func BenchmarkManyFields(b *testing.B) {
	r := fakeDNS()
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	r.TXT["s1._domainkey.example.org"] = []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}
	keys := []string{"from"}
	for range maxSignedFields - 1 {
		keys = append(keys, "z") // absent: every pick scans all fields
	}
	plain := append([]byte(strings.Repeat("x:y\r\n", 40000)), msg("a@example.org")...)
	var sb bytes.Buffer
	if err := dkim.Sign(&sb, bytes.NewReader(plain), &dkim.SignOptions{Domain: "example.org", Selector: "s1", Signer: key,
		HeaderKeys: keys, HeaderCanonicalization: dkim.CanonicalizationRelaxed}); err != nil {
		b.Fatal(err)
	}
	m := sb.Bytes()
	ctx := context.Background()
	hdr, err := message.ReadHeader(m, message.HeaderLimits{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		res := Verify(ctx, r, StartSPF(ctx, r, goodIP, "mx.example.org", "a@example.org"), hdr, m)
		if len(res.DKIM) != 1 || res.DKIM[0].Result != "pass" {
			b.Fatalf("DKIM %+v", res.DKIM)
		}
	}
}

// BenchmarkDKIMVerify10KB: one RSA-2048 relaxed/relaxed signature over a
// 10 KB message (the bench/smtp -auth message), verified by go-msgauth
// from the raw message and by our verifier from the parsed header
// (the key already fetched: DNS is a map lookup).
func BenchmarkDKIMVerify10KB(b *testing.B) {
	r := fakeDNS()
	keys := corpusKeys(b, r)
	body := strings.Repeat("A typical line of a typical message body, with words.\r\n", 10240/56)
	m := sign(b, []byte("From: <a@example.org>\r\nTo: x@youju.test\r\nSubject: load\r\n\r\n"+body), "rsa", keys["rsa"],
		dkim.CanonicalizationRelaxed, dkim.CanonicalizationRelaxed, []string{"from", "to"})
	ctx := context.Background()
	b.Run("go-msgauth", func(b *testing.B) {
		b.SetBytes(int64(len(m)))
		for b.Loop() {
			vs, err := dkim.VerifyWithOptions(bytes.NewReader(m), &dkim.VerifyOptions{
				LookupTXT: func(name string) ([]string, error) { return r.LookupTXT(ctx, name) }})
			if err != nil || vs[0].Err != nil {
				b.Fatal(err, vs[0].Err)
			}
		}
	})
	b.Run("youju", func(b *testing.B) {
		b.SetBytes(int64(len(m)))
		for b.Loop() {
			hdr, err := message.ReadHeader(m, message.HeaderLimits{})
			if err != nil {
				b.Fatal(err)
			}
			lk := StartLookups(ctx, r)
			res := verifyDKIM(lk, hdr, m)
			lk.Stop()
			if len(res) != 1 || res[0].Result != "pass" {
				b.Fatalf("%+v", res)
			}
		}
	})
}

// BenchmarkARCVerify: the whole check of a message forwarded through
// three sealers (RSA-2048, Ed25519, RSA-2048): three AMS and three seals
// verified, keys from the key cache.
func BenchmarkARCVerify(b *testing.B) {
	r := fakeDNS()
	m := msg("a@example.org")
	for i, d := range []string{"fwd1.test", "fwd2.test", "fwd3.test"} {
		m = hop(b, r, m, d, sealKey(b, r, d, i != 1))
	}
	ctx := context.Background()
	for b.Loop() {
		res := Check(ctx, r, badIP, "fwd3.test", "x@fwd3.test", m)
		if res.ARC.Result != "pass" {
			b.Fatalf("%+v", res.ARC)
		}
	}
}

// BenchmarkInboundCached is the whole check of an unsigned message as
// the SMTP session runs it (StartSPF at MAIL FROM, StartLookups and
// Field as the header arrives, InboundVerify at the end of DATA) with
// every answer in the resolver's cache, as in a burst from one sender.
func BenchmarkInboundCached(b *testing.B) {
	f := fakeDNS()
	f.TTL = map[string]time.Duration{"example.org": time.Hour, "_dmarc.example.org": time.Hour}
	r := dnsresolver.NewCache(f)
	m := msg("a@example.org")
	ctx := context.Background()
	run := func() Verdict {
		spf := StartSPF(ctx, r, goodIP, "mx.example.org", "a@example.org")
		lk := StartLookups(ctx, r)
		defer lk.Stop()
		hdr, err := message.ReadHeader(m, message.HeaderLimits{})
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range hdr.Fields {
			lk.Field(f.Raw)
		}
		_, v := InboundVerify(ctx, "mx.youju.test", PolicyEnforce, spf, lk, hdr, m)
		return v
	}
	run() // fills the cache
	b.ReportAllocs()
	for b.Loop() {
		if v := run(); v.SPF.Result != "pass" || v.DMARC.Result != "pass" {
			b.Fatalf("%+v", v.Result)
		}
	}
}
