package web

import (
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/emersion/go-message/mail"
)

// outMsg is a message composed in the webmail, built by write with
// go-message: RFC 5322 fields with RFC 2047 encoded words for non-ASCII
// names and subjects (a Chinese subject stays readable in every client),
// a UTF-8 text/plain body with its HTML alternative (write), and
// attachments in base64 with RFC 2231 file names, under multipart/mixed
// (RFC 2046 §5.1.3).
type outMsg struct {
	From          mail.Address
	To, Cc, Bcc   []*mail.Address
	Subject, Text string
	// InReplyTo and References are message identifiers without angle
	// brackets (RFC 5322 §3.6.4).
	InReplyTo  string
	References []string
	Date       time.Time
	Host       string // right-hand side of a generated Message-ID
	// KeepBcc writes Bcc into the header: for a draft (only its owner
	// sees it, and reopening it must show the Bcc); never for mail sent.
	KeepBcc bool
	Parts   []outPart
}

// outPart is an attachment; Open is called once, while the message is
// written, so its bytes go from the spool into the message without
// being held whole.
type outPart struct {
	Name, Type string
	Open       func() (io.ReadCloser, error)
}

// maxReferences bounds the References field of a reply: a thread of
// thousands of messages must not make a header of megabytes (RFC 5322
// §3.6.4 allows trimming all but the first and last ones).
const maxReferences = 20

func (m *outMsg) header() (gomail.Header, error) {
	var h gomail.Header
	h.SetDate(m.Date)
	h.SetAddressList("From", []*mail.Address{&m.From})
	h.SetAddressList("To", m.To)
	h.SetAddressList("Cc", m.Cc)
	if m.KeepBcc {
		h.SetAddressList("Bcc", m.Bcc)
	}
	h.SetSubject(m.Subject)
	if err := h.GenerateMessageIDWithHostname(m.Host); err != nil {
		return h, err
	}
	if m.InReplyTo != "" {
		// RFC 5322 §3.6.4: In-Reply-To the parent's Message-ID,
		// References the parent's References then its Message-ID.
		h.SetMsgIDList("In-Reply-To", []string{m.InReplyTo})
	}
	if refs := trimRefs(m.References); len(refs) > 0 {
		h.SetMsgIDList("References", refs)
	}
	h.Set("User-Agent", "youju webmail")
	return h, nil
}

// trimRefs keeps the first and the last references when there are too
// many.
func trimRefs(refs []string) []string {
	if len(refs) <= maxReferences {
		return refs
	}
	out := append([]string{refs[0]}, refs[len(refs)-maxReferences+1:]...)
	return out
}

// write writes the message in CRLF form: the text and its HTML (made
// from it, composehtml.go) as multipart/alternative, plain first (RFC
// 2046 §5.1.4: the last part is the preferred one), inside a
// multipart/mixed with the attachments when there are any.
func (m *outMsg) write(w io.Writer) error {
	h, err := m.header()
	if err != nil {
		return err
	}
	if len(m.Parts) == 0 {
		iw, err := gomail.CreateInlineWriter(w, h)
		if err != nil {
			return err
		}
		if err := m.writeAlternative(iw); err != nil {
			return err
		}
		return iw.Close()
	}
	mw, err := gomail.CreateWriter(w, h)
	if err != nil {
		return err
	}
	iw, err := mw.CreateInline()
	if err != nil {
		return err
	}
	if err := m.writeAlternative(iw); err != nil {
		return err
	}
	if err := iw.Close(); err != nil {
		return err
	}
	for _, p := range m.Parts {
		if err := writePart(mw, p); err != nil {
			return err
		}
	}
	return mw.Close()
}

// writeAlternative writes the text/plain and text/html parts, UTF-8,
// each in the transfer encoding that suits it (textEncoding).
func (m *outMsg) writeAlternative(iw *gomail.InlineWriter) error {
	crlf := strings.NewReplacer("\r\n", "\r\n", "\n", "\r\n")
	for _, p := range []struct{ typ, body string }{
		{"text/plain", crlf.Replace(m.Text)},
		{"text/html", crlf.Replace(textToHTML(m.Text))},
	} {
		var th gomail.InlineHeader
		th.SetContentType(p.typ, map[string]string{"charset": "utf-8"})
		th.Set("Content-Transfer-Encoding", textEncoding(p.body))
		pw, err := iw.CreatePart(th)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(pw, p.body); err != nil {
			return err
		}
		if err := pw.Close(); err != nil {
			return err
		}
	}
	return nil
}

func writePart(mw *gomail.Writer, p outPart) error {
	var ah gomail.AttachmentHeader
	typ := p.Type
	if _, _, err := mime.ParseMediaType(typ); err != nil || typ == "" || strings.ContainsAny(typ, "\r\n") {
		typ = "application/octet-stream"
	}
	name := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' {
			return '_'
		}
		return r
	}, p.Name)
	if name == "" {
		name = "attachment"
	}
	mt, params, _ := mime.ParseMediaType(typ)
	if strings.HasPrefix(mt, "multipart/") {
		mt, params = "application/octet-stream", nil
	}
	if params == nil {
		params = map[string]string{}
	}
	params["name"] = name // for clients that look at Content-Type only
	ah.SetContentType(mt, params)
	ah.SetFilename(name)
	if mt == "message/rfc822" {
		// RFC 2046 §5.2.1: only 7bit, 8bit or binary for message/rfc822.
		ah.Set("Content-Transfer-Encoding", "8bit")
	}
	aw, err := mw.CreateAttachment(ah)
	if err != nil {
		return err
	}
	rc, err := p.Open()
	if err != nil {
		return err
	}
	_, err = io.Copy(aw, rc)
	rc.Close()
	if err != nil {
		return fmt.Errorf("attachment %q: %w", name, err)
	}
	return aw.Close()
}

// parseAddrs parses a To/Cc/Bcc field typed by the user: addresses
// separated by commas or semicolons (Chinese users type ；and ，too),
// each "Name <a@b>" or a bare address; separators inside a quoted name
// do not count.
func parseAddrs(s string) ([]*mail.Address, error) {
	var out []*mail.Address
	for _, f := range splitAddrs(s) {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		a, err := gomail.ParseAddress(f)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", f, err)
		}
		out = append(out, a)
		if len(out) > 100 {
			return nil, fmt.Errorf("too many recipients")
		}
	}
	return out, nil
}

// splitAddrs splits at separators outside quoted strings (RFC 5322
// §3.2.4, with its backslash escapes).
func splitAddrs(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, escaped := false, false
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
		case quoted && r == '\\':
			escaped = true
		case r == '"':
			quoted = !quoted
		case !quoted && strings.ContainsRune(",;，；\r\n", r):
			out = append(out, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	return append(out, cur.String())
}

// joinAddrs formats addresses for a form field (names not encoded).
func joinAddrs(as []*mail.Address) string {
	var b strings.Builder
	for i, a := range as {
		if i > 0 {
			b.WriteString(", ")
		}
		// net/mail quotes a local part that needs it ("a b"@c).
		spec := strings.Trim((&mail.Address{Address: a.Address}).String(), "<>")
		switch {
		case strings.ContainsAny(a.Name, `",;<>@()[]:.\`):
			// RFC 5322 §3.2.4 quoted-string, so that it parses back.
			n := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(a.Name)
			fmt.Fprintf(&b, "\"%s\" <%s>", n, spec)
		case a.Name != "":
			fmt.Fprintf(&b, "%s <%s>", a.Name, spec)
		default:
			b.WriteString(spec)
		}
	}
	return b.String()
}
