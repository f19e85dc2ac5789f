package delivery

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
)

// TestBounceBilingual: a local bounce says it in English and Chinese,
// in the subject (RFC 2047) and the human-readable part.
func TestBounceBilingual(t *testing.T) {
	d := &Deliverer{Hostname: "mail.example.test"}
	env := &Envelope{From: "alice@remote.test"}
	msg := d.dsnMessage(env, []failure{{addr: "bob@example.test", err: &Error{Code: 550, Enhanced: [3]int{5, 1, 1}, Msg: "no such user"}}},
		[]byte("Subject: hi\r\n\r\nbody\r\n"))
	checkBilingual(t, msg, "退信", "您的邮件无法投递")
}

// checkBilingual parses a DSN and wants the subject to decode to English
// then Chinese, and the first (text/plain) part to carry both.
func checkBilingual(t *testing.T, msg []byte, zhSubject, zhBody string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil || !strings.HasPrefix(subj, "Undelivered Mail") || !strings.Contains(subj, zhSubject) {
		t.Errorf("subject %q (%v)", subj, err)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := multipart.NewReader(m.Body, params["boundary"]).NextPart()
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(p)
	if !strings.Contains(string(text), "could not be delivered") || !strings.Contains(string(text), zhBody) {
		t.Errorf("text part is not bilingual:\n%s", text)
	}
}
