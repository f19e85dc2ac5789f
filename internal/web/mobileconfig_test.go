package web

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// plistValues reads a plist with encoding/xml (a reading independent of
// the writer) and returns the outer dict and the first payload's, values
// as text.
func plistValues(t *testing.T, b []byte) (outer, mail map[string]string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	var root any
	for {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("plist: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "dict" {
			root = plistValue(t, dec, se)
			break
		}
	}
	flat := func(m map[string]any) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			if s, ok := v.(string); ok {
				out[k] = s
			}
		}
		return out
	}
	r := root.(map[string]any)
	content, _ := r["PayloadContent"].([]any)
	if len(content) != 1 {
		t.Fatalf("PayloadContent %v", r["PayloadContent"])
	}
	return flat(r), flat(content[0].(map[string]any))
}

// plistValue decodes the element started by se: dict, array, or a scalar
// (as its text, "true"/"false" for booleans).
func plistValue(t *testing.T, dec *xml.Decoder, se xml.StartElement) any {
	switch se.Name.Local {
	case "dict":
		m := map[string]any{}
		key := ""
		for {
			tok, err := dec.Token()
			if err != nil {
				t.Fatalf("plist dict: %v", err)
			}
			switch x := tok.(type) {
			case xml.StartElement:
				if x.Name.Local == "key" {
					var k string
					dec.DecodeElement(&k, &x)
					key = k
					continue
				}
				m[key] = plistValue(t, dec, x)
			case xml.EndElement:
				return m
			}
		}
	case "array":
		var a []any
		for {
			tok, err := dec.Token()
			if err != nil {
				t.Fatalf("plist array: %v", err)
			}
			switch x := tok.(type) {
			case xml.StartElement:
				a = append(a, plistValue(t, dec, x))
			case xml.EndElement:
				return a
			}
		}
	case "true", "false":
		dec.Skip()
		return se.Name.Local
	default:
		var s string
		dec.DecodeElement(&s, &se)
		return s
	}
}

func TestAppleProfileUnsigned(t *testing.T) {
	e := newEnv(t, nil)
	ts := httptest.NewServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	resp, body := get(t, c, ts.URL+"/apple.mobileconfig?emailaddress="+testUser)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-apple-aspen-config" ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), `filename="example.test.mobileconfig"`) {
		t.Fatalf("%d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	outer, mail := plistValues(t, []byte(body))
	for k, v := range map[string]string{
		"EmailAccountType": "EmailTypeIMAP", "EmailAddress": testUser,
		"IncomingMailServerHostName": testHost, "IncomingMailServerPortNumber": "10993", "IncomingMailServerUseSSL": "true",
		"IncomingMailServerUsername": testUser, "OutgoingMailServerHostName": testHost, "OutgoingMailServerPortNumber": "10465",
		"OutgoingMailServerUseSSL": "true", "OutgoingMailServerUsername": testUser, "PayloadType": "com.apple.mail.managed",
		"IncomingMailServerAuthentication": "EmailAuthPassword",
	} {
		if mail[k] != v {
			t.Errorf("mail payload %s = %q, want %q", k, mail[k], v)
		}
	}
	if outer["PayloadType"] != "Configuration" || outer["PayloadVersion"] != "1" || outer["PayloadUUID"] == mail["PayloadUUID"] || len(outer["PayloadUUID"]) != 36 {
		t.Errorf("outer %v", outer)
	}
	// Stable: the same address gives the same UUIDs; another address others.
	_, body2 := get(t, c, ts.URL+"/apple.mobileconfig?emailaddress="+testUser)
	if body2 != body {
		t.Error("the profile changed between two downloads")
	}
	_, bodyB := get(t, c, ts.URL+"/apple.mobileconfig?emailaddress=bob@example.test")
	outerB, mailB := plistValues(t, []byte(bodyB))
	if outerB["PayloadUUID"] == outer["PayloadUUID"] || mailB["PayloadUUID"] == mail["PayloadUUID"] || outerB["PayloadIdentifier"] == outer["PayloadIdentifier"] {
		t.Error("two addresses share UUIDs or identifiers")
	}
	// python3's plistlib is an independent reader, when present.
	if py, err := exec.LookPath("python3"); err == nil {
		cmd := exec.Command(py, "-c", `import plistlib,sys,json
p=plistlib.loads(sys.stdin.buffer.read())
m=p["PayloadContent"][0]
print(json.dumps({"port":m["IncomingMailServerPortNumber"],"ssl":m["IncomingMailServerUseSSL"],"type":p["PayloadType"]}))`)
		cmd.Stdin = strings.NewReader(body)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("plistlib: %v", err)
		}
		var got struct {
			Port int
			SSL  bool
			Type string
		}
		if err := json.Unmarshal(out, &got); err != nil || got.Port != 10993 || !got.SSL || got.Type != "Configuration" {
			t.Errorf("plistlib read %s (%v)", out, err)
		}
	}
	for _, q := range []string{"", "?emailaddress=nobody", "?emailaddress=a@other.test"} {
		if resp, _ := get(t, c, ts.URL+"/apple.mobileconfig"+q); resp.StatusCode/100 != 4 {
			t.Errorf("%q: %d", q, resp.StatusCode)
		}
	}
}

