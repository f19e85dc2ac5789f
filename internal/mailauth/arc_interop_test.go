package mailauth

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/youju/youju/internal/dnsresolver"
)

// The interop tests cross-check our ARC against dkimpy (Debian's
// python3-dkim, with python3-authres for its sealer), a second
// implementation: it verifies our chains, and we verify its seals.
// They skip when it is not installed (.ci/run installs it).

const dkimpyScript = `
import json, sys, dkim
dns = json.load(open(sys.argv[2]))
def txt(name, timeout=5):
    v = dns.get(name.decode().rstrip('.'))
    return v.encode() if v else None
msg = sys.stdin.buffer.read()
if sys.argv[1] == 'verify':
    cv, results, reason = dkim.arc_verify(msg, dnsfunc=txt)
    sys.stdout.write(cv.decode() + ' ' + reason)
else:
    key = open(sys.argv[3], 'rb').read()
    sigs = dkim.arc_sign(msg, sys.argv[4].encode(), sys.argv[5].encode(), key, sys.argv[6].encode())
    sys.stdout.buffer.write(b''.join(sigs) + msg)
`

// dkimpyOnce checks once whether dkimpy can be imported (a Python
// start costs seconds on a loaded machine).
var (
	dkimpyOnce    sync.Once
	dkimpyMissing error
)

// dkimpy runs the script with the fake DNS's TXT records.
func dkimpy(t *testing.T, r *dnsresolver.Fake, m []byte, args ...string) string {
	t.Helper()
	const py = "/usr/bin/python3"
	dkimpyOnce.Do(func() { dkimpyMissing = exec.Command(py, "-c", "import dkim, authres").Run() })
	if dkimpyMissing != nil {
		t.Skip("dkimpy not installed (apt-get install python3-dkim python3-authres)")
	}
	dir := t.TempDir()
	recs := map[string]string{}
	for name, v := range r.TXT {
		recs[name] = strings.Join(v, "")
	}
	js, _ := json.Marshal(recs)
	dnsFile := filepath.Join(dir, "dns.json")
	if err := os.WriteFile(dnsFile, js, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, append([]string{"-c", dkimpyScript, args[0], dnsFile}, args[1:]...)...)
	cmd.Stdin = bytes.NewReader(m)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dkimpy %s: %v\n%s", args[0], err, stderr.Bytes())
	}
	return string(out)
}

// TestARCInteropDkimpyVerifies: dkimpy passes our chains of one and
// three RSA seals, and fails a tampered one.
func TestARCInteropDkimpyVerifies(t *testing.T) {
	r := fakeDNS()
	m := signed(t, r, "example.org", msg("a@example.org"))
	for i, d := range []string{"fwd1.test", "fwd2.test", "fwd3.test"} {
		m = hop(t, r, m, d, sealKey(t, r, d, true))
		if i == 0 || i == 2 {
			if got := dkimpy(t, r, m, "verify"); !strings.HasPrefix(got, "pass") {
				t.Fatalf("dkimpy on %d seals: %s\n%s", i+1, got, m)
			}
		}
	}
	bad := bytes.Replace(m, []byte("body\r\n"), []byte("b0dy\r\n"), 1)
	if got := dkimpy(t, r, bad, "verify"); !strings.HasPrefix(got, "fail") {
		t.Errorf("dkimpy on a tampered body: %s", got)
	}
}

// TestARCInteropWeVerifyDkimpy: a seal made by dkimpy verifies here,
// and a chain it started and we continued verifies in both.
func TestARCInteropWeVerifyDkimpy(t *testing.T) {
	r := fakeDNS()
	dir := t.TempDir()
	k := sealKey(t, r, "py.test", true)
	keyFile := filepath.Join(dir, "key.pem")
	der := x509.MarshalPKCS1PrivateKey(k.Signer.(*rsa.PrivateKey))
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	in := []byte("Authentication-Results: mx.py.test; spf=pass smtp.mailfrom=example.org;\r\n\tdkim=none; dmarc=pass header.from=example.org\r\n")
	in = append(in, msg("a@example.org")...)
	sealed := []byte(dkimpy(t, r, in, "sign", keyFile, k.Selector, "py.test", "mx.py.test"))
	if !bytes.Contains(sealed, []byte("ARC-Seal:")) {
		t.Fatalf("dkimpy did not seal:\n%s", sealed)
	}
	res := checkARC(t, r, sealed)
	if res.ARC.Result != "pass" || res.ARC.Sealer != "py.test" {
		t.Fatalf("our verdict on dkimpy's seal: %+v\n%s", res.ARC, sealed)
	}
	m := hop(t, r, sealed, "fwd.test", sealKey(t, r, "fwd.test", true))
	if res := checkARC(t, r, m); res.ARC.Result != "pass" || res.ARC.Instances != 2 {
		t.Fatalf("ours after dkimpy's: %+v", res.ARC)
	}
	if got := dkimpy(t, r, m, "verify"); !strings.HasPrefix(got, "pass") {
		t.Fatalf("dkimpy on its seal and ours: %s\n%s", got, m)
	}
}
