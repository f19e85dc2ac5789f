package reports

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"os"
	"strings"
	"testing"
)

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func zipped(name string, b []byte) []byte {
	var out bytes.Buffer
	w := zip.NewWriter(&out)
	f, _ := w.Create(name)
	f.Write(b)
	w.Close()
	return out.Bytes()
}

func TestDMARC(t *testing.T) {
	raw, _ := os.ReadFile("testdata/dmarc.xml")
	for name, data := range map[string][]byte{"plain": raw, "gzip": gz(raw), "zip": zipped("google.com!youju.dev!1764633600!1764719999.xml", raw)} {
		s, err := Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.Kind != KindDMARC || s.Org != "google.com" || s.Domain != "youju.dev" || s.Total != 50 || s.Pass != 47 || s.Fail != 3 ||
			s.Failures["198.51.100.7"] != 3 || s.Begin.Format("2006-01-02") != "2025-12-02" {
			t.Errorf("%s: %+v", name, s)
		}
	}
}

func TestTLSRPT(t *testing.T) {
	raw, _ := os.ReadFile("testdata/tlsrpt.json")
	s, err := Parse(gz(raw))
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != KindTLSRPT || s.Org != "Company-X" || s.Domain != "youju.dev" || s.Pass != 5326 || s.Fail != 303 ||
		s.Failures["starttls-not-supported"] != 200 || s.Failures["certificate-expired"] != 100 {
		t.Errorf("%+v", s)
	}
	out := s.String()
	if !strings.Contains(out, "fail 303") || strings.Index(out, "starttls-not-supported") > strings.Index(out, "certificate-expired") {
		t.Errorf("summary not ordered by count:\n%s", out)
	}
}

func TestRefused(t *testing.T) {
	bomb := gz(bytes.Repeat([]byte("<"), MaxReport+10))
	for name, data := range map[string][]byte{
		"garbage": []byte("hello"),
		"bomb":    bomb,
		"two files": func() []byte {
			var b bytes.Buffer
			w := zip.NewWriter(&b)
			w.Create("a")
			w.Create("b")
			w.Close()
			return b.Bytes()
		}(),
		"no org":   []byte(`<feedback><policy_published><domain>x</domain></policy_published></feedback>`),
		"negative": []byte(`{"organization-name":"x","policies":[{"summary":{"total-successful-session-count":-1}}]}`),
		"bad gzip": {0x1f, 0x8b, 0, 0},
	} {
		if _, err := Parse(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzParse: any attachment is parsed or refused, never a panic.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/dmarc.xml", "testdata/tlsrpt.json"} {
		b, _ := os.ReadFile(p)
		f.Add(b)
		f.Add(gz(b))
		f.Add(zipped("r", b))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := Parse(b); err == nil {
			_ = s.String()
		}
	})
}