func rsaCert(t *testing.T) *tls.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return certFor(t, key, &key.PublicKey)
}

func certFor(t *testing.T, key any, pub any) *tls.Certificate {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(4242), Subject: pkix.Name{CommonName: testHost}, DNSNames: []string{testHost},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestAppleProfileSigned checks the CMS signature with openssl, an
// independent implementation, for an ECDSA and an RSA certificate.
func TestAppleProfileSigned(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is needed to check profile signatures")
		}
		t.Skip("openssl not installed: cannot check the CMS signature independently")
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	certs := map[string]*tls.Certificate{"selfsigned-ecdsa": selfSigned(t), "ecdsa": certFor(t, ecKey, &ecKey.PublicKey), "rsa": rsaCert(t)}
	for name, cert := range certs {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.TLSCert = func() *tls.Certificate { return cert } })
			ts := httptest.NewServer(e.h)
			defer ts.Close()
			resp, body := get(t, client(t, ts), ts.URL+"/apple.mobileconfig?emailaddress="+testUser)
			if resp.StatusCode != http.StatusOK || strings.HasPrefix(body, "<?xml") {
				t.Fatalf("%d: not signed", resp.StatusCode)
			}
			dir := t.TempDir()
			in, certFile := filepath.Join(dir, "p.der"), filepath.Join(dir, "c.pem")
			os.WriteFile(in, []byte(body), 0o600)
			var pemb bytes.Buffer
			for _, der := range cert.Certificate {
				pem.Encode(&pemb, &pem.Block{Type: "CERTIFICATE", Bytes: der})
			}
			os.WriteFile(certFile, pemb.Bytes(), 0o600)
			// -CAfile with the self-signed certificate: the chain verifies.
			cmd := exec.Command(openssl, "cms", "-verify", "-inform", "DER", "-in", in, "-CAfile", certFile, "-purpose", "any")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("openssl cms -verify: %v\n%s", err, stderr.String())
			}
			if !strings.Contains(stderr.String(), "Verification successful") || !bytes.HasPrefix(out, []byte("<?xml")) || !bytes.Contains(out, []byte(testUser)) {
				t.Errorf("openssl: %s\n%s", stderr.String(), out)
			}
			// A flipped byte in the content must fail verification.
			bad := []byte(body)
			i := bytes.Index(bad, []byte("EmailTypeIMAP"))
			bad[i] ^= 1
			os.WriteFile(in, bad, 0o600)
			if err := exec.Command(openssl, "cms", "-verify", "-inform", "DER", "-in", in, "-CAfile", certFile, "-purpose", "any").Run(); err == nil {
				t.Error("a tampered profile verified")
			}
		})
	}
}
