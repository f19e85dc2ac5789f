package sieve

import (
	"bytes"
	"strings"

	"github.com/youju/youju/internal/message"
)

// maxBodyText bounds what the body test looks at (RFC 5173 §8: the system
// must be restricted so that body matching does not deny service).
const maxBodyText = 1 << 20

// body is RFC 5173: :raw is the undecoded body, :text the decoded text
// parts, :content the parts of the given types.
func (r *run) body(t *test) ([]string, error) {
	data := r.msg.Data
	// RFC 5173 §4: a header not followed by an empty line has no body,
	// and every body test is false, even for the empty key.
	if !bytes.HasPrefix(data, []byte("\r\n")) && !bytes.Contains(data, []byte("\r\n\r\n")) {
		return nil, nil
	}
	info := r.msg.parsed()
	switch t.transform {
	case "raw":
		b := data[min(int(info.Body.BodyOffset), len(data)):]
		return []string{string(b[:min(len(b), maxBodyText)])}, nil
	case "text":
		s, err := message.BodyText(bytes.NewReader(data), info, maxBodyText)
		if err != nil {
			return nil, nil
		}
		return []string{s}, nil
	}
	c := contentWalk{data: data, types: r.expandList(t.types)}
	c.walk(&info.Body)
	return c.out, nil
}

// contentWalk collects the strings of body :content (RFC 5173 §5.2).
type contentWalk struct {
	data  []byte
	types []string
	out   []string
	total int
}

// add appends one string, cut to what the limit leaves.
func (c *contentWalk) add(b []byte) {
	b = b[:min(len(b), max(maxBodyText-c.total, 0))]
	c.out = append(c.out, string(b))
	c.total += len(b)
}

// walk descends into every multipart and message/rfc822 part, and looks
// at the parts whose type matches: of a multipart only its prologue and
// epilogue, of a message/rfc822 only the header of the message inside,
// of any other part its decoded content.
func (c *contentWalk) walk(p *message.Part) {
	if c.total >= maxBodyText {
		return
	}
	match := contentTypeMatches(c.types, p.Type, p.Subtype)
	switch {
	case p.Type == "multipart":
		if match {
			pro, epi := multipartEnds(c.span(p.BodyOffset, p.Size), boundary(p))
			c.add(pro)
			c.add(epi)
		}
		for i := range p.Parts {
			c.walk(&p.Parts[i])
		}
	case p.Message != nil:
		if match {
			inner := p.Message
			h := c.span(inner.HeaderOffset, inner.BodyOffset-inner.HeaderOffset)
			c.add([]byte(message.DecodeHeader(string(h[:min(len(h), maxBodyText)]))))
		}
		c.walk(p.Message)
	case match:
		c.add(c.leaf(p))
	}
}

// span is size octets of the message from off, cut to what exists; it
// shares the message's memory.
func (c *contentWalk) span(off, size int64) []byte {
	start := min(max(off, 0), int64(len(c.data)))
	end := min(start+max(size, 0), int64(len(c.data)))
	return c.data[start:end]
}

// leaf is a part's content with its transfer encoding undone and, for
// text, converted to UTF-8 (RFC 5173 §5.2). Mark-up is kept: stripping it
// is for :text only (§5.3).
func (c *contentWalk) leaf(p *message.Part) []byte {
	// Encoded text is at most 3 times its decoded size (QP "=XX").
	raw := c.span(p.BodyOffset, min(p.Size, int64(maxBodyText-c.total)*4))
	raw = message.DecodeTransfer(p.Encoding, raw)
	if p.Type != "text" {
		return raw
	}
	charset := "us-ascii"
	for _, prm := range p.Params {
		if prm.Name == "charset" {
			charset = prm.Value
		}
	}
	s, _ := message.DecodeCharset(charset, raw)
	return []byte(s)
}

func boundary(p *message.Part) string {
	for _, prm := range p.Params {
		if prm.Name == "boundary" {
			return prm.Value
		}
	}
	return ""
}

// multipartEnds splits a multipart body into its prologue (before the
// first delimiter line) and epilogue (after the close delimiter line).
// The CRLF before a delimiter belongs to it (RFC 2046 §5.1.1).
func multipartEnds(body []byte, b string) (prologue, epilogue []byte) {
	if b == "" {
		return body, nil
	}
	delim := []byte("--" + b)
	first := -1
	for i := 0; i+len(delim) <= len(body); {
		j := bytes.Index(body[i:], delim)
		if j < 0 {
			break
		}
		if at := i + j; at == 0 || body[at-1] == '\n' {
			first = at
			break
		}
		i += j + 1
	}
	if first < 0 {
		return body, nil
	}
	prologue = bytes.TrimSuffix(bytes.TrimSuffix(body[:first], []byte("\n")), []byte("\r"))
	closing := []byte("\n--" + b + "--")
	if end := bytes.LastIndex(body, closing); end >= 0 {
		rest := body[end+len(closing):]
		if nl := bytes.IndexByte(rest, '\n'); nl >= 0 {
			epilogue = rest[nl+1:]
		}
	}
	return prologue, epilogue
}

// contentTypeMatches: "" matches all, "text" a type, "text/plain" one
// type and subtype; a type that begins or ends with "/" or holds two
// slashes matches nothing (RFC 5173 §5.2).
func contentTypeMatches(types []string, typ, sub string) bool {
	for _, ct := range types {
		ct = strings.ToLower(ct)
		if ct == "" || ct == typ || ct == typ+"/"+sub {
			return true
		}
	}
	return false
}
