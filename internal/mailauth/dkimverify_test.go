package mailauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/message"
)

// corpusKeys publishes an RSA-2048 and an Ed25519 key (and some broken
// records) in r and returns the signers by selector.
func corpusKeys(t testing.TB, r *dnsresolver.Fake) map[string]crypto.Signer {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	pub, ek, _ := ed25519.GenerateKey(rand.Reader)
	r.TXT["rsa._domainkey.example.org"] = []string{"v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)}
	r.TXT["pkcs1._domainkey.example.org"] = []string{"v=DKIM1; p=" + base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(&rk.PublicKey))}
	r.TXT["ed._domainkey.example.org"] = []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}
	r.TXT["revoked._domainkey.example.org"] = []string{"v=DKIM1; k=ed25519; p="}
	r.TXT["wrongk._domainkey.example.org"] = []string{"v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(pub)}
	r.TXT["sha1only._domainkey.example.org"] = []string{"v=DKIM1; k=ed25519; h=sha1; p=" + base64.StdEncoding.EncodeToString(pub)}
	r.TXT["web._domainkey.example.org"] = []string{"v=DKIM1; k=ed25519; s=web; p=" + base64.StdEncoding.EncodeToString(pub)}
	r.TXT["two._domainkey.example.org"] = []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), "v=DKIM1; p=x"}
	r.TXT["dup._domainkey.example.org"] = []string{"v=DKIM1; v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}
	r.Temp["flaky._domainkey.example.org"] = true
	return map[string]crypto.Signer{"rsa": rk, "pkcs1": rk, "ed": ek, "revoked": ek, "wrongk": ek,
		"sha1only": ek, "web": ek, "two": ek, "dup": ek, "flaky": ek, "missing": ek}
}

// corpusBodies: whitespace at line ends and in runs, tabs, trailing
// empty lines, bare CR and LF, no final line break, empty.
var corpusBodies = []string{
	"body\r\n",
	"",
	"\r\n",
	"\r\n\r\n\r\n",
	"no final break",
	"line one\r\nline two\r\n\r\n\r\n",
	"  leading\r\n\ttab\tinside \t \r\ntrailing   \r\n \r\n\t\r\n",
	"a  b   c\r\n  \r\nd\r\n",
	"bare\rcr inside\r\nand at end\r",
	"bare\nlf\nlines\n\n",
	"mixed \r\n\r\n  \r\nend \t",
	strings.Repeat("A typical line of a typical message body, with words.\r\n", 200),
	strings.Repeat("x", 1000) + "\r\n" + strings.Repeat(" ", 10) + "y\r\n",
}

// corpusHeaders: folded fields, odd spacing, repeated names.
var corpusHeaders = []string{
	"From: Someone <a@example.org>\r\nTo: x@youju.test\r\nSubject: hi\r\n",
	"From:  Someone\r\n  <a@example.org>\r\nTo: x@youju.test,\r\n\ty@youju.test\r\nSubject :   spaced \t out  \r\n",
	"Received: one\r\nFrom: <a@example.org>\r\nSubject: first\r\nSubject: second\r\nX-Empty:\r\n",
}

type corpusMsg struct {
	name string
	m    []byte
}

// dkimCorpus signs every header × body × canonicalization pair with
// each key and then breaks some of the copies.
func dkimCorpus(t testing.TB, keys map[string]crypto.Signer) []corpusMsg {
	var out []corpusMsg
	cans := []dkim.Canonicalization{dkim.CanonicalizationSimple, dkim.CanonicalizationRelaxed}
	n := 0
	for hi, h := range corpusHeaders {
		for bi, b := range corpusBodies {
			for _, hc := range cans {
				for _, bc := range cans {
					sel := []string{"rsa", "ed"}[n%2]
					if n%7 == 3 {
						sel = "pkcs1"
					}
					n++
					m := sign(t, []byte(h+"\r\n"+b), sel, keys[sel], hc, bc, nil)
					name := fmt.Sprintf("h%d/b%d/%s-%s/%s", hi, bi, hc, bc, sel)
					out = append(out, corpusMsg{name, m})
					for mn, mut := range corpusMutations {
						out = append(out, corpusMsg{name + "/" + mn, mut(m)})
					}
				}
			}
		}
	}
	for _, sel := range []string{"revoked", "wrongk", "sha1only", "web", "two", "dup", "flaky", "missing"} {
		out = append(out, corpusMsg{"key/" + sel, sign(t, []byte(corpusHeaders[0]+"\r\nbody\r\n"), sel, keys[sel],
			dkim.CanonicalizationRelaxed, dkim.CanonicalizationRelaxed, nil)})
	}
	base := []byte(corpusHeaders[2] + "\r\nbody\r\n")
	oversigned := sign(t, base, "ed", keys["ed"], dkim.CanonicalizationSimple, dkim.CanonicalizationSimple,
		[]string{"from", "subject", "subject", "subject", "x-empty", "x-missing"})
	out = append(out, corpusMsg{"oversigned", oversigned},
		corpusMsg{"oversigned/subject added", append([]byte("Subject: third\r\n"), oversigned...)},
		corpusMsg{"two signatures", sign(t, oversigned, "rsa", keys["rsa"], dkim.CanonicalizationRelaxed,
			dkim.CanonicalizationSimple, []string{"from", "dkim-signature"})})
	return out
}

