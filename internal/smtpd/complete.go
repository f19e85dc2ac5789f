package smtpd

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/youju/youju/internal/message"
)

// completeHeader adds the Date: and Message-ID: fields a submitted
// message lacks, as a message submission agent may (RFC 6409 §8.2, §8.3):
// scripts and small clients often omit them, and receivers score mail
// without them as spam. Present fields are never touched. data is in
// CRLF form, hdr its parsed header; a new slice is returned only when
// something is added.
func completeHeader(data []byte, hdr *message.Header, hostname string, now time.Time) []byte {
	// Blanks before the colon count (RFC 5322 §4.5), as in the store.
	hasDate, hasID := hdr.Count("Date") > 0, hdr.Count("Message-ID") > 0
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
	// CRLF form whatever the configured hostname holds: data is handed
	// over as CRLF (delivery.Envelope.CRLF).
	fields := message.NormalizeCRLF(add.Bytes())
	out := make([]byte, 0, len(fields)+len(data))
	return append(append(out, fields...), data...)
}
