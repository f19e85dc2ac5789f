package mailauth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
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

// TestVerifySameAsWholeHeader: handing the verifier only the fields the
// signatures name gives go-msgauth's own verdicts over the whole message,
// with oversigning, a signed DKIM-Signature and a field added after
// signing (which breaks the signature that oversigned it).
func TestVerifySameAsWholeHeader(t *testing.T) {
	r := fakeDNS()
	base := []byte("Received: a\r\nFrom: <a@example.org>\r\nX-Other: 1\r\nSubject: s\r\nSubject: t\r\n\r\nbody\r\n")
	sign := func(m []byte, sel string, keys []string) []byte {
		pub, key, _ := ed25519.GenerateKey(rand.Reader)
		r.TXT[sel+"._domainkey.example.org"] = []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}
		var b bytes.Buffer
		if err := dkim.Sign(&b, bytes.NewReader(m), &dkim.SignOptions{Domain: "example.org", Selector: sel, Signer: key,
			HeaderKeys: keys, HeaderCanonicalization: dkim.CanonicalizationSimple}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	m1 := sign(base, "s1", []string{"from", "subject", "subject", "subject"})
	m2 := sign(m1, "s2", []string{"from", "from", "dkim-signature", "x-other"})
	for name, m := range map[string][]byte{
		"two signatures":   m2,
		"subject added":    append([]byte("Subject: added\r\n"), m2...), // s1 oversigned Subject: fails
		"x-other appended": bytes.Replace(m2, []byte("X-Other: 1\r\n"), []byte("X-Other: 1\r\nX-Other: 2\r\n"), 1),
	} {
		want, err := dkim.VerifyWithOptions(bytes.NewReader(m), &dkim.VerifyOptions{
			LookupTXT: func(n string) ([]string, error) { return r.LookupTXT(context.Background(), n) }})
		if err != nil {
			t.Fatal(err)
		}
		got := Check(context.Background(), r, goodIP, "mx.example.org", "a@example.org", m).DKIM
		if len(got) != len(want) {
			t.Fatalf("%s: %d results, want %d", name, len(got), len(want))
		}
		for i, w := range dkimResults(want) {
			if got[i].Result != w.Result {
				t.Errorf("%s: signature %d: %s, go-msgauth over the whole message: %s (%v)", name, i, got[i].Result, w.Result, w.Err)
			}
		}
	}
}

// TestTwoParts: reading and WriteTo give a then b, whatever the read
// sizes, as io.MultiReader does.
func TestTwoParts(t *testing.T) {
	a, b := []byte("header: x\r\n\r\n"), []byte(strings.Repeat("body line\r\n", 50))
	want := string(a) + string(b)
	for _, size := range []int{1, 3, 7, 64, 4096} {
		r := &twoParts{a, b}
		var got []byte
		buf := make([]byte, size)
		for {
			n, err := r.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
		}
		if string(got) != want {
			t.Errorf("Read by %d: %q", size, got)
		}
	}
	var w strings.Builder
	r := &twoParts{a, b}
	r.Read(make([]byte, 5)) // part of a consumed, as bufio does
	if n, err := r.WriteTo(&w); err != nil || w.String() != want[5:] || n != int64(len(want)-5) {
		t.Errorf("WriteTo after 5 bytes: %d %v %q", n, err, w.String())
	}
}
