package message

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenDump is what a golden file holds: the Info and, to make the
// offsets reviewable by eye, each part's MIME header and body as sliced
// from the message bytes.
type goldenDump struct {
	Info     *Info
	Sections []goldenSection
	BodyText string
}

type goldenSection struct {
	Path   string
	Type   string
	Header string
	Body   string
}

func corpus(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	return files
}

func loadMessage(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return NormalizeCRLF(raw)
}

func TestGolden(t *testing.T) {
	for _, name := range corpus(t) {
		t.Run(filepath.Base(name), func(t *testing.T) {
			data := loadMessage(t, name)
			info := Parse(data)
			checkOffsets(t, data, info)
			checkRoundTrip(t, info)
			text, err := BodyText(bytes.NewReader(data), info, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			dump := goldenDump{Info: info, BodyText: text}
			walkParts(&info.Body, "", func(path string, p *Part) {
				dump.Sections = append(dump.Sections, goldenSection{
					Path:   path,
					Type:   p.Type + "/" + p.Subtype,
					Header: string(data[p.HeaderOffset:p.BodyOffset]),
					Body:   clip(string(data[p.BodyOffset : p.BodyOffset+p.Size])),
				})
			})
			got, err := json.MarshalIndent(dump, "", "\t")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(name, ".eml") + ".json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from golden; run go test -update and review the diff\ngot:\n%s", golden, got)
			}
		})
	}
}

