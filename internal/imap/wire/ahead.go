package wire

import (
	"bytes"
	"strconv"
)

// BufferedAppend reports whether the next command has begun to arrive
// and is an APPEND whose first line, already buffered, ends with a
// non-synchronising literal (RFC 7888 LITERAL+), and gives that
// literal's size. It never blocks and never consumes input.
//
// A server uses it to read pipelined APPENDs ahead (and store them in one
// batch): the client sent "{n+}" only because it will send the n octets
// without waiting for any answer (RFC 7888 §4), so reading the command
// waits on the client's own transfer, never on a response we still owe.
// A synchronising literal, or anything else, reports false: the client
// may wait for us.
func (r *Reader) BufferedAppend() (size int64, ok bool) {
	buf, _ := r.br.Peek(r.br.Buffered())
	return appendAhead(buf)
}

// appendAhead is BufferedAppend on the buffered octets buf: the first
// line of buf must be `tag SP "APPEND" SP ... "{" number "+}"` (or
// `~{number+}`, a literal8), complete up to its CRLF.
func appendAhead(buf []byte) (int64, bool) {
	eol := bytes.IndexByte(buf, '\n')
	if eol < 0 {
		return 0, false
	}
	line := bytes.TrimSuffix(buf[:eol], []byte{'\r'})
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return 0, false
	}
	rest := line[sp+1:]
	const name = "APPEND "
	if len(rest) < len(name) || !bytes.EqualFold(rest[:len(name)], []byte(name)) {
		return 0, false
	}
	if !bytes.HasSuffix(rest, []byte("+}")) {
		return 0, false
	}
	open := bytes.LastIndexByte(rest, '{')
	if open < len(name) {
		return 0, false
	}
	digits := rest[open+1 : len(rest)-2]
	if len(digits) == 0 || len(digits) > 19 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil || n < 0 || digits[0] == '+' || digits[0] == '-' {
		return 0, false
	}
	return n, true
}
