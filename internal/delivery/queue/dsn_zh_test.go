package queue

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// TestDSNBilingual: bounces and delay notices of the queue carry the
// Chinese text along with the English, in subject and text part.
func TestDSNBilingual(t *testing.T) {
	q := &Queue{opt: Options{Hostname: "mail.example.test", Now: time.Now, Lifetime: 5 * 24 * time.Hour}}
	st := &State{ID: "x1", From: "alice@example.test", Created: time.Now()}
	r := &Rcpt{Addr: "bob@remote.test", Code: 550, Enhanced: "5.1.1", Diag: "no such user"}
	for action, want := range map[string][2]string{
		"failed":  {"Undelivered Mail", "退信|您的邮件无法投递"},
		"delayed": {"Delayed Mail", "邮件延迟|系统会继续重试"},
	} {
		msg := q.dsnMessage(st, action, []*Rcpt{r}, []byte("Subject: hi\r\n\r\nbody\r\n"))
		m, err := mail.ReadMessage(bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		zh := strings.Split(want[1], "|")
		subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		if err != nil || !strings.HasPrefix(subj, want[0]) || !strings.Contains(subj, zh[0]) {
			t.Errorf("%s: subject %q (%v)", action, subj, err)
		}
		_, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
		p, err := multipart.NewReader(m.Body, params["boundary"]).NextPart()
		if err != nil {
			t.Fatal(err)
		}
		text, _ := io.ReadAll(p)
		if !strings.Contains(string(text), "Your message") || !strings.Contains(string(text), zh[1]) || !strings.Contains(string(text), "bob@remote.test") {
			t.Errorf("%s: text part:\n%s", action, text)
		}
	}
}
