package cli

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/smtp"
	"os"
	"strings"
	"testing"
	"time"
)

// TestReportsCollectedAtDelivery: a DMARC aggregate report mailed to
// postmaster@ over the MX port is delivered and kept, and 'youju report
// list' sums it per reporter and day.
func TestReportsCollectedAtDelivery(t *testing.T) {
	dir := newData(t)
	mustRun(t, "pw\n", "user", "add", "--data", dir, "--password-stdin", "alice@example.test")
	if out := mustRun(t, "", "report", "list", "--data", dir); !strings.Contains(out, "No reports") {
		t.Errorf("report list before any report: %q", out)
	}
	xml, err := os.ReadFile("../reports/testdata/dmarc.xml")
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(xml)
	zw.Close()
	msg := "From: noreply-dmarc-support@google.com\r\nTo: postmaster@example.test\r\nSubject: Report domain: example.test\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nreport\r\n" +
		"--b\r\nContent-Type: application/gzip; name=\"google.com!example.test!1.xml.gz\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(gz.Bytes()) + "\r\n--b--\r\n"

	addrs, _, stop := startServe(t, dir)
	mx, err := smtp.Dial(addrs["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	if err := mx.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	if err := mx.Mail("noreply-dmarc-support@google.com"); err != nil {
		t.Fatal(err)
	}
	if err := mx.Rcpt("postmaster@example.test"); err != nil {
		t.Fatalf("RCPT postmaster: %v", err)
	}
	w, _ := mx.Data()
	fmt.Fprint(w, msg)
	if err := w.Close(); err != nil {
		t.Fatalf("DATA: %v", err)
	}
	mx.Quit()
	// The report is kept once the message is stored, before the reply
	// to DATA; poll only as a margin for a loaded machine.
	var out string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if out = mustRun(t, "", "report", "list", "--data", dir); strings.Contains(out, "google.com") {
			break
		}
	}
	// The mail itself reached the postmaster's (alice's) mailbox too.
	if subj := pop3Subjects(t, addrs["pop3s"], "alice@example.test", "pw"); len(subj) != 1 || !strings.HasPrefix(subj[0], "Report domain") {
		t.Errorf("postmaster's INBOX: %q", subj)
	}
	stop()
	if !strings.Contains(out, "dmarc") || !strings.Contains(out, "google.com") || !strings.Contains(out, "50") || !strings.Contains(out, "47") {
		t.Errorf("report list:\n%s", out)
	}
}
