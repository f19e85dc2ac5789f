package message

import (
	"bytes"
	"strings"
)

// Limits on the MIME tree, so that Parse does bounded work for any input.
const (
	// MaxDepth is the deepest nesting of multiparts and encapsulated
	// messages that is parsed; deeper entities are parsed as leaves.
	MaxDepth = 20
	// MaxParts is the number of entities parsed per message; past it,
	// composite entities are parsed as leaves and further siblings are
	// dropped.
	MaxParts = 1000
)

// NormalizeCRLF returns data with every bare LF and bare CR turned into
// CRLF, the canonical form of RFC 5322 §2.1 in which sizes and offsets are
// counted. Data already in that form is returned as is, without a copy.
func NormalizeCRLF(data []byte) []byte {
	bad := firstBareEOL(data)
	if bad < 0 {
		return data
	}
	out := make([]byte, bad, len(data)+len(data)/32+16)
	copy(out, data[:bad])
	for i := bad; i < len(data); i++ {
		switch c := data[i]; c {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}

// IsCRLF reports whether every CR and LF of b is part of a CRLF pair
// (NormalizeCRLF would return b as it is), with two vectorised scans
// instead of a byte loop: the stores check every message they are handed
// that the caller did not say is in CRLF form already.
func IsCRLF(b []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		if i+j == 0 || b[i+j-1] != '\r' {
			return false
		}
		i += j + 1
	}
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\r')
		if j < 0 {
			return true
		}
		if i+j+1 >= len(b) || b[i+j+1] != '\n' {
			return false
		}
		i += j + 1
	}
}

// firstBareEOL returns the index of the first CR or LF of data that is
// not part of a CRLF pair, or -1. It looks from one LF to the next with
// the vectorised bytes.IndexByte, and checks the line between for a CR
// the same way: a message already in CRLF form (the common case) costs
// two fast scans, not a byte-by-byte loop.
func firstBareEOL(data []byte) int {
	for start := 0; start < len(data); {
		nl := bytes.IndexByte(data[start:], '\n')
		line := data[start:]
		if nl >= 0 {
			line = data[start : start+nl]
		}
		// The only CR allowed in line is its last byte, before the LF.
		if cr := bytes.IndexByte(line, '\r'); cr >= 0 && (nl < 0 || cr != len(line)-1) {
			return start + cr
		}
		if nl < 0 {
			return -1
		}
		if nl == 0 || line[nl-1] != '\r' {
			return start + nl
		}
		start += nl + 1
	}
	return -1
}

// Parse parses a message in CRLF form. It never fails: whatever the input,
// the result is a usable Info (RFC 2045 §5.2 defaults stand in for what is
// missing or malformed), and the work is linear in len(data) times
// MaxDepth at worst.
//
// Offsets, all relative to the start of data:
//   - Part.HeaderOffset is where the entity's MIME header starts: 0 for the
//     root; for a multipart child, the octet after the CRLF that ends the
//     boundary line (RFC 2046 §5.1.1; transport padding is part of that
//     line); for Part.Message of a message/rfc822, the parent's BodyOffset.
//   - Part.BodyOffset is where the body starts: after the CRLF CRLF that ends
//     the header (the blank line belongs to the header, so
//     data[HeaderOffset:BodyOffset] is BODY[n.MIME] or BODY[HEADER]). A part
//     whose first line is empty has an empty header and BodyOffset =
//     HeaderOffset+2. A part without a blank line is all header:
//     BodyOffset is its end and Size is 0.
//   - Part.Size is the body's length: data[BodyOffset:BodyOffset+Size] is
//     BODY[n] (or BODY[TEXT] for the root). A multipart child ends before
//     the CRLF that precedes the next boundary line, which belongs to the
//     boundary (RFC 2046 §5.1.1); an unterminated last child runs to the
//     end of its parent's body. A multipart's own body includes preamble,
//     boundaries and epilogue.
//
// A multipart always has at least one child, as RFC 9051 body-type-mpart
// requires: when no boundary splits its body (no boundary parameter, no
// delimiter line, or the limits are reached), it gets one text/plain child
// with an empty header that spans the whole body (HeaderOffset ==
// BodyOffset == the multipart's BodyOffset). A message/rfc822 or
// message/global part has Message and Envelope set unless its
// Content-Transfer-Encoding is not an identity one (7bit/8bit/binary) or
// the limits are reached; then Message is nil and IMAP must describe it as
// a basic body.
func Parse(data []byte) *Info {
	p := parser{data: data}
	info := &Info{Size: int64(len(data))}
	f := p.part(&info.Body, 0, len(data), 0, false)
	info.Envelope = envelope(&f)
	info.SentDate, _ = ParseDate(f.date)
	info.Subject = DecodeHeader(f.subject)
	info.From = decodedAddresses(f.from, info.Envelope.From)
	info.To = decodedAddresses(f.to, info.Envelope.To)
	info.Cc = decodedAddresses(f.cc, info.Envelope.Cc)
	info.Bcc = decodedAddresses(f.bcc, info.Envelope.Bcc)
	info.References = ParseReferences(f.references)
	return info
}

