package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
