package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// Compose, reply, reply-all and forward (issue 18). The form posts
// multipart/form-data, read part by part (upload.go): attachments go to
// a spool on disk, never whole into memory, and the whole upload is
// bounded by the server's message size limit. The message is built with
// go-message (composemsg.go) and sent through Options.Submit, the SMTP
// submission path itself, then saved to Sent.
//
// Forward attaches the original as message/rfc822 rather than quoting
// it: the original travels intact (its HTML, its attachments, its
// headers and DKIM signatures, which the recipient may need as
// evidence), and none of its untrusted HTML is re-rendered into what the
// user edits.

// composeView is the compose form's content.
type composeView struct {
	To, Cc, Bcc, Subject, Text string
	Mode                       string // "", "reply", "all", "forward"
	Ref                        string // "BOX/UID" of the message replied to or forwarded
	RefSubject                 string // the forwarded message, as shown
	Draft                      string // "BOX/UID" of the draft being edited
	Kept                       []attachment
	InReplyTo                  string
	References                 string // space-separated
	Error                      string // message key
	Detail                     string // the server's reply when sending failed
	Notice                     string
	MaxSize                    string
}

// refOf parses "BOX/UID".
func refOf(s string) (store.MailboxID, store.UID, bool) {
	b, u, ok := strings.Cut(s, "/")
	box, err1 := strconv.ParseInt(b, 10, 64)
	uid, err2 := strconv.ParseUint(u, 10, 32)
	return store.MailboxID(box), store.UID(uid), ok && err1 == nil && err2 == nil && box > 0 && uid > 0
}

func refString(box store.MailboxID, uid store.UID) string { return fmt.Sprintf("%d/%d", box, uid) }

