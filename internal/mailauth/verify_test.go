package mailauth

import (
	"context"
	"strings"
	"testing"
)

// TestVerifyFoldedSignedField: a signed field folded more often than the
// verifier is given folded (it gets it unfolded) still verifies under
// relaxed canonicalization (RFC 6376 §3.4.2 unfolds anyway).
func TestVerifyFoldedSignedField(t *testing.T) {
	r := fakeDNS()
	to := "To: a@youju.test" + strings.Repeat(",\r\n b@youju.test", 3*maxVerifierFolds) + "\r\n"
	m := []byte("From: Someone <a@example.org>\r\n" + to + "Subject: hi\r\n\r\nbody\r\n")
	m = signed(t, r, "example.org", m)
	res := Check(context.Background(), r, goodIP, "mx.example.org", "a@example.org", m)
	if len(res.DKIM) != 1 || res.DKIM[0].Result != "pass" || res.DMARC.Result != "pass" {
		t.Fatalf("DKIM %+v, DMARC %+v", res.DKIM, res.DMARC)
	}
}

// TestVerifyTooManySignedFields: a signature whose h= list is longer than
// maxSignedFields is refused without being verified.
func TestVerifyTooManySignedFields(t *testing.T) {
	r := fakeDNS()
	h := strings.TrimSuffix(strings.Repeat("from:", maxSignedFields+1), ":")
	m := []byte("DKIM-Signature: v=1; a=ed25519-sha256; d=example.org; s=s1; h=" + h + "; bh=x; b=y\r\n" +
		"From: <a@example.org>\r\n\r\nbody\r\n")
	res := Check(context.Background(), r, goodIP, "mx.example.org", "a@example.org", m)
	if len(res.DKIM) != 1 || res.DKIM[0].Result != "permerror" {
		t.Fatalf("DKIM %+v", res.DKIM)
	}
}