// decodedAddresses renders a parsed list, or the decoded raw value when
// nothing in it parsed as an address, so search still finds the text.
func decodedAddresses(raw string, list []Address) string {
	if len(list) == 0 {
		return DecodeHeader(raw)
	}
	return FormatAddresses(list)
}

// envelope builds the IMAP envelope from a message header. RFC 9051
// §7.5.2: Sender and Reply-To default to From.
func envelope(f *fields) Envelope {
	e := Envelope{
		Date:      f.date,
		Subject:   f.subject,
		From:      ParseAddressList(f.from),
		Sender:    ParseAddressList(f.sender),
		ReplyTo:   ParseAddressList(f.replyTo),
		To:        ParseAddressList(f.to),
		Cc:        ParseAddressList(f.cc),
		Bcc:       ParseAddressList(f.bcc),
		InReplyTo: f.inReplyTo,
		MessageID: f.messageID,
	}
	if len(e.Sender) == 0 {
		e.Sender = e.From
	}
	if len(e.ReplyTo) == 0 {
		e.ReplyTo = e.From
	}
	return e
}

type parser struct {
	data  []byte
	parts int // entities created so far
}

// part parses the entity in data[start:end] into pt and returns its header
// fields. digest selects the multipart/digest default type (RFC 2046
// §5.1.5).
func (p *parser) part(pt *Part, start, end, depth int, digest bool) fields {
	p.parts++
	hdr, bodyStart := splitHeader(p.data, start, end)
	f := parseFields(hdr)
	pt.HeaderOffset, pt.BodyOffset = int64(start), int64(bodyStart)
	pt.Size = int64(end - bodyStart)
	p.contentHeaders(pt, &f, digest)

	leaf := depth >= MaxDepth || p.parts >= MaxParts
	switch {
	case pt.Type == "multipart":
		if !leaf {
			p.multipart(pt, bodyStart, end, depth)
		}
		if len(pt.Parts) == 0 {
			pt.Parts = []Part{p.wholeBody(bodyStart, end)}
		}
	case isMessageType(pt.Type, pt.Subtype):
		pt.Lines = countLines(p.data[bodyStart:end])
		if !leaf && identityEncoding(pt.Encoding) {
			inner := &Part{}
			mf := p.part(inner, bodyStart, end, depth+1, false)
			env := envelope(&mf)
			pt.Message, pt.Envelope = inner, &env
		}
	case pt.Type == "text":
		pt.Lines = countLines(p.data[bodyStart:end])
	}
	return f
}

// wholeBody is the synthesised child of a multipart that no boundary
// splits: a text/plain entity with an empty header spanning the body.
func (p *parser) wholeBody(start, end int) Part {
	p.parts++
	return Part{
		Type: "text", Subtype: "plain",
		Params:       []Param{{Name: "charset", Value: "us-ascii"}},
		Encoding:     "7bit",
		HeaderOffset: int64(start), BodyOffset: int64(start),
		Size:  int64(end - start),
		Lines: countLines(p.data[start:end]),
	}
}

func isMessageType(typ, sub string) bool {
	return typ == "message" && (sub == "rfc822" || sub == "global")
}

// identityEncoding reports the encodings under which an encapsulated
// message can be parsed in place (RFC 2046 §5.2.1 allows only these).
func identityEncoding(enc string) bool {
	return enc == "7bit" || enc == "8bit" || enc == "binary"
}

// contentHeaders fills the BODYSTRUCTURE fields from the MIME header.
func (p *parser) contentHeaders(pt *Part, f *fields, digest bool) {
	typ, params := mediaType(f.contentType)
	t, sub, ok := strings.Cut(typ, "/")
	t, sub = strings.TrimSpace(t), strings.TrimSpace(sub)
	if !ok || !isToken(t) || !isToken(sub) {
		// RFC 2045 §5.2: a missing or invalid Content-Type means
		// text/plain; charset=us-ascii (message/rfc822 in a digest).
		t, sub, params = "text", "plain", nil
		if digest {
			t, sub = "message", "rfc822"
		}
	}
	if t == "text" && !hasParam(params, "charset") {
		params = append(params, Param{Name: "charset", Value: "us-ascii"})
	}
	pt.Type, pt.Subtype, pt.Params = t, sub, params
	pt.ID = f.id
	pt.Description = f.description
	pt.MD5 = f.md5
	pt.Location = f.location
	pt.Encoding = strings.ToLower(strings.TrimSpace(stripComments(f.encoding)))
	if pt.Encoding == "" {
		pt.Encoding = "7bit" // RFC 2045 §6.1
	}
	if f.disposition != "" {
		d, dp := mediaType(f.disposition)
		if isToken(d) {
			pt.Disposition, pt.DispParams = d, dp
		}
	}
	pt.Language = languages(f.language)
}

