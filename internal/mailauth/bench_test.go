package mailauth

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

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