func clip(s string) string {
	if len(s) > 400 {
		return s[:400] + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return s
}

// walkParts visits every part with an IMAP-like path: children of a
// multipart are .1, .2, ...; the message inside message/rfc822 is .M.
func walkParts(p *Part, path string, fn func(string, *Part)) {
	if path == "" {
		fn("ROOT", p)
	} else {
		fn(path, p)
	}
	for i := range p.Parts {
		walkParts(&p.Parts[i], join(path, fmt.Sprint(i+1)), fn)
	}
	if p.Message != nil {
		walkParts(p.Message, join(path, "M"), fn)
	}
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// checkOffsets asserts what Parse documents about offsets by slicing the
// message: ranges nest and stay in bounds, headers end with the blank line,
// multipart children sit between delimiter lines of their boundary and end
// before the CRLF that precedes the next one.
func checkOffsets(t *testing.T, data []byte, info *Info) {
	t.Helper()
	if info.Size != int64(len(data)) || info.Body.HeaderOffset != 0 {
		t.Fatalf("Size %d HeaderOffset %d, message is %d bytes", info.Size, info.Body.HeaderOffset, len(data))
	}
	checkPart(t, data, &info.Body, 0, int64(len(data)))
}

func checkPart(t *testing.T, data []byte, p *Part, start, end int64) {
	t.Helper()
	h, b, e := p.HeaderOffset, p.BodyOffset, p.BodyOffset+p.Size
	if h != start || h > b || p.Size < 0 || e != end {
		t.Fatalf("part %s/%s: header %d body %d end %d, want [%d,%d)", p.Type, p.Subtype, h, b, e, start, end)
	}
	hdr := data[h:b]
	switch {
	case len(hdr) == 0, string(hdr) == "\r\n", bytes.HasSuffix(hdr, []byte("\r\n\r\n")):
	case b == end && !bytes.Contains(hdr, []byte("\r\n\r\n")):
		// A header without a blank line: the whole entity.
	default:
		t.Errorf("part %s/%s: header %q does not end with the blank line", p.Type, p.Subtype, hdr)
	}
	if bytes.Contains(hdr[:max(len(hdr)-4, 0)], []byte("\r\n\r\n")) {
		t.Errorf("part %s/%s: header %q contains a blank line", p.Type, p.Subtype, hdr)
	}
	if p.Type == "multipart" && len(p.Parts) == 0 {
		t.Errorf("multipart without children")
	}
	var boundary string
	for _, prm := range p.Params {
		if prm.Name == "boundary" {
			boundary = prm.Value
		}
	}
	for i := range p.Parts {
		c := &p.Parts[i]
		cend := c.BodyOffset + c.Size
		checkPart(t, data, c, c.HeaderOffset, cend)
		if c.HeaderOffset < b || cend > e {
			t.Fatalf("child [%d,%d) outside parent body [%d,%d)", c.HeaderOffset, cend, b, e)
		}
		if i > 0 && c.HeaderOffset < p.Parts[i-1].BodyOffset+p.Parts[i-1].Size {
			t.Fatalf("children overlap")
		}
		if c.HeaderOffset == b && c.BodyOffset == b && c.Size == e-b {
			continue // the synthesised whole-body child
		}
		// The line before the child is a delimiter line.
		line := data[:c.HeaderOffset]
		if k := bytes.LastIndex(line[:max(len(line)-2, 0)], []byte("\r\n")); k >= 0 {
			line = line[k+2:]
		}
		if !bytes.HasPrefix(line, []byte("--"+boundary)) {
			t.Errorf("child %d of %s: preceded by %q, not a delimiter of %q", i+1, p.Subtype, line, boundary)
		}
		rest := data[cend:e]
		if cend == c.HeaderOffset && bytes.HasPrefix(rest, []byte("--"+boundary)) {
			continue // empty entity: the CRLF before the delimiter ended the previous line
		}
		if len(rest) > 0 && !bytes.HasPrefix(rest, []byte("\r\n--"+boundary)) {
			t.Errorf("child %d of %s: followed by %q, not CRLF and a delimiter", i+1, p.Subtype, clip(string(rest)))
		}
	}
	if p.Message != nil {
		checkPart(t, data, p.Message, b, e)
	}
}

// checkRoundTrip asserts Marshal/UnmarshalInfo preserve the Info.
func checkRoundTrip(t testing.TB, info *Info) {
	t.Helper()
	enc := info.Marshal()
	back, err := UnmarshalInfo(enc)
	if err != nil {
		t.Fatalf("UnmarshalInfo(Marshal()): %v", err)
	}
	if !bytes.Equal(back.Marshal(), enc) {
		t.Fatalf("re-marshalled bytes differ")
	}
	j1, _ := json.Marshal(info)
	j2, _ := json.Marshal(back)
	if !bytes.Equal(j1, j2) {
		t.Fatalf("round trip differs:\n%s\n%s", j1, j2)
	}
	if !back.SentDate.Equal(info.SentDate) {
		t.Fatalf("SentDate %v != %v", back.SentDate, info.SentDate)
	}
}

// TestCorpusSlices pins a few sections by content, so that the offsets are
// checked against what a reader expects and not just against themselves.
func TestCorpusSlices(t *testing.T) {
	section := func(t *testing.T, file string, pick func(*Info) *Part) (string, string, *Part) {
		t.Helper()
		data := loadMessage(t, "testdata/"+file)
		p := pick(Parse(data))
		return string(data[p.HeaderOffset:p.BodyOffset]), string(data[p.BodyOffset : p.BodyOffset+p.Size]), p
	}
	t.Run("attachment", func(t *testing.T) {
		hdr, body, p := section(t, "multipart-mixed-attachment.eml", func(i *Info) *Part { return &i.Body.Parts[1] })
		if !strings.HasPrefix(hdr, "Content-Type: application/pdf;") || !strings.HasSuffix(hdr, "report.pdf\r\n\r\n") {
			t.Errorf("MIME header %q", hdr)
		}
		if body != "JVBERi0xLjQKJWZha2UgcGRmIGZvciB0ZXN0cwolJUVPRgo=" {
			t.Errorf("body %q", body)
		}
		if p.Disposition != "attachment" || p.ID != "<part2@example.net>" || p.MD5 == "" ||
			strings.Join(p.Language, ",") != "en,de" || p.Location != "http://example.net/report.pdf" {
			t.Errorf("fields %+v", p)
		}
	})
	t.Run("first part text", func(t *testing.T) {
		_, body, p := section(t, "multipart-mixed-attachment.eml", func(i *Info) *Part { return &i.Body.Parts[0] })
		if body != "Please find the report attached.\r\n" || p.Lines != 1 {
			t.Errorf("body %q lines %d", body, p.Lines)
		}
	})
	t.Run("related image", func(t *testing.T) {
		hdr, _, p := section(t, "related-in-mixed.eml", func(i *Info) *Part { return &i.Body.Parts[0].Parts[1] })
		if !strings.HasPrefix(hdr, "Content-Type: image/png\r\n") || p.ID != "<img1@example.com>" {
			t.Errorf("header %q", hdr)
		}
	})
	t.Run("encapsulated message", func(t *testing.T) {
		hdr, body, p := section(t, "nested-rfc822.eml", func(i *Info) *Part { return i.Body.Parts[1].Message })
		if !strings.HasPrefix(hdr, "Date: Tue, 24 Nov 2026") || !strings.HasSuffix(body, "--a--\r\n") {
			t.Errorf("header %q body %q", hdr, body)
		}
		if len(p.Parts) != 2 || p.Parts[1].Subtype != "html" {
			t.Errorf("inner structure %+v", p)
		}
	})
	t.Run("header only", func(t *testing.T) {
		hdr, body, _ := section(t, "header-only.eml", func(i *Info) *Part { return &i.Body })
		if body != "" || !strings.HasSuffix(hdr, "no blank line") {
			t.Errorf("header %q body %q", hdr, body)
		}
	})
}
