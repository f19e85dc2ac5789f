package web

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// maxShownBody bounds the text decoded for one message view.
const maxShownBody = 4 << 20

// msgView is a message being read.
type msgView struct {
	Box                     store.MailboxID
	UID                     store.UID
	Subject, From, To, Cc   string
	Date                    string
	Text                    string // the text/plain body, if there is no HTML
	HTML                    bool   // the body is HTML, shown in the sandboxed frame
	Images                  bool   // remote images allowed for this view
	Flagged, Seen           bool
	Attachments             []attachment
	BodyURL, AllowImagesURL string
}

type attachment struct {
	Section, Name, Size string
}

// openMessage loads a message's parse and a reader of its bytes.
func (s *server) openMessage(r *http.Request, ms store.Mail, acct store.AccountID) (store.MailboxID, store.UID, *message.Info, store.MessageReader, *store.Message, error) {
	box, ok := pathMailbox(r)
	uid, err := strconv.ParseUint(r.PathValue("uid"), 10, 32)
	if !ok || err != nil || uid == 0 {
		return 0, 0, nil, nil, nil, store.ErrNotFound
	}
	var found *store.Message
	err = ms.ListMessages(r.Context(), acct, box, store.ListOptions{UIDs: store.UIDSet{{Lo: store.UID(uid), Hi: store.UID(uid)}}, WithInfo: true},
		func(m *store.Message) error { cp := *m; cp.Info = bytes.Clone(m.Info); found = &cp; return nil })
	if err == nil && found == nil {
		err = store.ErrNotFound
	}
	if err != nil {
		return 0, 0, nil, nil, nil, err
	}
	info, err := message.UnmarshalInfo(found.Info)
	if err != nil {
		return 0, 0, nil, nil, nil, fmt.Errorf("message info: %w", err)
	}
	rd, err := ms.OpenMessage(r.Context(), acct, box, store.UID(uid))
	if err != nil {
		return 0, 0, nil, nil, nil, err
	}
	return box, store.UID(uid), info, rd, found, nil
}

// mailRead shows one message and marks it read.
func (s *server) mailRead(w http.ResponseWriter, r *http.Request) {
	sess, acct, ms, ok := s.mailSession(w, r)
	if !ok {
		return
	}
	box, uid, info, rd, m, err := s.openMessage(r, ms, acct.ID)
	if err != nil {
		s.mailError(w, r, err)
		return
	}
	defer rd.Close()
	v := &msgView{Box: box, UID: uid, Subject: info.Subject, From: info.From, To: info.To, Cc: info.Cc,
		Date: m.InternalDate.Local().Format("2006-01-02 15:04"), Images: r.URL.Query().Get("images") == "1",
		Flagged: m.Flags.System&store.FlagFlagged != 0, Seen: true}
	base := fmt.Sprintf("/mail/%d/%d", box, uid)
	v.BodyURL, v.AllowImagesURL = base+"/body", base+"?images=1"
	if v.Images {
		v.BodyURL += "?images=1"
	}
	plain, html := bodyParts(&info.Body)
	switch {
	case html != nil:
		v.HTML = true
	case plain != nil:
		v.Text, _ = message.PartText(rd, plain, maxShownBody)
	}
	v.Attachments = attachments(&info.Body, "")
	if m.Flags.System&store.FlagSeen == 0 {
		// Reading marks the message read, as every mail client does.
		if _, err := ms.StoreFlags(r.Context(), acct.ID, box, store.UIDSet{{Lo: uid, Hi: uid}}, store.FlagAdd, store.Flags{System: store.FlagSeen}, 0); err != nil {
			s.log.Warn("webmail: marking read", "err", err)
		}
	}
	mp := &mailPage{Msg: v}
	if mp.Folders, err = s.folders(r, ms, acct.ID, box); err != nil {
		s.mailError(w, r, err)
		return
	}
	for _, f := range mp.Folders {
		if f.Current {
			mp.Folder = f
		}
	}
	s.renderMail(w, r, http.StatusOK, "mailmsg", sess, acct, mp)
}

