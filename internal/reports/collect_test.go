package reports

import (
	"bytes"
	"encoding/base64"
	"os"
	"strings"
	"testing"
	"time"
)

// b64 wraps base64 at 76 columns as mail does (RFC 2045 §6.8).
func b64(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 76 {
		out.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	return out.String() + s + "\r\n"
}

// dmarcMail is a DMARC aggregate report mail as Google sends it: a
// multipart/mixed with a text part and the report as application/zip or
// application/gzip (RFC 7489 §7.2.1.1).
func dmarcMail(ctype, name string, att []byte) []byte {
	return []byte("From: noreply-dmarc-support@google.com\r\nTo: postmaster@youju.dev\r\n" +
		"Subject: Report domain: youju.dev Submitter: google.com Report-ID: <1234>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nThis is an aggregate report from google.com.\r\n" +
		"--b1\r\nContent-Type: " + ctype + "; name=\"" + name + "\"\r\nContent-Disposition: attachment; filename=\"" + name + "\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + b64(att) + "--b1--\r\n")
}

// tlsrptMail is a TLS report mail per RFC 8460 §5.3: multipart/report
// with report-type="tlsrpt" and an application/tlsrpt+gzip part.
func tlsrptMail(att []byte) []byte {
	return []byte("From: tlsrpt@company-x.example\r\nTo: postmaster@youju.dev\r\nTLS-Report-Domain: youju.dev\r\n" +
		"TLS-Report-Submitter: company-x.example\r\nSubject: Report Domain: youju.dev Submitter: company-x.example Report-ID: <5065427c>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"r\"\r\n\r\n" +
		"--r\r\nContent-Type: text/plain\r\n\r\nThis is an aggregate TLS report from company-x.example\r\n" +
		"--r\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Disposition: attachment; filename=\"company-x.example!youju.dev!1764633600!1764719999!5065427c.json.gz\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + b64(att) + "--r--\r\n")
}

func TestFromMessage(t *testing.T) {
	dx, _ := os.ReadFile("testdata/dmarc.xml")
	tj, _ := os.ReadFile("testdata/tlsrpt.json")
	for name, tc := range map[string]struct {
		msg  []byte
		kind string
	}{
		"dmarc zip":      {dmarcMail("application/zip", "google.com!youju.dev!1764633600!1764719999.zip", zipped("r.xml", dx)), KindDMARC},
		"dmarc gzip":     {dmarcMail("application/gzip", "google.com!youju.dev!1764633600!1764719999.xml.gz", gz(dx)), KindDMARC},
		"dmarc octet":    {dmarcMail("application/octet-stream", "report.xml.gz", gz(dx)), KindDMARC},
		"tlsrpt gzip":    {tlsrptMail(gz(tj)), KindTLSRPT},
		"plain xml body": {[]byte("Subject: r\r\nContent-Type: text/xml\r\n\r\n" + string(dx)), KindDMARC},
	} {
		found, err := FromMessage(tc.msg)
		if err != nil || len(found) != 1 {
			t.Fatalf("%s: %d reports, %v", name, len(found), err)
		}
		if found[0].Kind != tc.kind || found[0].Total == 0 || len(found[0].Raw) == 0 {
			t.Errorf("%s: %+v", name, found[0].Summary)
		}
	}
	for name, msg := range map[string][]byte{
		"ordinary mail":    []byte("Subject: hi\r\n\r\nhello\r\n"),
		"other zip":        dmarcMail("application/zip", "photos.zip", zipped("a.jpg", []byte("JFIF"))),
		"no header end":    []byte("Subject: x"),
		"broken multipart": []byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: application/gzip\r\n\r\nnot gzip"),
	} {
		if found, err := FromMessage(msg); len(found) != 0 {
			t.Errorf("%s: found %d reports (%v)", name, len(found), err)
		}
	}
}

func TestStoreSaveListByDay(t *testing.T) {
	dx, _ := os.ReadFile("testdata/dmarc.xml")
	tj, _ := os.ReadFile("testdata/tlsrpt.json")
	s := Store{Dir: t.TempDir()}
	for _, m := range [][]byte{dmarcMail("application/gzip", "r.xml.gz", gz(dx)), tlsrptMail(gz(tj)), dmarcMail("application/gzip", "r.xml.gz", gz(dx))} {
		found, err := FromMessage(m)
		if err != nil || len(found) != 1 {
			t.Fatal(len(found), err)
		}
		if err := s.Save(found[0], time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	sums, err := s.List()
	if err != nil || len(sums) != 2 {
		t.Fatalf("%d kept (the same DMARC report twice must be kept once), %v", len(sums), err)
	}
	rows := ByDay(sums)
	if len(rows) != 2 || rows[0].Kind != KindDMARC || rows[0].Org != "google.com" || rows[0].Pass != 47 || rows[0].Fail != 3 ||
		rows[1].Kind != KindTLSRPT || rows[1].Day != "2026-12-02" {
		t.Errorf("rows %+v", rows)
	}
	raw, _ := os.ReadFile(s.Dir + "/" + strings.TrimSuffix(firstJSON(t, s.Dir), ".json") + ".raw")
	if !bytes.HasPrefix(raw, []byte{0x1f, 0x8b}) {
		t.Error("the attachment is not kept as it came (gzip)")
	}
}

func firstJSON(t *testing.T, dir string) string {
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if strings.HasSuffix(e.Name(), ".json") {
			return e.Name()
		}
	}
	t.Fatal("no .json kept")
	return ""
}

// FuzzFromMessage: any mail gives reports or none, never a panic.
func FuzzFromMessage(f *testing.F) {
	dx, _ := os.ReadFile("testdata/dmarc.xml")
	tj, _ := os.ReadFile("testdata/tlsrpt.json")
	f.Add(dmarcMail("application/gzip", "r.xml.gz", gz(dx)))
	f.Add(tlsrptMail(gz(tj)))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: multipart/mixed; boundary=y\r\n\r\n--y\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		found, _ := FromMessage(msg)
		for _, r := range found {
			if r.Kind != KindDMARC && r.Kind != KindTLSRPT {
				t.Fatalf("kind %q", r.Kind)
			}
		}
	})
}