func hasParam(ps []Param, name string) bool {
	for _, p := range ps {
		if p.Name == name {
			return true
		}
	}
	return false
}

// isToken reports an RFC 2045 §5.1 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?=", c) >= 0 {
			return false
		}
	}
	return true
}

// languages splits Content-Language (RFC 3282 §2) into its tags.
func languages(v string) []string {
	var out []string
	for _, l := range strings.Split(stripComments(v), ",") {
		if l = strings.TrimSpace(l); l != "" && len(out) < maxParams {
			out = append(out, l)
		}
	}
	return out
}

// countLines counts the lines of a body: its CRLFs, plus one for a last
// line that does not end in CRLF.
func countLines(b []byte) int64 {
	n := int64(bytes.Count(b, crlf))
	if len(b) > 0 && !bytes.HasSuffix(b, crlf) {
		n++
	}
	return n
}

// multipart splits the body data[start:end] at its boundary delimiter
// lines (RFC 2046 §5.1.1) into pt.Parts.
func (p *parser) multipart(pt *Part, start, end, depth int) {
	var boundary string
	for _, prm := range pt.Params {
		if prm.Name == "boundary" {
			boundary = prm.Value
		}
	}
	// RFC 2046 §5.1.1: 1 to 70 characters; longer ones are tolerated.
	if boundary == "" || len(boundary) > 200 {
		return
	}
	delim := []byte("--" + boundary)
	digest := pt.Subtype == "digest"
	_, next, closing, ok := p.findDelimiter(delim, start, start, end)
	for ok && !closing {
		partStart := next
		var lineStart int
		lineStart, next, closing, ok = p.findDelimiter(delim, start, partStart, end)
		partEnd := end
		if ok {
			// The CRLF before the delimiter belongs to it.
			partEnd = max(lineStart-2, partStart)
		}
		if len(pt.Parts) > 0 && p.parts >= MaxParts {
			return
		}
		pt.Parts = append(pt.Parts, Part{})
		p.part(&pt.Parts[len(pt.Parts)-1], partStart, partEnd, depth+1, digest)
	}
}

// findDelimiter finds the next delimiter line at or after from in
// data[:end]: "--boundary", optionally "--" (the close delimiter), then
// optional transport padding, then CRLF or the end. It must start a line;
// bodyStart counts as a line start. It returns where the line starts and
// where the next entity starts (after the line's CRLF).
func (p *parser) findDelimiter(delim []byte, bodyStart, from, end int) (lineStart, next int, closing, ok bool) {
	for from < end {
		i := bytes.Index(p.data[from:end], delim)
		if i < 0 {
			return 0, 0, false, false
		}
		k := from + i
		from = k + 1
		if k != bodyStart && (k < bodyStart+2 || p.data[k-2] != '\r' || p.data[k-1] != '\n') {
			continue
		}
		j := k + len(delim)
		cl := j+1 < end && p.data[j] == '-' && p.data[j+1] == '-'
		if cl {
			j += 2
		}
		for j < end && (p.data[j] == ' ' || p.data[j] == '\t') {
			j++
		}
		switch {
		case j == end:
			return k, end, cl, true
		case j+1 < end && p.data[j] == '\r' && p.data[j+1] == '\n':
			return k, j + 2, cl, true
		}
	}
	return 0, 0, false, false
}

// Part returns the entity a section part number designates (RFC 9051
// §6.4.5), or nil if there is none. Part 1 of a non-multipart message is
// its body, i.e. the message entity itself; the subparts of a
// message/rfc822 part are those of the encapsulated message. An empty
// section is the whole message. For BODY[n.HEADER] and BODY[n.TEXT] the
// caller uses the returned part's Message, which holds the header and
// text of the encapsulated message; BODY[n.MIME] and BODY[n] use the
// part itself.
func (info *Info) Part(section []int) *Part {
	p := &info.Body
	for i, n := range section {
		if i > 0 {
			switch {
			case p.Message != nil:
				p = p.Message
			case p.Type != "multipart":
				return nil
			}
		}
		if p.Type == "multipart" {
			if n < 1 || n > len(p.Parts) {
				return nil
			}
			p = &p.Parts[n-1]
		} else if n != 1 {
			return nil
		}
	}
	return p
}
