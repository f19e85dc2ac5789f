package message

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// BodyText returns the decoded text of the message's text/* parts
// (transfer encoding undone, charset converted to UTF-8, HTML tags
// dropped), joined by newlines, for IMAP SEARCH BODY and TEXT (RFC 9051
// §6.4.4). Parts of encapsulated messages are included. r holds the
// message in CRLF form, as parsed into info. The result holds at most
// limit bytes (a positive limit is required), and at most a few times
// limit bytes are read from r.
func BodyText(r io.ReaderAt, info *Info, limit int64) (string, error) {
	if limit <= 0 {
		return "", nil
	}
	var out strings.Builder
	err := walkText(&info.Body, func(p *Part) error {
		if int64(out.Len()) >= limit {
			return errDone
		}
		// Encoded text is at most 3 times its decoded size (QP "=XX"),
		// so reading 4 times the room left is enough.
		maxRead := limit - int64(out.Len())
		if maxRead < math.MaxInt64/8 {
			maxRead = maxRead*4 + 4
		}
		t, err := PartText(r, p, maxRead)
		if err != nil {
			return err
		}
		if t == "" {
			return nil
		}
		if out.Len() > 0 {
			out.WriteByte('\n')
		}
		out.WriteString(t)
		return nil
	})
	if err != nil && err != errDone {
		return "", err
	}
	s := out.String()
	if int64(len(s)) > limit {
		s = strings.ToValidUTF8(s[:limit], "")
	}
	return s, nil
}

var errDone = fmt.Errorf("done")

// walkText calls fn for each text/* leaf in order.
func walkText(p *Part, fn func(*Part) error) error {
	switch {
	case len(p.Parts) > 0:
		for i := range p.Parts {
			if err := walkText(&p.Parts[i], fn); err != nil {
				return err
			}
		}
	case p.Message != nil:
		return walkText(p.Message, fn)
	case p.Type == "text":
		return fn(p)
	}
	return nil
}

// PartText returns the decoded body of one leaf part as UTF-8, reading
// at most maxRead bytes of it. Bad base64 or quoted-printable is decoded as
// far as it goes. HTML (text/html) has its tags dropped and entities
// unescaped.
func PartText(r io.ReaderAt, p *Part, maxRead int64) (string, error) {
	n := min(p.Size, maxRead)
	if n <= 0 {
		return "", nil
	}
	raw := make([]byte, n)
	if _, err := r.ReadAt(raw, p.BodyOffset); err != nil && err != io.EOF {
		return "", fmt.Errorf("message: read part body: %w", err)
	}
	raw = DecodeTransfer(p.Encoding, raw)
	charset := "us-ascii"
	for _, prm := range p.Params {
		if prm.Name == "charset" {
			charset = prm.Value
		}
	}
	s, _ := DecodeCharset(charset, raw)
	if p.Subtype == "html" {
		s = htmlText(s)
	}
	return s, nil
}

// DecodeTransfer undoes a Content-Transfer-Encoding (RFC 2045 §6),
// tolerantly: characters outside the base64 alphabet are ignored (RFC 2045
// §6.8), bad quoted-printable escapes are kept literally (the robust
// reading of RFC 2045 §6.7 note 1). The name is matched without regard to
// case (RFC 2045 §6.1). Identity and unknown encodings are returned
// unchanged; KnownTransfer tells them apart.
func DecodeTransfer(encoding string, b []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "base64":
		return decodeBase64(b)
	case "quoted-printable":
		return decodeQP(b)
	}
	return b
}

// KnownTransfer reports whether DecodeTransfer can undo encoding: the
// identity encodings (7bit, 8bit, binary, or none given, RFC 2045 §6.1)
// and base64 and quoted-printable. IMAP BINARY answers the others with
// UNKNOWN-CTE (RFC 3516 §4.3).
func KnownTransfer(encoding string) bool {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "7bit", "8bit", "binary", "base64", "quoted-printable":
		return true
	}
	return false
}

// decodeBase64 decodes base64 (RFC 2045 §6.8): characters outside the
// alphabet (line breaks, spaces, garbage) are ignored and "=" ends the
// data. A final group of 2 or 3 characters still yields its bytes; a lone
// final character cannot carry one and is dropped.
func decodeBase64(b []byte) []byte {
	clean := make([]byte, 0, len(b))
	for _, c := range b {
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' {
			clean = append(clean, c)
		} else if c == '=' {
			break
		}
	}
	if len(clean)&3 == 1 {
		clean = clean[:len(clean)-1]
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, _ := base64.RawStdEncoding.Decode(out, clean)
	return out[:n]
}

// decodeQP decodes quoted-printable (RFC 2045 §6.7) line by line. Lines
// end in CRLF or a bare LF, which are kept as they are. Trailing spaces
// and tabs of each line are deleted first (rule 3: they were added in
// transport); then a line that ends in "=" is a soft line break (rule 5)
// and is joined to the next; "=XX" (hex digits of either case) is one
// octet; an "=" not followed by two hex digits is kept as is.
func decodeQP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		line, eol := b, []byte(nil)
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
			eol = crlfOrLF(line)
			line = line[:len(line)+1-len(eol)]
		} else {
			b = nil
		}
		line = bytes.TrimRight(line, " \t")
		soft := len(line) > 0 && line[len(line)-1] == '='
		if soft {
			line = line[:len(line)-1]
		}
		out = appendQPLine(out, line)
		if !soft {
			out = append(out, eol...)
		}
	}
	return out
}

// crlfOrLF returns the line ending that preceded the LF after line: CRLF
// when line ends in CR (which then belongs to the ending), else LF.
func crlfOrLF(line []byte) []byte {
	if len(line) > 0 && line[len(line)-1] == '\r' {
		return []byte("\r\n")
	}
	return []byte("\n")
}

// appendQPLine appends the decoded octets of one line, without its ending.
func appendQPLine(out, line []byte) []byte {
	for {
		i := bytes.IndexByte(line, '=')
		if i < 0 {
			return append(out, line...)
		}
		out = append(out, line[:i]...)
		if i+2 < len(line) && isHex(line[i+1]) && isHex(line[i+2]) {
			out = append(out, unhex(line[i+1])<<4|unhex(line[i+2]))
			line = line[i+3:]
			continue
		}
		out = append(out, '=')
		line = line[i+1:]
	}
}

// htmlText drops tags, scripts and styles and unescapes entities: enough
// for substring search, not a renderer.
func htmlText(s string) string {
	var b strings.Builder
	lower := asciiLower(s)
	for i := 0; i < len(s); {
		lt := strings.IndexByte(s[i:], '<')
		if lt < 0 {
			b.WriteString(s[i:])
			break
		}
		b.WriteString(s[i : i+lt])
		i += lt
		skipTo := ">"
		for _, el := range []string{"script", "style"} {
			if strings.HasPrefix(lower[i+1:], el) {
				skipTo = "</" + el
			}
		}
		j := strings.Index(lower[i+1:], skipTo)
		if j < 0 {
			break
		}
		i += 1 + j + len(skipTo)
		if skipTo != ">" {
			if k := strings.IndexByte(s[i:], '>'); k >= 0 {
				i += k + 1
			}
		}
		b.WriteByte(' ')
	}
	return html.UnescapeString(b.String())
}

// asciiLower lower-cases ASCII letters only, keeping byte offsets.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
