package message

import (
	"bytes"
	"sort"
	"strconv"
	"strings"
)

// Limits that keep the parse bounded for any input.
const (
	// maxHeaderBytes is how much of one header is read for fields; a longer
	// header still extends to its blank line (the offsets stay exact), its
	// tail is just not looked at.
	maxHeaderBytes = 1 << 20
	// maxFieldValue caps one kept field value.
	maxFieldValue = 256 << 10
	// maxParams caps the parameters kept per Content-Type/-Disposition.
	maxParams = 64
	// maxContinuations caps RFC 2231 continuation sections per parameter.
	maxContinuations = 100
)

// fields holds the header fields a part needs, each the first occurrence,
// unfolded and trimmed, as raw (undecoded) strings.
type fields struct {
	date, subject, from, sender, replyTo, to, cc, bcc string
	inReplyTo, messageID, references                  string
	contentType, encoding, id, description, md5       string
	disposition, language, location                   string
	has                                               uint32 // bit set of seen fields
}

// field indexes for fields.has.
const (
	fDate = iota
	fSubject
	fFrom
	fSender
	fReplyTo
	fTo
	fCc
	fBcc
	fInReplyTo
	fMessageID
	fContentType
	fEncoding
	fID
	fDescription
	fMD5
	fDisposition
	fLanguage
	fLocation
	fReferences
)

var fieldNames = [...]string{
	fDate: "date", fSubject: "subject", fFrom: "from", fSender: "sender",
	fReplyTo: "reply-to", fTo: "to", fCc: "cc", fBcc: "bcc",
	fInReplyTo: "in-reply-to", fMessageID: "message-id",
	fContentType: "content-type", fEncoding: "content-transfer-encoding",
	fID: "content-id", fDescription: "content-description", fMD5: "content-md5",
	fDisposition: "content-disposition", fLanguage: "content-language",
	fLocation: "content-location", fReferences: "references",
}

func (f *fields) slot(i int) *string {
	switch i {
	case fDate:
		return &f.date
	case fSubject:
		return &f.subject
	case fFrom:
		return &f.from
	case fSender:
		return &f.sender
	case fReplyTo:
		return &f.replyTo
	case fTo:
		return &f.to
	case fCc:
		return &f.cc
	case fBcc:
		return &f.bcc
	case fInReplyTo:
		return &f.inReplyTo
	case fMessageID:
		return &f.messageID
	case fContentType:
		return &f.contentType
	case fEncoding:
		return &f.encoding
	case fID:
		return &f.id
	case fDescription:
		return &f.description
	case fMD5:
		return &f.md5
	case fDisposition:
		return &f.disposition
	case fLanguage:
		return &f.language
	case fReferences:
		return &f.references
	default:
		return &f.location
	}
}

// splitHeader finds the end of the header that starts at start in
// data[:end]. It returns the header text (without the blank line) and the
// offset where the body starts: after the CRLF CRLF, or end if the part has
// no blank line (a header without body, RFC 5322 §2.1 allows no body).
// A part that starts with CRLF has an empty header.
func splitHeader(data []byte, start, end int) (hdr []byte, bodyStart int) {
	region := data[start:end]
	if bytes.HasPrefix(region, crlf) {
		return nil, start + 2
	}
	if i := bytes.Index(region, crlfcrlf); i >= 0 {
		return region[:i+2], start + i + 4
	}
	return region, end
}

var (
	crlf     = []byte("\r\n")
	crlfcrlf = []byte("\r\n\r\n")
)

// parseFields reads the interesting fields of a header (RFC 5322 §2.2).
// Lines without a colon are skipped (mbox "From " lines, garbage).
func parseFields(hdr []byte) fields {
	var f fields
	if len(hdr) > maxHeaderBytes {
		hdr = hdr[:maxHeaderBytes]
	}
	for len(hdr) > 0 {
		// One field: a line plus its continuation lines (RFC 5322 §2.2.3).
		var line []byte
		line, _, hdr = splitField(hdr)
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		// RFC 5322 §4.5.3 obs-optional: WSP may precede the colon.
		name := bytes.TrimRight(line[:colon], " \t")
		idx := fieldIndex(name)
		if idx < 0 || f.has&(1<<idx) != 0 {
			continue
		}
		f.has |= 1 << idx
		*f.slot(idx) = unfold(line[colon+1:])
	}
	return f
}

func fieldIndex(name []byte) int {
	if len(name) < 2 || len(name) > 25 {
		return -1
	}
	for i, n := range fieldNames {
		if len(n) == len(name) && strings.EqualFold(n, string(name)) {
			return i
		}
	}
	return -1
}

// unfold removes the CRLFs of a folded field value (RFC 5322 §2.2.3),
// keeping the whitespace that follows them, and trims the ends.
func unfold(v []byte) string {
	if len(v) > maxFieldValue {
		v = v[:maxFieldValue]
	}
	v = bytes.TrimSpace(v)
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return string(v)
	}
	b := make([]byte, 0, len(v))
	for _, c := range v {
		if c != '\r' && c != '\n' {
			b = append(b, c)
		}
	}
	return string(b)
}

