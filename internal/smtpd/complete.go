package smtpd

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// completeHeader adds the Date: and Message-ID: fields a submitted
// message lacks, as a message submission agent may (RFC 6409 §8.2, §8.3):
// scripts and small clients often omit them, and receivers score mail
// without them as spam. Present fields are never touched. data is in
// CRLF form; a new slice is returned only when something is added.
func completeHeader(data []byte, hostname string, now time.Time) []byte {
	hdr := headerSection(data)
	hasDate, hasID := hasField(hdr, "date"), hasField(hdr, "message-id")
	if hasDate && hasID {
		return data
	}
	var add bytes.Buffer
	if !hasDate {
		// RFC 5322 §3.3 date-time.
		fmt.Fprintf(&add, "Date: %s\r\n", now.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	}
	if !hasID {
		var r [12]byte
		rand.Read(r[:])
		fmt.Fprintf(&add, "Message-ID: <%s.%s@%s>\r\n", now.UTC().Format("20060102150405"), hex.EncodeToString(r[:]), hostname)
	}
	out := make([]byte, 0, add.Len()+len(data))
	return append(append(out, add.Bytes()...), data...)
}

// headerSection returns the header of a CRLF message, up to (without) the
// empty line; all of data if there is no body.
func headerSection(data []byte) []byte {
	if bytes.HasPrefix(data, []byte("\r\n")) {
		return nil
	}
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		return data[:i+2]
	}
	return data
}

// hasField reports whether the header has a field of that (lower-case)
// name at the start of a line.
func hasField(hdr []byte, name string) bool {
	for len(hdr) > 0 {
		line := hdr
		if i := bytes.Index(hdr, []byte("\r\n")); i >= 0 {
			line, hdr = hdr[:i], hdr[i+2:]
		} else {
			hdr = nil
		}
		// Trailing blanks before the colon are the obsolete syntax of
		// RFC 5322 §4.5 ("Date :"); a folded line starts with a blank.
		if colon := bytes.IndexByte(line, ':'); colon >= len(name) &&
			bytes.EqualFold(bytes.TrimRight(line[:colon], " \t"), []byte(name)) {
			return true
		}
	}
	return false
}
