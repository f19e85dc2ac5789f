package mailauth

import (
	"bytes"
	"errors"
)

// tag is one tag=value pair of a DKIM tag-list (RFC 6376 §3.2).
type tag struct {
	name string
	// value is the value with the whitespace around it removed (FWS
	// inside it stays: the caller strips it where the grammar allows).
	value []byte
	// start and end delimit the whole value in the tag-list, the
	// whitespace around it included: RFC 6376 §3.7 deletes that span of
	// b= from the signature field before hashing it.
	start, end int
}

// tagList is a parsed tag-list, in order.
type tagList []tag

// Tag-list errors; each makes the signature or key record a PERMFAIL
// (RFC 6376 §6.1.1, §6.1.2).
var (
	errTagSyntax    = errors.New("malformed tag-list")
	errTagDuplicate = errors.New("duplicate tag")
)

// maxTags bounds the tags of one list: the grammar has a dozen; a list
// with many more is refused before anything is done with it.
const maxTags = 64

// parseTagList parses v as an RFC 6376 §3.2 tag-list:
//
//	tag-list  = tag-spec *( ";" tag-spec ) [ ";" ]
//	tag-spec  = [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
//	tag-name  = ALPHA *ALNUMPUNC
//
// An empty spec (";;", a trailing ";", only whitespace) is allowed, as
// go-msgauth and common practice do. A tag present twice is an error
// ("Tags with duplicate names MUST NOT occur within a single tag-list").
func parseTagList(v []byte) (tagList, error) {
	var out tagList
	pos := 0
	for pos <= len(v) {
		end := bytes.IndexByte(v[pos:], ';')
		if end < 0 {
			end = len(v)
		} else {
			end += pos
		}
		spec := v[pos:end]
		if eq := bytes.IndexByte(spec, '='); eq < 0 {
			if len(trimFWS(spec)) != 0 {
				return nil, errTagSyntax
			}
		} else {
			name := trimFWS(spec[:eq])
			if !validTagName(name) {
				return nil, errTagSyntax
			}
			if len(out) == maxTags {
				return nil, errTagSyntax
			}
			for i := range out {
				if out[i].name == string(name) {
					return nil, errTagDuplicate
				}
			}
			out = append(out, tag{name: string(name), value: trimFWS(spec[eq+1:]), start: pos + eq + 1, end: end})
		}
		pos = end + 1
	}
	return out, nil
}

// get returns the value of the tag named name.
func (l tagList) get(name string) ([]byte, bool) {
	for i := range l {
		if l[i].name == name {
			return l[i].value, true
		}
	}
	return nil, false
}

// find returns the tag named name, nil if there is none.
func (l tagList) find(name string) *tag {
	for i := range l {
		if l[i].name == name {
			return &l[i]
		}
	}
	return nil
}

// validTagName: ALPHA *ALNUMPUNC, ALNUMPUNC = ALPHA / DIGIT / "_" (RFC
// 6376 §3.2).
func validTagName(n []byte) bool {
	if len(n) == 0 || !isAlpha(n[0]) {
		return false
	}
	for _, c := range n[1:] {
		if !isAlpha(c) && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// isFWS: the bytes of folding whitespace (RFC 5322 §3.2.2; a header
// field's value reaches us folded).
func isFWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// trimFWS removes folding whitespace at both ends of b.
func trimFWS(b []byte) []byte {
	for len(b) > 0 && isFWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isFWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// stripFWS is b without any folding whitespace, as a string: the form
// of values whose grammar allows FWS anywhere (base64 b=, bh=, p=; the
// colon-separated h=).
func stripFWS(b []byte) string {
	clean := true
	for _, c := range b {
		if isFWS(c) {
			clean = false
			break
		}
	}
	if clean {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if !isFWS(c) {
			out = append(out, c)
		}
	}
	return string(out)
}
