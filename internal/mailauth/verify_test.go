package mailauth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/youju/youju/internal/message"
)

// TestVerifyFoldedSignedField: a signed field folded more often than the
// old go-msgauth-based path handed over unfolded still verifies under
// relaxed canonicalization (RFC 6376 §3.4.2 unfolds anyway).
func TestVerifyFoldedSignedField(t *testing.T) {
	r := fakeDNS()
	to := "To: a@youju.test" + strings.Repeat(",\r\n b@youju.test", 200) + "\r\n"
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

// dkimResults maps go-msgauth's verifications.
func dkimResults(vs []*dkim.Verification) []DKIMResult {
	var out []DKIMResult
	for _, v := range vs {
		d := DKIMResult{Result: "pass", Domain: strings.ToLower(v.Domain), Identifier: v.Identifier, Err: v.Err}
		switch {
		case v.Err == nil:
		case dkim.IsTempFail(v.Err):
			d.Result = "temperror"
		case dkim.IsPermFail(v.Err):
			d.Result = "permerror"
		default:
			d.Result = "fail"
		}
		out = append(out, d)
	}
	return out
}

// TestFromDomainReuse: the From domain found while the field arrived is
// taken only for the very same field; another From is parsed afresh.
func TestFromDomainReuse(t *testing.T) {
	r := fakeDNS()
	lk := StartLookups(context.Background(), r)
	defer lk.Stop()
	lk.Field([]byte("From: Someone <a@example.org>\r\n"))
	for _, tc := range []struct{ from, want string }{
		{"From: Someone <a@example.org>\r\n", "example.org"},
		{"From: Other <b@quar.test>\r\n", "quar.test"},
		{"From: a@x.test, b@y.test\r\n", ""},
	} {
		hdr, err := message.ReadHeader([]byte(tc.from+"\r\nbody\r\n"), message.HeaderLimits{})
		if err != nil {
			t.Fatal(err)
		}
		d, err := fromDomainOf(hdr, lk)
		if d != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("%q: %q %v, want %q", tc.from, d, err, tc.want)
		}
	}
}
