package mailauth

import (
	"bytes"
	"io"
)

// Body canonicalization (RFC 6376 §3.4.3, §3.4.4) over a body already in
// memory, written to a hash. Lines are found with bytes.IndexByte and a
// line that needs no change (the common case) is written as it is, in
// runs of lines, so that a 10 KB body costs a few large hash writes
// instead of a loop over every byte. A bare LF counts as CRLF and a CR
// not before LF stays as it is, as in go-msgauth (which the tests
// compare against).

var crlfBytes = []byte("\r\n")

// canonSimpleBody writes the simple canonical form of body to w: the
// body with its trailing empty lines removed and one CRLF at the end
// (an empty body is one CRLF).
func canonSimpleBody(w io.Writer, body []byte) {
	if hasBareLF(body) {
		body = fixBareLF(body)
	}
	if len(body) > 0 && body[len(body)-1] == '\r' {
		// A final bare CR is not a line end: nothing is removed.
		w.Write(body)
		w.Write(crlfBytes)
		return
	}
	for bytes.HasSuffix(body, crlfBytes) {
		body = body[:len(body)-2]
	}
	w.Write(body)
	w.Write(crlfBytes)
}

// hasBareLF: b has an LF not preceded by CR.
func hasBareLF(b []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return false
		}
		i += j
		if i == 0 || b[i-1] != '\r' {
			return true
		}
		i++
	}
}

// fixBareLF is b with CR added before each bare LF.
func fixBareLF(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/16)
	for i := range b {
		if b[i] == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, b[i])
	}
	return out
}

// relaxedBody is the state of relaxed body canonicalization.
type relaxedBody struct {
	w       io.Writer
	pending []byte // line breaks not written yet: only written before more content
	wsp     bool   // whitespace seen since the last byte written
	written bool   // some content was written
	scratch []byte
}

// canonRelaxedBody writes the relaxed canonical form of body to w: each
// run of whitespace one SP, whitespace at line ends removed, empty lines
// at the end removed, and one CRLF after the last line if there is any
// content (an empty body stays empty).
func canonRelaxedBody(w io.Writer, body []byte) {
	r := relaxedBody{w: w}
	run := -1 // start of lines that need no change and are not written yet
	pos := 0
	for pos < len(body) {
		nl := bytes.IndexByte(body[pos:], '\n')
		end, next := len(body), len(body)
		if nl >= 0 {
			end, next = pos+nl, pos+nl+1
		}
		crlf := nl >= 0 && end > pos && body[end-1] == '\r'
		line := body[pos:end]
		if crlf {
			line = body[pos : end-1]
		}
		if crlf && cleanLine(line) {
			// Written as it is, after the line breaks pending before
			// it, together with the clean lines that follow.
			if run < 0 {
				run = pos
			}
			pos = next
			continue
		}
		r.flushRun(body, &run, pos)
		r.line(line)
		if nl >= 0 { // CRLF, or a bare LF, which counts as CRLF
			r.pending = append(r.pending, '\r', '\n')
			r.wsp = false
		}
		pos = next
		run = -1
	}
	r.flushRun(body, &run, pos)
	if r.written {
		w.Write(crlfBytes)
	}
}

// flushRun writes the clean lines body[*run:pos] (each CRLF-ended and
// non-empty) after the pending line break; the last one's CRLF is
// pending again.
func (r *relaxedBody) flushRun(body []byte, run *int, pos int) {
	if *run < 0 || *run >= pos {
		*run = -1
		return
	}
	r.w.Write(r.pending)
	r.w.Write(body[*run : pos-2])
	r.pending = append(r.pending[:0], '\r', '\n')
	r.written = true
	*run = -1
}

// cleanLine: a non-empty line that relaxed canonicalization leaves as it
// is: no tab, no CR, no two spaces in a row, no space at its end.
func cleanLine(l []byte) bool {
	return len(l) > 0 && l[len(l)-1] != ' ' &&
		bytes.IndexByte(l, '\t') < 0 && bytes.IndexByte(l, '\r') < 0 &&
		bytes.Index(l, []byte("  ")) < 0
}

// line canonicalizes one line (without its line break) byte by byte:
// RFC 6376 §3.4.4, with a bare CR treated as a line break character as
// go-msgauth does.
func (r *relaxedBody) line(l []byte) {
	out := r.scratch[:0]
	for _, c := range l {
		switch c {
		case ' ', '\t':
			r.wsp = true
		case '\r', '\n':
			r.wsp = false
			r.pending = append(r.pending, c)
		default:
			if len(r.pending) > 0 {
				out = append(out, r.pending...)
				r.pending = r.pending[:0]
			}
			if r.wsp {
				out = append(out, ' ')
				r.wsp = false
			}
			out = append(out, c)
		}
	}
	if len(out) > 0 {
		r.w.Write(out)
		r.written = true
	}
	r.scratch = out
}

// canonRelaxedHeader appends the relaxed form of a header field (RFC
// 6376 §3.4.2) to dst: the name in lower case, no whitespace around
// the colon, the value unfolded with each run of whitespace one SP and
// none at its ends, then CRLF.
func canonRelaxedHeader(dst, raw []byte) []byte {
	name, value, ok := bytes.Cut(raw, []byte(":"))
	for _, c := range trimFWS(name) {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	if !ok {
		return append(dst, ":\r\n"...)
	}
	dst = append(dst, ':')
	sp := false
	first := true
	for _, c := range value {
		if isFWS(c) {
			sp = true
			continue
		}
		if sp && !first {
			dst = append(dst, ' ')
		}
		sp, first = false, false
		dst = append(dst, c)
	}
	return append(dst, "\r\n"...)
}