// corpusMutations change a signed message after signing.
var corpusMutations = map[string]func([]byte) []byte{
	"body appended":   func(m []byte) []byte { return append(bytes.Clone(m), "more\r\n"...) },
	"blank lines":     func(m []byte) []byte { return append(bytes.Clone(m), "\r\n\r\n"...) },
	"space in body":   func(m []byte) []byte { return replaceLast(m, "\r\n\r\n", "\r\n\r\n ") },
	"subject spaces":  func(m []byte) []byte { return bytes.Replace(m, []byte("Subject:"), []byte("Subject:  "), 1) },
	"from refolded":   func(m []byte) []byte { return bytes.Replace(m, []byte("From: "), []byte("From:\r\n "), 1) },
	"from case":       func(m []byte) []byte { return bytes.Replace(m, []byte("From:"), []byte("FROM:"), 1) },
	"b corrupted":     func(m []byte) []byte { return bytes.Replace(m, []byte(" b="), []byte(" b=AAAA"), 1) },
	"b not base64":    func(m []byte) []byte { return bytes.Replace(m, []byte(" b="), []byte(" b=*"), 1) },
	"bh corrupted":    func(m []byte) []byte { return bytes.Replace(m, []byte("bh="), []byte("bh=AAAA"), 1) },
	"v=2":             func(m []byte) []byte { return bytes.Replace(m, []byte("v=1"), []byte("v=2"), 1) },
	"no h=":           func(m []byte) []byte { return bytes.Replace(m, []byte(" h="), []byte(" hh="), 1) },
	"dup tag":         func(m []byte) []byte { return bytes.Replace(m, []byte("v=1;"), []byte("v=1; v=1;"), 1) },
	"bad tag-list":    func(m []byte) []byte { return bytes.Replace(m, []byte("v=1;"), []byte("v=1; junk;"), 1) },
	"i= elsewhere":    func(m []byte) []byte { return bytes.Replace(m, []byte("v=1;"), []byte("v=1; i=a@evil.test;"), 1) },
	"i= subdomain":    func(m []byte) []byte { return bytes.Replace(m, []byte("v=1;"), []byte("v=1; i=a@sub.example.org;"), 1) },
	"expired":         func(m []byte) []byte { return bytes.Replace(m, []byte("v=1;"), []byte("v=1; x=1000;"), 1) },
	"bad t=":          func(m []byte) []byte { return bytes.Replace(m, []byte("v=1;"), []byte("v=1; t=soon;"), 1) },
	"q= other":        func(m []byte) []byte { return bytes.Replace(m, []byte("v=1;"), []byte("v=1; q=http/x;"), 1) },
	"a= sha1":         func(m []byte) []byte { return bytes.Replace(m, []byte("-sha256"), []byte("-sha1"), 1) },
	"a= unknown":      func(m []byte) []byte { return bytes.Replace(m, []byte("-sha256"), []byte("-sha512"), 1) },
	"c= unknown":      func(m []byte) []byte { return bytes.Replace(m, []byte("v=1;"), []byte("v=1; c=nowsp;"), 1) },
	"h= without from": func(m []byte) []byte { return bytes.Replace(m, []byte("h=from"), []byte("h=subject"), 1) },
}

func replaceLast(m []byte, old, repl string) []byte {
	i := bytes.Index(m, []byte(old))
	if i < 0 {
		return m
	}
	return append(append(bytes.Clone(m[:i]), repl...), m[i+len(old):]...)
}

