package cli

import (
	"crypto/tls"
	"fmt"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/reports"
)

// TestServeRecordsDMARCForReports: with [reports] send = true, a message
// on the MX port from a domain with a DMARC policy is recorded for the
// aggregate report of the day; with the default (off) nothing is.
func TestServeRecordsDMARCForReports(t *testing.T) {
	for _, send := range []bool{true, false} {
		t.Run(fmt.Sprint("send=", send), func(t *testing.T) {
			dir := newData(t)
			mustRun(t, "pw\n", "user", "add", "--data", dir, "--password-stdin", "alice@example.test")
			dns := &dnsresolver.Fake{TXT: map[string][]string{
				"sender.test":        {"v=spf1 ip4:127.0.0.1 -all"},
				"_dmarc.sender.test": {"v=DMARC1; p=reject; rua=mailto:dmarc@sender.test"},
			}}
			addrs, _, stop := startServeDNS(t, dir, dns, func(c *config.Config) { c.Reports.Send = send })
			mx, err := smtp.Dial(addrs["smtp"])
			if err != nil {
				t.Fatal(err)
			}
			mx.StartTLS(&tls.Config{InsecureSkipVerify: true})
			if err := mx.Mail("a@sender.test"); err != nil {
				t.Fatal(err)
			}
			if err := mx.Rcpt("alice@example.test"); err != nil {
				t.Fatal(err)
			}
			w, _ := mx.Data()
			fmt.Fprint(w, "From: a@sender.test\r\nTo: alice@example.test\r\nSubject: hi\r\nMessage-ID: <x@sender.test>\r\n\r\nhello\r\n")
			if err := w.Close(); err != nil {
				t.Fatalf("DATA: %v", err)
			}
			mx.Quit()
			stop()
			o := &reports.Outbox{Dir: reportsOutDir(dir)}
			evs, err := o.ReadDMARC(time.Now().UTC().Format(time.DateOnly))
			if !send {
				if _, serr := os.Stat(filepath.Join(dir, "reports-out")); serr == nil || len(evs) != 0 {
					t.Errorf("recorded with [reports] send off: %v", evs)
				}
				return
			}
			if err != nil || len(evs) != 1 {
				t.Fatalf("recorded %v (%v)", evs, err)
			}
			e := evs[0]
			if e.HeaderFrom != "sender.test" || e.SPF != "pass" || e.Policy != "reject" || e.Disposition != "none" || !strings.HasPrefix(e.SourceIP, "127.") {
				t.Errorf("event %+v", e)
			}
		})
	}
}
