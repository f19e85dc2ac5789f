package textterms

import (
	"bytes"
	"io"
	"strings"

	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// What is indexed is what the IMAP server's scan matches on (RFC 9051
// §6.4.4), lower-cased with strings.ToLower as its matcher does: the
// decoded SUBJECT, FROM, TO, CC and BCC of message.Info, the value of every
// header line unfolded and RFC 2047-decoded (HEADER matches values, never
// names), and the decoded text of the text/* parts (message.BodyText), not
// the transfer encoding. Text beyond the bounds below is not indexed: such
// a message is marked big and is always a candidate, so the scan decides.
const (
	// BodyLimit bounds the body text indexed per message.
	BodyLimit = 1 << 20
	// HeaderLimit bounds the header read per message.
	HeaderLimit = 256 << 10
)

// Doc is the indexed text of one message, by field (store.TextField-1).
type Doc struct {
	Fields [7]string
	Big    bool // some text was beyond the bounds: always scanned
}

// Extract reads what the index covers of one message.
func Extract(r io.ReaderAt, info *message.Info) (Doc, error) {
	var d Doc
	d.Fields[store.TextSubject-1] = info.Subject
	d.Fields[store.TextFrom-1] = info.From
	d.Fields[store.TextTo-1] = info.To
	d.Fields[store.TextCc-1] = info.Cc
	d.Fields[store.TextBcc-1] = info.Bcc
	hs := info.Body.HeaderSize()
	if hs > HeaderLimit {
		hs, d.Big = HeaderLimit, true
	}
	hdr := make([]byte, hs)
	if _, err := r.ReadAt(hdr, 0); err != nil && err != io.EOF {
		return d, err
	}
	d.Fields[store.TextHeader-1] = HeaderText(hdr)
	body, err := message.BodyText(r, info, BodyLimit+1)
	if err != nil {
		return d, err
	}
	if len(body) > BodyLimit {
		body, d.Big = strings.ToValidUTF8(body[:BodyLimit], ""), true
	}
	d.Fields[store.TextBody-1] = body
	for i := range d.Fields {
		d.Fields[i] = strings.ToLower(d.Fields[i])
	}
	return d, nil
}

// HeaderText is the value of every header line as the HEADER key matches
// it (internal/imap/server search.go): unfolded and RFC 2047-decoded, one
// per line. Names are left out: HEADER and TEXT match values only.
func HeaderText(h []byte) string {
	h = bytes.ReplaceAll(h, []byte("\r\n "), []byte(" "))
	h = bytes.ReplaceAll(h, []byte("\r\n\t"), []byte(" "))
	var b strings.Builder
	for _, line := range bytes.Split(h, []byte("\r\n")) {
		_, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		b.WriteString(message.DecodeHeader(strings.TrimSpace(string(val))))
		b.WriteByte('\n')
	}
	return b.String()
}
