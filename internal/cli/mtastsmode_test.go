package cli

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/dnsrec"
)

// TestDNSFollowsMTASTSMode: the _mta-sts id= that 'youju dns' prints is
// the id of the policy the web listener serves for [outbound] mta_sts,
// for every mode (RFC 8461 §3.1: a changed policy needs a changed id).
func TestDNSFollowsMTASTSMode(t *testing.T) {
	dir := newData(t)
	path := filepath.Join(dir, config.FileName)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(orig), `# mta_sts = "testing"`) {
		t.Fatalf("the config template does not document mta_sts:\n%s", orig)
	}
	for _, mode := range []string{"none", "testing", "enforce"} {
		conf := strings.Replace(string(orig), `# mta_sts = "testing"`, `mta_sts = "`+mode+`"`, 1)
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		out := mustRun(t, "", "dns", "--data", dir)
		id := dnsrec.MTASTSID(dnsrec.MTASTSPolicy(mode, "mail.example.test"))
		if !strings.Contains(out, "v=STSv1; id="+id) {
			t.Errorf("mode %s: the record lacks id=%s of the served policy:\n%s", mode, id, out)
		}
	}
	conf := strings.Replace(string(orig), `# mta_sts = "testing"`, `mta_sts = "strict"`, 1)
	os.WriteFile(path, []byte(conf), 0o600)
	if code, _, errs := run(t, "", "dns", "--data", dir); code == 0 || !strings.Contains(errs, "mta_sts") {
		t.Errorf("a bad mta_sts is accepted: exit %d, %q", code, errs)
	}
}

// TestServedMTASTSPolicyMatchesDNS: the policy serve publishes at
// https://mta-sts.DOMAIN/.well-known/mta-sts.txt is the one whose id=
// 'youju dns' prints, for the configured mode.
func TestServedMTASTSPolicyMatchesDNS(t *testing.T) {
	dir := newData(t)
	path := filepath.Join(dir, config.FileName)
	b, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(b), `# mta_sts = "testing"`, `mta_sts = "enforce"`, 1)), 0o600)
	dnsOut := mustRun(t, "", "dns", "--data", dir)
	addrs, _, stop := startServe(t, dir)
	defer stop()
	req, _ := http.NewRequest("GET", "https://"+addrs["https"]+"/.well-known/mta-sts.txt", nil)
	req.Host = "mta-sts.example.test"
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	policy, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(policy), "mode: enforce") {
		t.Fatalf("served %d:\n%s", resp.StatusCode, policy)
	}
	if id := dnsrec.MTASTSID(string(policy)); !strings.Contains(dnsOut, "id="+id) {
		t.Errorf("youju dns does not print id=%s of the served policy:\n%s", id, dnsOut)
	}
}
