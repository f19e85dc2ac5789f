// Package reports parses the reports other mail servers send to
// postmaster: DMARC aggregate reports (RFC 7489 §7.2, XML, Appendix C)
// and SMTP TLS reports (RFC 8460 §4, JSON), as they come attached: plain,
// gzip (.gz) or zip (.zip, one file). It turns each into a Summary.
//
// Every input is bounded: compressed data expands to at most MaxReport
// bytes, a zip holds at most one report file.
package reports

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// MaxReport bounds a report after decompression (a large receiver's
// daily DMARC report is a few MiB).
const MaxReport = 16 << 20

// Kinds of report.
const (
	KindDMARC  = "dmarc"
	KindTLSRPT = "tlsrpt"
)

// Summary is what an administrator wants to know of one report.
type Summary struct {
	Kind       string
	Org        string // who sent it
	ReportID   string
	Domain     string // our domain it is about
	Begin, End time.Time
	// Messages counted; Pass/Fail: DMARC pass or fail (DKIM or SPF
	// aligned), or TLS sessions that succeeded or failed.
	Total, Pass, Fail int64
	// Failures by cause: for DMARC the source IP of failing mail, for
	// TLS-RPT the result type (certificate-expired, sts-policy-invalid,
	// ...), with counts.
	Failures map[string]int64
}

var errTooLarge = errors.New("reports: report larger than 16 MiB")

// Unpack returns the report inside data, decompressing gzip or zip as
// their magic numbers say.
func Unpack(data []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("reports: gzip: %w", err)
		}
		return readMax(zr)
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return nil, fmt.Errorf("reports: zip: %w", err)
		}
		if len(zr.File) != 1 {
			return nil, fmt.Errorf("reports: zip holds %d files, want one report", len(zr.File))
		}
		f, err := zr.File[0].Open()
		if err != nil {
			return nil, fmt.Errorf("reports: zip: %w", err)
		}
		defer f.Close()
		return readMax(f)
	}
	if len(data) > MaxReport {
		return nil, errTooLarge
	}
	return data, nil
}

func readMax(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxReport+1))
	if err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	if len(b) > MaxReport {
		return nil, errTooLarge
	}
	return b, nil
}

// Parse unpacks data and parses it as whichever report it is: XML is a
// DMARC aggregate report, a JSON object a TLS report.
func Parse(data []byte) (Summary, error) {
	b, err := Unpack(data)
	if err != nil {
		return Summary{}, err
	}
	t := bytes.TrimSpace(b)
	switch {
	case bytes.HasPrefix(t, []byte("<")):
		return ParseDMARC(t)
	case bytes.HasPrefix(t, []byte("{")):
		return ParseTLSRPT(t)
	}
	return Summary{}, errors.New("reports: neither a DMARC (XML) nor a TLS (JSON) report")
}

// dmarcFeedback is the part of RFC 7489 Appendix C we read.
type dmarcFeedback struct {
	XMLName  xml.Name `xml:"feedback"`
	Metadata struct {
		Org       string `xml:"org_name"`
		ReportID  string `xml:"report_id"`
		DateRange struct {
			Begin int64 `xml:"begin"`
			End   int64 `xml:"end"`
		} `xml:"date_range"`
	} `xml:"report_metadata"`
	Policy struct {
		Domain string `xml:"domain"`
	} `xml:"policy_published"`
	Records []struct {
		Row struct {
			SourceIP  string `xml:"source_ip"`
			Count     int64  `xml:"count"`
			Evaluated struct {
				DKIM string `xml:"dkim"`
				SPF  string `xml:"spf"`
			} `xml:"policy_evaluated"`
		} `xml:"row"`
	} `xml:"record"`
}

// ParseDMARC parses a DMARC aggregate report (RFC 7489 Appendix C).
// A row passes DMARC when DKIM or SPF passed aligned (§3.1, §6.6.2).
func ParseDMARC(b []byte) (Summary, error) {
	var fb dmarcFeedback
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	if err := d.Decode(&fb); err != nil {
		return Summary{}, fmt.Errorf("reports: DMARC XML: %w", err)
	}
	if fb.Metadata.Org == "" || fb.Policy.Domain == "" {
		return Summary{}, errors.New("reports: DMARC report without org_name or policy_published/domain")
	}
	s := Summary{Kind: KindDMARC, Org: fb.Metadata.Org, ReportID: fb.Metadata.ReportID,
		Domain: strings.ToLower(fb.Policy.Domain), Failures: map[string]int64{},
		Begin: time.Unix(fb.Metadata.DateRange.Begin, 0).UTC(), End: time.Unix(fb.Metadata.DateRange.End, 0).UTC()}
	for _, r := range fb.Records {
		n := r.Row.Count
		if n < 0 {
			return Summary{}, errors.New("reports: negative count")
		}
		s.Total += n
		if r.Row.Evaluated.DKIM == "pass" || r.Row.Evaluated.SPF == "pass" {
			s.Pass += n
		} else {
			s.Fail += n
			s.Failures[r.Row.SourceIP] += n
		}
	}
	return s, nil
}

// tlsReport is the part of RFC 8460 §4.4 we read.
type tlsReport struct {
	Org       string `json:"organization-name"`
	DateRange struct {
		Start time.Time `json:"start-datetime"`
		End   time.Time `json:"end-datetime"`
	} `json:"date-range"`
	ReportID string `json:"report-id"`
	Policies []struct {
		Policy struct {
			Domain string `json:"policy-domain"`
		} `json:"policy"`
		Summary struct {
			Success int64 `json:"total-successful-session-count"`
			Failure int64 `json:"total-failure-session-count"`
		} `json:"summary"`
		Details []struct {
			Type  string `json:"result-type"`
			Count int64  `json:"failed-session-count"`
		} `json:"failure-details"`
	} `json:"policies"`
}

// ParseTLSRPT parses an SMTP TLS report (RFC 8460 §4).
func ParseTLSRPT(b []byte) (Summary, error) {
	var r tlsReport
	if err := json.Unmarshal(b, &r); err != nil {
		return Summary{}, fmt.Errorf("reports: TLS report JSON: %w", err)
	}
	if r.Org == "" || len(r.Policies) == 0 {
		return Summary{}, errors.New("reports: TLS report without organization-name or policies")
	}
	s := Summary{Kind: KindTLSRPT, Org: r.Org, ReportID: r.ReportID, Begin: r.DateRange.Start, End: r.DateRange.End,
		Domain: strings.ToLower(r.Policies[0].Policy.Domain), Failures: map[string]int64{}}
	for _, p := range r.Policies {
		if p.Summary.Success < 0 || p.Summary.Failure < 0 {
			return Summary{}, errors.New("reports: negative count")
		}
		s.Pass += p.Summary.Success
		s.Fail += p.Summary.Failure
		for _, d := range p.Details {
			s.Failures[d.Type] += d.Count
		}
	}
	s.Total = s.Pass + s.Fail
	return s, nil
}

// String is one line per report, then the failure causes, most first.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-6s %s  %s  %s .. %s  total %d, pass %d, fail %d", s.Kind, s.Domain, s.Org,
		s.Begin.Format("2006-01-02"), s.End.Format("2006-01-02"), s.Total, s.Pass, s.Fail)
	keys := make([]string, 0, len(s.Failures))
	for k := range s.Failures {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if s.Failures[keys[i]] != s.Failures[keys[j]] {
			return s.Failures[keys[i]] > s.Failures[keys[j]]
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		fmt.Fprintf(&b, "\n         %-40s %d", k, s.Failures[k])
	}
	return b.String()
}
