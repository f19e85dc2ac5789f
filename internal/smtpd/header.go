package smtpd

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"mime"
	"net/mail"
	"net/textproto"
)

// maxHeaderBytes bounds the header section we parse for From:.
const maxHeaderBytes = 256 << 10

var errNoHeader = errors.New("smtpd: no header section")

// headerFrom returns the addresses of the From: field (RFC 5322 §3.6.2).
// Several From: fields are an error (§3.6: at most one). Display names in
// any charset are accepted: only the addresses matter here.
func headerFrom(msg []byte) ([]string, error) {
	if len(msg) > maxHeaderBytes {
		msg = msg[:maxHeaderBytes]
	}
	tr := textproto.NewReader(bufio.NewReader(bytes.NewReader(msg)))
	h, err := tr.ReadMIMEHeader()
	if err != nil && !(errors.Is(err, io.EOF) && len(h) > 0) {
		return nil, errNoHeader
	}
	froms := h.Values("From")
	if len(froms) != 1 {
		return nil, errors.New("smtpd: want exactly one From: field")
	}
	p := mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: func(_ string, r io.Reader) (io.Reader, error) {
		return r, nil
	}}}
	list, err := p.ParseList(froms[0])
	if err != nil {
		return nil, err
	}
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.Address
	}
	return out, nil
}

func randRead(b []byte) { rand.Read(b) }