// mediaType parses a Content-Type or Content-Disposition value: the
// lower-cased value before the first ";" and the parameters (RFC 2045 §5.1,
// RFC 2183 §2). It never fails; garbage parameters are skipped.
func mediaType(v string) (string, []Param) {
	head, rest, _ := strings.Cut(v, ";")
	head = strings.ToLower(strings.TrimSpace(stripComments(head)))
	return head, parseParams(rest)
}

// stripComments removes RFC 5322 comments "(...)" outside quoted strings.
func stripComments(s string) string {
	if !strings.Contains(s, "(") {
		return s
	}
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted:
			b.WriteByte(c)
			if c == '\\' && i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			} else if c == '"' {
				quoted = false
			}
		case c == '\\' && depth > 0:
			i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '"':
			quoted = true
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

type rawParam struct {
	name, value string
	section     int  // RFC 2231 §3 continuation number, -1 if none
	extended    bool // RFC 2231 §4 "*" encoded value
}

// parseParams parses "; name=value; ..." tolerantly: values may be quoted
// strings or tokens; an unquoted value runs to the next ";" so that
// unquoted file names with spaces survive. RFC 2231 continuations and
// charsets are decoded (the result is UTF-8), and a plain parameter loses
// to its RFC 2231 form.
func parseParams(s string) []Param {
	var raws []rawParam
	for len(s) > 0 && len(raws) < maxParams*4 {
		s = strings.TrimLeft(s, " \t;")
		eq := strings.IndexAny(s, "=;")
		if eq < 0 {
			break
		}
		if s[eq] == ';' {
			s = s[eq:]
			continue
		}
		name := strings.ToLower(strings.TrimSpace(stripComments(s[:eq])))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if strings.HasPrefix(s, "\"") {
			val, s = quotedString(s)
		} else {
			end := strings.IndexByte(s, ';')
			if end < 0 {
				end = len(s)
			}
			val = strings.TrimSpace(stripComments(s[:end]))
			s = s[end:]
		}
		if name == "" || strings.ContainsAny(name, " \t\"") {
			continue
		}
		raws = append(raws, splitSection(name, val))
	}
	return assembleParams(raws)
}

// quotedString reads a quoted string at the start of s, returning its
// content (quoted-pairs undone) and the remainder. An unterminated string
// runs to the end.
func quotedString(s string) (string, string) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}

func splitSection(name, val string) rawParam {
	p := rawParam{name: name, value: val, section: -1}
	if strings.HasSuffix(p.name, "*") {
		p.extended = true
		p.name = p.name[:len(p.name)-1]
	}
	if i := strings.LastIndexByte(p.name, '*'); i > 0 {
		if n, err := strconv.Atoi(p.name[i+1:]); err == nil && n >= 0 && n < maxContinuations {
			p.section = n
			p.name = p.name[:i]
		}
	}
	return p
}

// assembleParams joins RFC 2231 sections and decodes extended values.
func assembleParams(raws []rawParam) []Param {
	var out []Param
	index := map[string]int{}
	is2231 := map[string]bool{}
	sections := map[string][]rawParam{}
	for _, r := range raws {
		if r.extended || r.section >= 0 {
			sections[r.name] = append(sections[r.name], r)
			if _, ok := index[r.name]; !ok {
				if len(out) >= maxParams {
					continue
				}
				index[r.name] = len(out)
				out = append(out, Param{Name: r.name})
			}
			is2231[r.name] = true
			continue
		}
		if _, ok := index[r.name]; ok || len(out) >= maxParams {
			continue
		}
		index[r.name] = len(out)
		out = append(out, Param{Name: r.name, Value: r.value})
	}
	for name, secs := range sections {
		i, ok := index[name]
		if !ok || !is2231[name] {
			continue
		}
		out[i].Value = join2231(secs)
	}
	return out
}

// join2231 concatenates the sections of one parameter in order and
// decodes them (RFC 2231 §3, §4): the first extended section may carry
// charset'language'; "*" sections are %-encoded in that charset.
func join2231(secs []rawParam) string {
	sort.SliceStable(secs, func(i, j int) bool { return secs[i].section < secs[j].section })
	var charset string
	var b []byte
	last := -2
	for k, s := range secs {
		if s.section == last {
			continue // duplicate section
		}
		last = s.section
		v := s.value
		if s.extended {
			if k == 0 {
				if parts := strings.SplitN(v, "'", 3); len(parts) == 3 {
					charset, v = parts[0], parts[2]
				}
			}
			b = append(b, percentDecode(v)...)
		} else {
			b = append(b, v...)
		}
	}
	if charset == "" {
		return validUTF8(b)
	}
	out, _ := DecodeCharset(charset, b)
	return out
}

func percentDecode(s string) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return b
}