// loadMessage reads a message's parse and opens its bytes.
func loadMessage(ctx context.Context, ms store.Mail, acct store.AccountID, box store.MailboxID, uid store.UID) (*message.Info, store.MessageReader, error) {
	var raw []byte
	err := ms.ListMessages(ctx, acct, box, store.ListOptions{UIDs: store.UIDSet{{Lo: uid, Hi: uid}}, WithInfo: true},
		func(m *store.Message) error { raw = bytes.Clone(m.Info); return nil })
	if err == nil && raw == nil {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	info, err := message.UnmarshalInfo(raw)
	if err != nil {
		return nil, nil, err
	}
	rd, err := ms.OpenMessage(ctx, acct, box, uid)
	return info, rd, err
}

// composeNew shows the compose form: empty, a reply (?ref=BOX/UID&mode=
// reply|all), a forward (mode=forward) or a draft (?draft=BOX/UID).
func (s *server) composeNew(w http.ResponseWriter, r *http.Request) {
	sess, acct, ms, ok := s.mailSession(w, r)
	if !ok {
		return
	}
	if s.opt.Submit == nil {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	v := &composeView{}
	var err error
	if d, okd := q["draft"]; okd {
		err = s.fillDraft(r.Context(), ms, acct, d[0], v)
	} else if ref := q.Get("ref"); ref != "" {
		err = s.fillReply(r.Context(), ms, acct, ref, q.Get("mode"), v)
	} else {
		v.To = q.Get("to")
	}
	if err != nil {
		s.mailError(w, r, err)
		return
	}
	if q.Get("n") == "saved" {
		v.Notice = "compose_saved"
	}
	s.renderCompose(w, r, http.StatusOK, sess, acct, ms, v)
}

func (s *server) renderCompose(w http.ResponseWriter, r *http.Request, status int, sess *session, acct store.Account, ms store.Mail, v *composeView) {
	v.MaxSize = sizeText(s.maxMessage())
	mp := &mailPage{Compose: v}
	var err error
	if mp.Folders, err = s.folders(r, ms, acct.ID, 0); err != nil {
		s.mailError(w, r, err)
		return
	}
	s.renderMail(w, r, status, "compose", sess, acct, mp)
}

// fillReply prefills a reply, reply-all or forward of ref.
func (s *server) fillReply(ctx context.Context, ms store.Mail, acct store.Account, ref, mode string, v *composeView) error {
	box, uid, ok := refOf(ref)
	if !ok || (mode != "reply" && mode != "all" && mode != "forward") {
		return store.ErrNotFound
	}
	info, rd, err := loadMessage(ctx, ms, acct.ID, box, uid)
	if err != nil {
		return err
	}
	defer rd.Close()
	v.Mode, v.Ref = mode, refString(box, uid)
	subj := strings.TrimSpace(info.Subject)
	if mode == "forward" {
		v.Subject, v.RefSubject = prefixSubject("Fwd: ", subj), subj
		return nil
	}
	v.Subject = prefixSubject("Re: ", subj)
	env := &info.Envelope
	// RFC 5322 §3.6.3: replies go to Reply-To when there is one.
	to := env.ReplyTo
	if len(to) == 0 {
		to = env.From
	}
	self := strings.ToLower(acct.Address)
	seen := map[string]bool{self: true}
	v.To = formAddrs(to, seen)
	if mode == "all" {
		v.Cc = formAddrs(append(append([]message.Address{}, env.To...), env.Cc...), seen)
	}
	if id := trimID(env.MessageID); id != "" {
		v.InReplyTo = id
		v.References = strings.Join(append(append([]string{}, info.References...), id), " ")
	}
	text, _ := message.BodyText(rd, info, maxShownBody)
	v.Text = "\n\n" + quoteText(info.From, info.Envelope.Date, text)
	return nil
}

// prefixSubject adds "Re: " or "Fwd: " unless the subject has it (or
// the Chinese 回复/转发 a Chinese client put there).
func prefixSubject(prefix, subj string) string {
	known := []string{"re:", "回复:", "回复：", "答复:", "答复："}
	if prefix != "Re: " {
		known = []string{"fwd:", "fw:", "转发:", "转发："}
	}
	l := strings.ToLower(subj)
	for _, p := range known {
		if strings.HasPrefix(l, p) {
			return subj
		}
	}
	return prefix + subj
}

// formAddrs formats addresses for a form field, skipping those in seen
// (and adding the others to it).
func formAddrs(as []message.Address, seen map[string]bool) string {
	var out []*mail.Address
	for _, a := range as {
		if a.Mailbox == "" || a.Host == "" {
			continue // a group's start or end
		}
		addr := a.Mailbox + "@" + a.Host
		if seen[strings.ToLower(addr)] {
			continue
		}
		seen[strings.ToLower(addr)] = true
		out = append(out, &mail.Address{Name: strings.TrimSpace(message.DecodeHeader(a.Name)), Address: addr})
	}
	return joinAddrs(out)
}

func trimID(id string) string {
	return strings.TrimSpace(strings.Trim(strings.TrimSpace(id), "<>"))
}

// quoteText quotes the original of a reply: an attribution line, then
// each line behind "> " (RFC 3676 §4.5 quoting).
func quoteText(from, date, text string) string {
	const maxQuoted = 256 << 10
	if len(text) > maxQuoted {
		text = text[:maxQuoted]
	}
	var b strings.Builder
	if date = strings.TrimSpace(date); date != "" {
		b.WriteString(date + ", ")
	}
	b.WriteString(from + ":\n")
	for _, ln := range strings.Split(strings.TrimRight(strings.ReplaceAll(text, "\r\n", "\n"), "\n"), "\n") {
		if strings.HasPrefix(ln, ">") {
			b.WriteString(">" + ln + "\n")
		} else {
			b.WriteString("> " + ln + "\n")
		}
	}
	return b.String()
}

// fillDraft reopens a draft.
func (s *server) fillDraft(ctx context.Context, ms store.Mail, acct store.Account, ref string, v *composeView) error {
	box, uid, ok := refOf(ref)
	if !ok {
		return store.ErrNotFound
	}
	info, rd, err := loadMessage(ctx, ms, acct.ID, box, uid)
	if err != nil {
		return err
	}
	defer rd.Close()
	env := &info.Envelope
	none := map[string]bool{}
	v.Draft, v.Subject = refString(box, uid), info.Subject
	v.To, v.Cc, v.Bcc = formAddrs(env.To, none), formAddrs(env.Cc, none), formAddrs(env.Bcc, none)
	if id := trimID(env.InReplyTo); id != "" {
		v.InReplyTo = id
		v.References = strings.Join(info.References, " ")
	}
	if plain, _ := bodyParts(&info.Body); plain != nil {
		v.Text, _ = message.PartText(rd, plain, maxShownBody)
	}
	v.Kept = attachments(&info.Body, "")
	return nil
}

// maxMessage is the size limit of a composed message.
func (s *server) maxMessage() int64 {
	if s.opt.MaxMessageBytes > 0 {
		return s.opt.MaxMessageBytes
	}
	return 50 << 20
}

// composePost sends or saves the compose form.
func (s *server) composePost(w http.ResponseWriter, r *http.Request) {
	ms, okStore := s.mailStore()
	id, sess, ok := s.currentSession(r)
	if !ok || !okStore || s.opt.Submit == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	acct, ok := s.account(w, r, id, sess)
	if !ok {
		return
	}
	if !sameOrigin(r) {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	up, err := readUpload(w, r, sess.csrf, s.maxMessage())
	if up != nil {
		defer up.cleanup()
	}
	if err != nil {
		s.uploadError(w, r, sess, acct, ms, err)
		return
	}
	f := up.fields
	v := &composeView{To: f.Get("to"), Cc: f.Get("cc"), Bcc: f.Get("bcc"), Subject: f.Get("subject"),
		Text: f.Get("text"), Mode: f.Get("mode"), Ref: f.Get("ref"), Draft: f.Get("draft"),
		InReplyTo: f.Get("in_reply_to"), References: f.Get("references"), RefSubject: f.Get("ref_subject")}
	out, rcpts, err := s.composed(r.Context(), ms, acct, v, up)
	if err != nil {
		v.Error, v.Detail = "compose_err_address", err.Error()
		s.renderCompose(w, r, http.StatusBadRequest, sess, acct, ms, v)
		return
	}
	if f.Get("op") == "draft" {
		s.saveDraft(w, r, sess, acct, ms, v, out)
		return
	}
	s.send(w, r, sess, acct, ms, v, out, rcpts)
}

// composed builds the message of the form: the uploads, the kept parts
// of the draft, the forwarded original.
func (s *server) composed(ctx context.Context, ms store.Mail, acct store.Account, v *composeView, up *upload) (*outMsg, []string, error) {
	m := &outMsg{From: mail.Address{Address: acct.Address}, Subject: v.Subject, Text: v.Text,
		Date: s.opt.Now(), Host: s.opt.Hostname}
	var err error
	if m.To, err = parseAddrs(v.To); err != nil {
		return nil, nil, err
	}
	if m.Cc, err = parseAddrs(v.Cc); err != nil {
		return nil, nil, err
	}
	if m.Bcc, err = parseAddrs(v.Bcc); err != nil {
		return nil, nil, err
	}
	if id := trimID(v.InReplyTo); id != "" && !strings.ContainsAny(id, " \r\n") {
		m.InReplyTo = id
		for _, ref := range strings.Fields(v.References) {
			if ref = trimID(ref); ref != "" {
				m.References = append(m.References, ref)
			}
		}
	}
	for _, sp := range up.files {
		m.Parts = append(m.Parts, sp.part())
	}
	if box, uid, ok := refOf(v.Draft); ok {
		m.Parts = append(m.Parts, keptParts(ctx, ms, acct.ID, box, uid, up.fields["keep"])...)
	}
	if box, uid, ok := refOf(v.Ref); ok && v.Mode == "forward" {
		m.Parts = append(m.Parts, outPart{Name: forwardName(v.RefSubject), Type: "message/rfc822", Open: func() (io.ReadCloser, error) {
			return ms.OpenMessage(ctx, acct.ID, box, uid)
		}})
	}
	var rcpts []string
	for _, l := range [][]*mail.Address{m.To, m.Cc, m.Bcc} {
		for _, a := range l {
			rcpts = append(rcpts, a.Address)
		}
	}
	return m, rcpts, nil
}

func forwardName(subj string) string {
	if subj = strings.TrimSpace(subj); subj == "" {
		subj = "message"
	}
	return clip(subj, 60) + ".eml"
}

// keptParts are the attachments of the draft the user kept (sections).
func keptParts(ctx context.Context, ms store.Mail, acct store.AccountID, box store.MailboxID, uid store.UID, keep []string) []outPart {
	var out []outPart
	for _, sec := range keep {
		sec := sec
		out = append(out, outPart{Name: "", Open: func() (io.ReadCloser, error) {
			return openPart(ctx, ms, acct, box, uid, sec)
		}})
	}
	if len(out) == 0 {
		return nil
	}
	// Names and types come from the draft's parse.
	info, rd, err := loadMessage(ctx, ms, acct, box, uid)
	if err != nil {
		return out
	}
	rd.Close()
	for i, sec := range keep {
		if p := partAt(info, sec); p != nil {
			out[i].Name, out[i].Type = partName(p), p.Type+"/"+p.Subtype
		}
	}
	return out
}

// partAt finds a part by its section ("1.2").
func partAt(info *message.Info, sec string) *message.Part {
	var path []int
	for _, f := range strings.Split(sec, ".") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || len(path) > 20 {
			return nil
		}
		path = append(path, n)
	}
	p := info.Part(path)
	if p == nil || p.Type == "multipart" {
		return nil
	}
	return p
}

// openPart returns the decoded body of a part of a stored message.
func openPart(ctx context.Context, ms store.Mail, acct store.AccountID, box store.MailboxID, uid store.UID, sec string) (io.ReadCloser, error) {
	info, rd, err := loadMessage(ctx, ms, acct, box, uid)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	p := partAt(info, sec)
	if p == nil {
		return nil, store.ErrNotFound
	}
	raw := make([]byte, p.Size)
	if _, err := rd.ReadAt(raw, p.BodyOffset); err != nil && err != io.EOF {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(message.DecodeTransfer(p.Encoding, raw))), nil
}

// specialBox finds the account's mailbox of a special use, creating it
// under name if there is none.
func specialBox(ctx context.Context, ms store.Mail, acct store.AccountID, use, name string) (store.MailboxID, error) {
	if id, err := findSpecial(ctx, ms, acct, use); id != 0 || err != nil {
		return id, err
	}
	b, err := ms.CreateMailbox(ctx, acct, name, use)
	if errors.Is(err, store.ErrExists) {
		b, err = ms.Mailbox(ctx, acct, name)
	}
	return b.ID, err
}

// appendTo stores msg in box with flags; it returns only when the store
// has it on stable storage (AppendMessages).
func appendTo(ctx context.Context, ms store.Mail, acct store.AccountID, box store.MailboxID, msg []byte, f store.SysFlags, now time.Time) (store.UID, error) {
	res, err := ms.AppendMessages(ctx, acct, []store.Append{{Mailbox: box, Messages: []store.AppendMessage{{Data: msg, InternalDate: now, Flags: store.Flags{System: f}}}}})
	if err != nil {
		return 0, err
	}
	if res[0].Err != nil {
		return 0, res[0].Err
	}
	return res[0].UIDs[0], nil
}

// buildBytes writes m into memory, bounded by the message limit: the
// submission path takes the message whole, as it does from SMTP DATA.
func (s *server) buildBytes(m *outMsg) ([]byte, error) {
	var b bytes.Buffer
	lw := &limitWriter{w: &b, n: s.maxMessage()}
	if err := m.write(lw); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var errTooBig = errors.New("message too large")

type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		return 0, errTooBig
	}
	l.n -= int64(len(p))
	return l.w.Write(p)
}

// composeRoutes adds compose, drafts, completion and live updates.
func (s *server) composeRoutes() {
	m := s.mux
	m.HandleFunc("GET /mail/compose", s.composeNew)
	m.HandleFunc("POST /mail/compose", s.composePost)
	m.HandleFunc("GET /mail/addresses", s.addressCompletion)
	m.HandleFunc("GET /mail/events", s.mailEvents)
	m.HandleFunc("GET /mail/live", s.liveState)
}

// mailCSP is the webmail pages' policy: the site's, plus our own script
// files (static/mail.js: shortcuts, live updates, completion, autosave;
// no inline script, no eval), which may talk only to us.
const mailCSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func init() {
	for name, byLang := range parsePages("compose") {
		pages[name] = byLang
	}
}
