package message

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// TestSectionsAgainstGoIMAP checks the byte ranges Parse records against an
// independent implementation: go-imap's imapserver, which re-parses the
// message for every FETCH BODY[section]. Both must return the same bytes
// for every section of the well-formed corpus messages.
func TestSectionsAgainstGoIMAP(t *testing.T) {
	malformed := map[string]bool{
		"missing-boundary.eml": true, "unterminated-multipart.eml": true, "header-only.eml": true,
		"bad-base64.eml": true, "rawgbk-encoded-rfc822.eml": true,
	}
	for _, name := range corpus(t) {
		if malformed[filepath.Base(name)] {
			continue
		}
		t.Run(filepath.Base(name), func(t *testing.T) {
			data := loadMessage(t, name)
			info := Parse(data)
			n := 0
			sections(info, nil, &info.Body, func(path []int, p *Part) {
				n++
				want := imapserver.ExtractBodySection(bytes.NewReader(data), &imap.FetchItemBodySection{Part: path})
				got := data[p.BodyOffset : p.BodyOffset+p.Size]
				if !bytes.Equal(got, want) {
					t.Errorf("BODY[%s]: ours %q, go-imap %q", fmtPath(path), clip(string(got)), clip(string(want)))
				}
				if p.Message == nil {
					return
				}
				for spec, ours := range map[imap.PartSpecifier][]byte{
					imap.PartSpecifierHeader: data[p.Message.HeaderOffset:p.Message.BodyOffset],
					imap.PartSpecifierText:   data[p.Message.BodyOffset : p.Message.BodyOffset+p.Message.Size],
				} {
					want := imapserver.ExtractBodySection(bytes.NewReader(data), &imap.FetchItemBodySection{Part: path, Specifier: spec})
					if !bytes.Equal(ours, want) {
						t.Errorf("BODY[%s.%s]: ours %q, go-imap %q", fmtPath(path), spec, clip(string(ours)), clip(string(want)))
					}
				}
			})
			if n == 0 {
				t.Fatal("no sections visited")
			}
			if filepath.Base(name) != "digest.eml" { // go-imap lacks the digest default
				compareStructure(t, "ROOT", data, &info.Body, imapserver.ExtractBodyStructure(bytes.NewReader(data)))
			}
		})
	}
}

// sections calls fn for every IMAP section number of the message whose
// entity is root, with the part Info.Part resolves it to.
func sections(info *Info, prefix []int, root *Part, fn func([]int, *Part)) {
	if root.Type != "multipart" {
		path := append(append([]int(nil), prefix...), 1)
		if info.Part(path) != root {
			panic(fmt.Sprintf("Info.Part(%v) is not the body", path))
		}
		fn(path, root)
		return
	}
	for i := range root.Parts {
		path := append(append([]int(nil), prefix...), i+1)
		p := &root.Parts[i]
		if info.Part(path) != p {
			panic(fmt.Sprintf("Info.Part(%v) is not child %d", path, i+1))
		}
		fn(path, p)
		switch {
		case p.Type == "multipart":
			sectionsOfMultipart(info, path, p, fn)
		case p.Message != nil:
			sections(info, path, p.Message, fn)
		}
	}
}

func sectionsOfMultipart(info *Info, path []int, p *Part, fn func([]int, *Part)) {
	for i := range p.Parts {
		sub := append(append([]int(nil), path...), i+1)
		c := &p.Parts[i]
		fn(sub, c)
		switch {
		case c.Type == "multipart":
			sectionsOfMultipart(info, sub, c, fn)
		case c.Message != nil:
			sections(info, sub, c.Message, fn)
		}
	}
}

func fmtPath(path []int) string {
	var b bytes.Buffer
	for i, n := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		fmt.Fprint(&b, n)
	}
	return b.String()
}

// compareStructure compares what both implementations must agree on:
// media types, sizes, line counts and the tree's shape. (go-imap counts
// lines as LFs; ours counts a last unterminated line too, so lines are
// compared where the body ends in CRLF.)
func compareStructure(t *testing.T, path string, data []byte, p *Part, bs imap.BodyStructure) {
	t.Helper()
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		if p.Type != "multipart" || p.Subtype != bs.Subtype || len(p.Parts) != len(bs.Children) {
			t.Errorf("%s: ours %s/%s with %d parts, go-imap multipart/%s with %d", path, p.Type, p.Subtype, len(p.Parts), bs.Subtype, len(bs.Children))
			return
		}
		for i := range p.Parts {
			compareStructure(t, fmt.Sprintf("%s.%d", path, i+1), data, &p.Parts[i], bs.Children[i])
		}
	case *imap.BodyStructureSinglePart:
		if bs.MediaType() != p.Type+"/"+p.Subtype || int64(bs.Size) != p.Size {
			t.Errorf("%s: ours %s/%s size %d, go-imap %s size %d", path, p.Type, p.Subtype, p.Size, bs.MediaType(), bs.Size)
		}
		body := data[p.BodyOffset : p.BodyOffset+p.Size]
		if bs.Text != nil && (len(body) == 0 || body[len(body)-1] == '\n') && bs.Text.NumLines != p.Lines {
			t.Errorf("%s: ours %d lines, go-imap %d", path, p.Lines, bs.Text.NumLines)
		}
		if m := bs.MessageRFC822; m != nil {
			if p.Message == nil {
				t.Errorf("%s: no encapsulated message", path)
				return
			}
			if m.Envelope.Subject != DecodeHeader(p.Envelope.Subject) {
				t.Errorf("%s: inner subject %q, go-imap %q", path, p.Envelope.Subject, m.Envelope.Subject)
			}
			compareStructure(t, path+".M", data, p.Message, m.BodyStructure)
		}
	default:
		t.Errorf("%s: unexpected %T", path, bs)
	}
}