func sign(t testing.TB, m []byte, sel string, key crypto.Signer, hc, bc dkim.Canonicalization, keys []string) []byte {
	var b bytes.Buffer
	if err := dkim.Sign(&b, bytes.NewReader(m), &dkim.SignOptions{Domain: "example.org", Selector: sel, Signer: key,
		HeaderCanonicalization: hc, BodyCanonicalization: bc, HeaderKeys: keys}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// goMsgauthDKIM is go-msgauth's verdict over the whole message.
func goMsgauthDKIM(t testing.TB, r *dnsresolver.Fake, m []byte) []DKIMResult {
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(m), &dkim.VerifyOptions{MaxVerifications: maxSignatures,
		LookupTXT: func(n string) ([]string, error) { return r.LookupTXT(context.Background(), n) }})
	if err != nil {
		t.Fatalf("go-msgauth: %v", err)
	}
	return dkimResults(vs)
}

// TestDKIMSameAsGoMsgauth: on the corpus, our verifier's verdict for
// each signature is go-msgauth's: passes, broken signatures and body
// hashes, permerrors of tags and keys, temperror of the key lookup.
func TestDKIMSameAsGoMsgauth(t *testing.T) {
	r := fakeDNS()
	r.Temp = map[string]bool{}
	corpus := dkimCorpus(t, corpusKeys(t, r))
	seen := map[string]int{}
	for _, c := range corpus {
		want := goMsgauthDKIM(t, r, c.m)
		got := Check(context.Background(), r, goodIP, "mx.example.org", "a@example.org", c.m).DKIM
		if len(got) != len(want) {
			t.Errorf("%s: %d results, go-msgauth %d", c.name, len(got), len(want))
			continue
		}
		for i := range want {
			seen[want[i].Result]++
			if got[i].Result != want[i].Result || got[i].Domain != want[i].Domain {
				t.Errorf("%s: signature %d: %s %q (%v), go-msgauth %s %q (%v)", c.name, i,
					got[i].Result, got[i].Domain, got[i].Err, want[i].Result, want[i].Domain, want[i].Err)
			}
		}
	}
	// The corpus exercises every verdict, not just one.
	for _, res := range []string{"pass", "fail", "permerror", "temperror"} {
		if seen[res] == 0 {
			t.Errorf("no %s in the corpus", res)
		}
	}
	t.Logf("%d messages, verdicts %v", len(corpus), seen)
}

// signWithL signs m (CRLF lines, no trailing empty lines, so its simple
// canonical body is itself) by hand with simple/simple and l=, which
// go-msgauth cannot sign: an independent computation of RFC 6376 §3.7.
func signWithL(m []byte, l int, key ed25519.PrivateKey) []byte {
	i := bytes.Index(m, []byte("\r\n\r\n"))
	hdr, body := m[:i+2], m[i+4:]
	bh := sha256.Sum256(body[:l])
	field := "DKIM-Signature: v=1; a=ed25519-sha256; c=simple/simple; d=example.org; s=ed;\r\n h=from:subject; l=" +
		strconv.Itoa(l) + "; bh=" + base64.StdEncoding.EncodeToString(bh[:]) + "; b="
	h := sha256.New()
	for _, name := range []string{"From", "Subject"} {
		for _, line := range bytes.SplitAfter(hdr, []byte("\r\n")) {
			if bytes.HasPrefix(line, []byte(name+":")) {
				h.Write(line)
			}
		}
	}
	h.Write([]byte(field))
	sig := ed25519.Sign(key, h.Sum(nil))
	return append([]byte(field+base64.StdEncoding.EncodeToString(sig)+"\r\n"), m...)
}

// TestDKIMBodyLength: l= is honoured (RFC 6376 §3.5): a signature whose
// l= is the whole body passes; one that leaves content unsigned, or
// claims more than there is, fails (go-msgauth fails every l=).
func TestDKIMBodyLength(t *testing.T) {
	r := fakeDNS()
	keys := corpusKeys(t, r)
	ek := keys["ed"].(ed25519.PrivateKey)
	m := []byte("From: <a@example.org>\r\nSubject: l\r\n\r\nfirst line\r\nsecond line\r\n")
	whole := len("first line\r\nsecond line\r\n")
	for _, tc := range []struct {
		name string
		m    []byte
		want string
	}{
		{"l= whole body", signWithL(m, whole, ek), "pass"},
		{"l= part of the body", signWithL(m, 12, ek), "fail"},
		{"content appended after l=", append(signWithL(m, whole, ek), "unsigned\r\n"...), "fail"},
		{"l= longer than the body", bytes.Replace(signWithL(m, whole, ek), []byte("l="+strconv.Itoa(whole)), []byte("l=9999"), 1), "fail"},
		{"l= not a number", bytes.Replace(signWithL(m, whole, ek), []byte("l="+strconv.Itoa(whole)), []byte("l=x"), 1), "permerror"},
	} {
		got := Check(context.Background(), r, goodIP, "mx.example.org", "a@example.org", tc.m).DKIM
		if len(got) != 1 || got[0].Result != tc.want {
			t.Errorf("%s: %+v, want %s", tc.name, got, tc.want)
		}
		if w := goMsgauthDKIM(t, r, tc.m); w[0].Result != "fail" {
			t.Errorf("%s: go-msgauth %s, expected it to fail every l=", tc.name, w[0].Result)
		}
	}
}

// TestDKIMKeySizes: RSA keys under 1024 bits (RFC 8301 §3.2) and over
// maxRSABits are refused; the bounds themselves are accepted.
func TestDKIMKeySizes(t *testing.T) {
	for _, tc := range []struct {
		bits int
		ok   bool
	}{{1023, false}, {1024, true}, {maxRSABits, true}, {maxRSABits + 1, false}} {
		n := new(big.Int).Lsh(big.NewInt(1), uint(tc.bits-1))
		n.SetBit(n, 0, 1) // odd, of exactly tc.bits bits: parses as a modulus
		der := x509.MarshalPKCS1PublicKey(&rsa.PublicKey{N: n, E: 65537})
		_, err := parseKeyRecord("v=DKIM1; p=" + base64.StdEncoding.EncodeToString(der))
		if (err == nil) != tc.ok {
			t.Errorf("%d bits: %v", tc.bits, err)
		}
	}
}

// TestDKIMKeyCacheBounded: the parsed-key cache stays within its size
// under a flood of distinct records.
func TestDKIMKeyCacheBounded(t *testing.T) {
	c := newParseCache(keyCacheSize, maxCachedRecord, parsedKeys.f)
	for i := range keyCacheSize * 3 {
		if e := c.get("v=DKIM1; k=ed25519; p=" + strconv.Itoa(i)); e.err == nil {
			t.Fatal("a bogus key parsed")
		}
	}
	if len(c.m) > keyCacheSize {
		t.Fatalf("%d entries kept, limit %d", len(c.m), keyCacheSize)
	}
	long := "v=DKIM1; n=" + strings.Repeat("x", maxCachedRecord) + "; p=AAAA"
	c.get(long)
	if _, ok := c.m[long]; ok {
		t.Fatal("a record over maxCachedRecord was kept")
	}
}

// FuzzTagList: the tag-list parser never panics, and what it returns
// is consistent with its input (names valid and distinct, spans inside
// it, values their trimmed spans).
func FuzzTagList(f *testing.F) {
	f.Add([]byte("v=1; a=rsa-sha256; d=example.org; s=s1;\r\n h=from:to; bh=abc=; b=\r\n x y z"))
	f.Add([]byte("v=DKIM1; k=ed25519; p="))
	f.Add([]byte(";;  ; a = b ;"))
	f.Add([]byte("a=1;a=2"))
	f.Add([]byte("=x; 1a=2; a_b9=\t"))
	f.Fuzz(func(t *testing.T, v []byte) {
		tags, err := parseTagList(v)
		if err != nil {
			return
		}
		names := map[string]bool{}
		for _, tg := range tags {
			if !validTagName([]byte(tg.name)) || names[tg.name] {
				t.Fatalf("tag %q invalid or repeated in %q", tg.name, v)
			}
			names[tg.name] = true
			if tg.start < 0 || tg.start > tg.end || tg.end > len(v) {
				t.Fatalf("span %d..%d outside %d bytes", tg.start, tg.end, len(v))
			}
			if !bytes.Equal(trimFWS(v[tg.start:tg.end]), tg.value) || bytes.IndexByte(tg.value, ';') >= 0 {
				t.Fatalf("value %q is not its span %q", tg.value, v[tg.start:tg.end])
			}
		}
	})
}

// FuzzDKIMBody: for any body and header, a message go-msgauth signs (both
// canonicalizations) passes our verifier, and so does go-msgauth
// verify ours: the canonicalizations agree byte for byte.
func FuzzDKIMBody(f *testing.F) {
	for _, b := range corpusBodies {
		f.Add([]byte(b), []byte("Subject:  a \t b\r\n"))
	}
	r := fakeDNS()
	keys := corpusKeys(f, r)
	f.Fuzz(func(t *testing.T, body, subject []byte) {
		if !bytes.HasSuffix(subject, []byte("\r\n")) || bytes.Contains(subject[:len(subject)-2], []byte("\n")) ||
			!bytes.HasPrefix(subject, []byte("Subject:")) || bytes.Contains(subject, []byte("\r\r")) {
			return // keep the header a valid single field
		}
		m := append([]byte("From: <a@example.org>\r\n"+string(subject)+"\r\n"), body...)
		for _, c := range []dkim.Canonicalization{dkim.CanonicalizationSimple, dkim.CanonicalizationRelaxed} {
			s := sign(t, m, "ed", keys["ed"], c, c, []string{"from", "subject"})
			want := goMsgauthDKIM(t, r, s)
			hdr, err := message.ReadHeader(s, message.HeaderLimits{})
			if err != nil {
				return
			}
			got := Verify(context.Background(), r, StartSPF(context.Background(), r, goodIP, "x", "a@example.org"), hdr, s).DKIM
			if len(got) != 1 || got[0].Result != want[0].Result {
				t.Fatalf("%s: %+v, go-msgauth %+v", c, got, want)
			}
		}
	})
}
