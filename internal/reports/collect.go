package reports

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/youju/youju/internal/fsutil"
)

// Limits of FromMessage: a report mail is one multipart/report or
// multipart/mixed with the report attached; anything deeper or wider is
// not a report we want to dig for.
const (
	maxParts = 32
	maxDepth = 4
)

// Found is one report attached to a mail.
type Found struct {
	Summary
	// Raw is the attachment as it came (decoded from base64, still
	// compressed), kept for audit.
	Raw []byte
}

// reportType says whether a MIME part may hold a report, by its media
// type (RFC 7489 §7.2.1.1: the DMARC report is gzip, zip or bare XML;
// RFC 8460 §5.3: application/tlsrpt+gzip or application/tlsrpt+json) or,
// for the generic types senders also use, by its file name.
func reportType(mediaType, filename string) bool {
	switch mediaType {
	case "application/gzip", "application/x-gzip", "application/zip", "application/x-zip-compressed",
		"application/xml", "text/xml", "application/tlsrpt+gzip", "application/tlsrpt+json":
		return true
	case "application/octet-stream", "application/json":
		f := strings.ToLower(filename)
		return strings.HasSuffix(f, ".xml") || strings.HasSuffix(f, ".gz") || strings.HasSuffix(f, ".zip") || strings.HasSuffix(f, ".json")
	}
	return false
}

// FromMessage finds and parses the DMARC aggregate and TLS reports
// attached to msg (a whole RFC 5322 message). A mail that is not a report
// gives none and no error; a part that looks like a report but does not
// parse is skipped.
func FromMessage(msg []byte) ([]Found, error) {
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(msg)))
	h, err := tp.ReadMIMEHeader()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reports: header: %w", err)
	}
	var out []Found
	parts := 0
	err = walk(h, tp.R, 0, &parts, &out)
	return out, err
}

func walk(h textproto.MIMEHeader, body io.Reader, depth int, parts *int, out *[]Found) error {
	*parts++
	if *parts > maxParts || depth > maxDepth {
		return nil
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return nil // end, or a broken structure: keep what we found
			}
			if err := walk(p.Header, p, depth+1, parts, out); err != nil {
				return err
			}
		}
	}
	filename := params["name"]
	if _, dp, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil && dp["filename"] != "" {
		filename = dp["filename"]
	}
	if !reportType(mt, filename) {
		return nil
	}
	var r io.Reader = body
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &skipSpace{r: body})
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	}
	raw, err := io.ReadAll(io.LimitReader(r, MaxReport+1))
	if err != nil || len(raw) > MaxReport {
		return nil
	}
	s, err := Parse(raw)
	if err != nil {
		return nil
	}
	*out = append(*out, Found{Summary: s, Raw: raw})
	return nil
}

// skipSpace drops CR, LF, space and tab, which base64 bodies carry
// between their lines (RFC 2045 §6.8).
type skipSpace struct{ r io.Reader }

func (s *skipSpace) Read(p []byte) (int, error) {
	for {
		n, err := s.r.Read(p)
		j := 0
		for _, c := range p[:n] {
			if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// Store keeps received reports in a directory (DATA/reports): for each,
// its summary as JSON and the attachment as it came, both written
// atomically. The same report received twice is kept once.
type Store struct{ Dir string }

// stored is the JSON form of a kept report.
type stored struct {
	Summary
	Received time.Time `json:"received"`
}

// Save keeps f. The file name is derived from the report's kind, sender
// and id, so a duplicate replaces the first copy.
func (s Store) Save(f Found, received time.Time) error {
	if err := os.MkdirAll(s.Dir, 0o750); err != nil {
		return err
	}
	h := sha256.Sum256([]byte(f.Kind + "\x00" + f.Org + "\x00" + f.ReportID + "\x00" + f.Domain))
	base := f.Begin.UTC().Format("2006-01-02") + "-" + f.Kind + "-" + hex.EncodeToString(h[:8])
	if err := fsutil.WriteFileAtomic(filepath.Join(s.Dir, base+".raw"), f.Raw, 0o640); err != nil {
		return err
	}
	j, err := json.Marshal(stored{Summary: f.Summary, Received: received.UTC()})
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(s.Dir, base+".json"), append(j, '\n'), 0o640)
}

// List returns the summaries kept, oldest report first.
func (s Store) List() ([]Summary, error) {
	names, err := filepath.Glob(filepath.Join(s.Dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []Summary
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		var st stored
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("reports: %s: %w", n, err)
		}
		out = append(out, st.Summary)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Begin.Before(out[j].Begin) })
	return out, nil
}

// Row is the summary of one reporter's reports of one kind for one day.
type Row struct {
	Day               string // of the report period's start, UTC, 2006-01-02
	Kind, Org, Domain string
	Reports           int
	Total, Pass, Fail int64
}

// ByDay sums summaries per day, kind, reporter and domain, oldest first.
func ByDay(sums []Summary) []Row {
	idx := map[[4]string]*Row{}
	var rows []*Row
	for _, s := range sums {
		k := [4]string{s.Begin.UTC().Format("2006-01-02"), s.Kind, s.Org, s.Domain}
		r := idx[k]
		if r == nil {
			r = &Row{Day: k[0], Kind: k[1], Org: k[2], Domain: k[3]}
			idx[k] = r
			rows = append(rows, r)
		}
		r.Reports++
		r.Total += s.Total
		r.Pass += s.Pass
		r.Fail += s.Fail
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Day != rows[j].Day {
			return rows[i].Day < rows[j].Day
		}
		return rows[i].Org < rows[j].Org
	})
	out := make([]Row, len(rows))
	for i, r := range rows {
		out[i] = *r
	}
	return out
}