// mailBody serves the sanitised HTML body for the read page's frame,
// under a CSP that sandboxes it (no script, no form, no plugin, an
// opaque origin) and allows images only from data: unless the user
// allowed remote images.
func (s *server) mailBody(w http.ResponseWriter, r *http.Request) {
	_, acct, ms, ok := s.mailSession(w, r)
	if !ok {
		return
	}
	_, _, info, rd, _, err := s.openMessage(r, ms, acct.ID)
	if err != nil {
		s.mailError(w, r, err)
		return
	}
	defer rd.Close()
	_, html := bodyParts(&info.Body)
	if html == nil {
		http.NotFound(w, r)
		return
	}
	raw, err := partDecoded(rd, html, maxShownBody)
	if err != nil {
		s.mailError(w, r, err)
		return
	}
	allow := r.URL.Query().Get("images") == "1"
	clean, _ := sanitizeMail(raw, allow)
	img := "data: cid:"
	if allow {
		img = "data: cid: https: http:"
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src "+img+"; frame-ancestors 'self'; form-action 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "private, no-store")
	io.WriteString(w, `<!doctype html><html><head><meta charset="utf-8"><base target="_blank"></head><body style="margin:0;font-family:system-ui,sans-serif;overflow-wrap:anywhere">`)
	io.WriteString(w, clean)
	io.WriteString(w, "</body></html>")
}

// mailPart serves an attachment for download, never for display: a
// fixed binary type and Content-Disposition: attachment (with nosniff),
// so a hostile HTML or SVG attachment cannot run in our origin.
func (s *server) mailPart(w http.ResponseWriter, r *http.Request) {
	_, acct, ms, ok := s.mailSession(w, r)
	if !ok {
		return
	}
	_, _, info, rd, _, err := s.openMessage(r, ms, acct.ID)
	if err != nil {
		s.mailError(w, r, err)
		return
	}
	defer rd.Close()
	p := partAt(info, r.PathValue("section"))
	if p == nil || p.Size > 1<<30 {
		http.NotFound(w, r)
		return
	}
	raw := make([]byte, p.Size)
	if _, err := rd.ReadAt(raw, p.BodyOffset); err != nil && err != io.EOF {
		s.mailError(w, r, err)
		return
	}
	body := message.DecodeTransfer(p.Encoding, raw)
	name := partName(p)
	if name == "" {
		name = "part-" + r.PathValue("section")
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// bodyParts finds the text/plain and text/html bodies to show: the first
// of each that is not an attachment, looking into multipart/alternative,
// mixed and related.
func bodyParts(p *message.Part) (plain, html *message.Part) {
	var walk func(p *message.Part)
	walk = func(p *message.Part) {
		if plain != nil && html != nil {
			return
		}
		switch {
		case p.Type == "multipart":
			for i := range p.Parts {
				walk(&p.Parts[i])
			}
		case p.Type == "text" && p.Disposition != "attachment":
			if p.Subtype == "plain" && plain == nil {
				plain = p
			}
			if p.Subtype == "html" && html == nil {
				html = p
			}
		}
	}
	walk(p)
	return plain, html
}

// attachments lists the leaf parts that are attachments: a disposition of
// attachment, or a file name, or a type that is not text.
func attachments(p *message.Part, prefix string) []attachment {
	var out []attachment
	if p.Type != "multipart" {
		name := partName(p)
		if p.Disposition == "attachment" || name != "" || (p.Type != "text" && p.Type != "message") {
			sec := prefix
			if sec == "" {
				sec = "1"
			}
			size := p.Size
			if strings.EqualFold(p.Encoding, "base64") {
				size = size * 3 / 4 // about the decoded size
			}
			out = append(out, attachment{Section: sec, Name: name, Size: sizeText(size)})
		}
		return out
	}
	for i := range p.Parts {
		sec := strconv.Itoa(i + 1)
		if prefix != "" {
			sec = prefix + "." + sec
		}
		out = append(out, attachments(&p.Parts[i], sec)...)
	}
	return out
}

// partDecoded returns a text part's body as UTF-8: transfer encoding
// undone, charset (GBK, GB18030, Big5…) converted by internal/message.
func partDecoded(r io.ReaderAt, p *message.Part, limit int64) (string, error) {
	raw := make([]byte, min(p.Size, limit))
	if _, err := r.ReadAt(raw, p.BodyOffset); err != nil && err != io.EOF {
		return "", err
	}
	charset := "us-ascii"
	for _, prm := range p.Params {
		if prm.Name == "charset" {
			charset = prm.Value
		}
	}
	s, _ := message.DecodeCharset(charset, message.DecodeTransfer(p.Encoding, raw))
	return s, nil
}

// partName is a part's file name (Content-Disposition filename, else
// Content-Type name), decoded.
func partName(p *message.Part) string {
	for _, ps := range [][]message.Param{p.DispParams, p.Params} {
		for _, prm := range ps {
			if prm.Name == "filename" || prm.Name == "name" {
				return message.DecodeHeader(prm.Value)
			}
		}
	}
	return ""
}
