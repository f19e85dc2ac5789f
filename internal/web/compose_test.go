package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"strings"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/smtpd"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/testutil/fixture"
)

// withSubmit wires Options.Submit to a real submission server over the
// env's store (local delivery; no outbound queue) and adds bob.
func withSubmit(t testing.TB, limit int64) func(*Options) {
	return func(o *Options) {
		st := o.Store.(store.Store)
		fixture.Account(t, st, store.Account{Address: bobUser, PasswordHash: fixture.CheapPasswordHash(testPassword), AllowIMAP: true, Created: time.Now()})
		srv := &smtpd.Server{Mode: smtpd.Submission, Deliverer: delivery.New(st, nil, testHost, slog.New(slog.DiscardHandler)),
			Hostname: testHost, MaxMessageBytes: limit, Logger: slog.New(slog.DiscardHandler)}
		t.Cleanup(func() { srv.Shutdown(context.Background()) })
		o.Submit, o.MaxMessageBytes = srv.Submit, limit
	}
}

// formPart is one field of a multipart form, a file when name is set.
type formPart struct{ field, value, file string }

func multipartBody(t testing.TB, parts ...formPart) (string, *bytes.Buffer) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		var w io.Writer
		var err error
		if p.file != "" {
			w, err = mw.CreateFormFile(p.field, p.file)
		} else {
			w, err = mw.CreateFormField(p.field)
		}
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, p.value)
	}
	mw.Close()
	return mw.FormDataContentType(), &b
}

func postCompose(t *testing.T, c *http.Client, base string, parts ...formPart) (*http.Response, string) {
	t.Helper()
	ct, body := multipartBody(t, parts...)
	req, _ := http.NewRequest("POST", base+"/mail/compose", body)
	req.Header.Set("Content-Type", ct)
	return do(t, c, req)
}

// onlyMessage returns the bytes and flags of the one message of a mailbox.
func onlyMessage(t *testing.T, e *env, acct store.AccountID, name string) ([]byte, store.Flags) {
	t.Helper()
	msgs := messagesIn(t, e, acct, name)
	if len(msgs) != 1 {
		t.Fatalf("%s holds %d messages, want 1", name, len(msgs))
	}
	return msgs[0].raw, msgs[0].flags
}

// nthMessage returns the bytes of the i-th message (by UID) of a mailbox.
func nthMessage(t *testing.T, e *env, acct store.AccountID, name string, i int) []byte {
	t.Helper()
	msgs := messagesIn(t, e, acct, name)
	if len(msgs) <= i {
		t.Fatalf("%s holds %d messages", name, len(msgs))
	}
	return msgs[i].raw
}

type storedMessage struct {
	raw   []byte
	flags store.Flags
}

// messagesIn returns the messages of a mailbox, by UID.
func messagesIn(t *testing.T, e *env, acct store.AccountID, name string) []storedMessage {
	t.Helper()
	ctx := context.Background()
	mb, err := e.st.Mailbox(ctx, acct, name)
	if err != nil {
		t.Fatal(err)
	}
	var uids []store.UID
	var out []storedMessage
	e.st.ListMessages(ctx, acct, mb.ID, store.ListOptions{}, func(m *store.Message) error {
		uids, out = append(uids, m.UID), append(out, storedMessage{flags: m.Flags})
		return nil
	})
	for i, uid := range uids {
		rd, err := e.st.OpenMessage(ctx, acct, mb.ID, uid)
		if err != nil {
			t.Fatal(err)
		}
		out[i].raw, _ = io.ReadAll(rd)
		rd.Close()
	}
	return out
}

// mailPart is one leaf part of a message as go-message reads it.
type mailPart struct {
	ct     string            // media type
	params map[string]string // its parameters (charset, ...)
	file   string            // filename of an attachment, "" for an inline part
	body   []byte            // decoded content
}

// mailParts parses a message with go-message: its header and leaf parts.
func mailParts(t *testing.T, raw []byte) (*gomail.Header, []mailPart) {
	t.Helper()
	r, err := gomail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var parts []mailPart
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var mp mailPart
		mp.body, _ = io.ReadAll(p.Body)
		switch h := p.Header.(type) {
		case *gomail.InlineHeader:
			mp.ct, mp.params, _ = h.ContentType()
		case *gomail.AttachmentHeader:
			mp.ct, mp.params, _ = h.ContentType()
			mp.file, _ = h.Filename()
		}
		parts = append(parts, mp)
	}
	return &r.Header, parts
}

// readMail parses a message with go-message: header, text (the inline
// text/plain parts), attachments.
func readMail(t *testing.T, raw []byte) (*gomail.Header, string, map[string][]byte) {
	t.Helper()
	h, parts := mailParts(t, raw)
	text, files := "", map[string][]byte{}
	for _, p := range parts {
		switch {
		case p.file != "":
			files[p.file] = p.body
		case p.ct == "text/plain":
			text += string(p.body)
		}
	}
	return h, text, files
}

func TestOutMsgEncoding(t *testing.T) {
	m := &outMsg{From: mail.Address{Name: "李雷", Address: testUser}, To: []*mail.Address{{Name: "韩梅梅", Address: bobUser}},
		Bcc: []*mail.Address{{Address: "hidden@example.test"}}, Subject: "回复：发票通知 第二季度", Text: "您好，\n附件是发票。\n",
		InReplyTo: "orig@remote.test", References: []string{"a@remote.test", "orig@remote.test"}, Date: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), Host: testHost,
		Parts: []outPart{{Name: "发票.pdf", Type: "application/pdf", Open: func() (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader("%PDF-1.4 \x00\xff binary")), nil
		}}}}
	var b bytes.Buffer
	if err := m.write(&b); err != nil {
		t.Fatal(err)
	}
	raw := b.Bytes()
	hdr := raw[:bytes.Index(raw, []byte("\r\n\r\n"))]
	for _, ln := range bytes.Split(hdr, []byte("\r\n")) {
		if len(ln) > 998 || bytes.ContainsFunc(ln, func(r rune) bool { return r > 0x7e }) {
			t.Errorf("header line not 7-bit or too long (RFC 5322 §2.1.1, RFC 2047): %q", ln)
		}
	}
	if bytes.Contains(raw, []byte("hidden@example.test")) {
		t.Error("Bcc written into a message to be sent")
	}
	if !bytes.Contains(hdr, []byte("=?utf-8?")) {
		t.Errorf("no encoded words in the header:\n%s", hdr)
	}
	h, text, files := readMail(t, raw)
	subj, _ := h.Subject()
	from, _ := h.AddressList("From")
	irt, _ := h.MsgIDList("In-Reply-To")
	refs, _ := h.MsgIDList("References")
	id, _ := h.MessageID()
	if subj != m.Subject || len(from) != 1 || from[0].Name != "李雷" || fmt.Sprint(irt) != "[orig@remote.test]" ||
		fmt.Sprint(refs) != "[a@remote.test orig@remote.test]" || !strings.HasSuffix(id, "@"+testHost) || h.Get("Date") == "" {
		t.Errorf("header: subject %q from %v in-reply-to %v references %v id %q", subj, from, irt, refs, id)
	}
	if text != "您好，\r\n附件是发票。\r\n" {
		t.Errorf("text %q", text)
	}
	if string(files["发票.pdf"]) != "%PDF-1.4 \x00\xff binary" {
		t.Errorf("attachments %q", files)
	}
	// A draft keeps Bcc, so that reopening it shows the Bcc.
	m.KeepBcc = true
	b.Reset()
	m.write(&b)
	if !bytes.Contains(b.Bytes(), []byte("Bcc: <hidden@example.test>")) && !bytes.Contains(b.Bytes(), []byte("Bcc: hidden@example.test")) {
		t.Errorf("draft lacks its Bcc:\n%s", b.Bytes()[:400])
	}
}

func TestParseAddrsChinesePunctuation(t *testing.T) {
	as, err := parseAddrs(`"Wang, Wu" <wang@example.test>；李雷 <li@example.test>，zhao@example.test`)
	if err != nil || len(as) != 3 || as[0].Name != "Wang, Wu" || as[1].Name != "李雷" || as[2].Address != "zhao@example.test" {
		t.Fatalf("%v %v", as, err)
	}
	back, err := parseAddrs(joinAddrs(as))
	if err != nil || len(back) != 3 || back[0].Name != "Wang, Wu" || back[1].Name != "李雷" {
		t.Fatalf("round trip %q: %v %v", joinAddrs(as), back, err)
	}
	if _, err := parseAddrs("not an address"); err == nil {
		t.Error("garbage accepted")
	}
}

func FuzzParseAddrs(f *testing.F) {
	for _, s := range []string{"a@b.c", `"x, y" <a@b.c>；李 <c@d.e>`, "<>", "a@b.c,,,", "=?utf-8?q?x?= <a@b>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		as, err := parseAddrs(s)
		if err != nil {
			return
		}
		// What was accepted formats back into a field that parses to
		// the same addresses.
		back, err := parseAddrs(joinAddrs(as))
		if err != nil || len(back) != len(as) {
			t.Fatalf("%q -> %q: %v %v", s, joinAddrs(as), back, err)
		}
		for i := range as {
			if back[i].Address != as[i].Address {
				t.Fatalf("%q: address %q became %q", s, as[i].Address, back[i].Address)
			}
		}
		refOf(s)
	})
}

func TestComposeReplyWithAttachment(t *testing.T) {
	e := newEnv(t, withSubmit(t, 1<<20))
	bob, err := e.st.Account(context.Background(), bobUser)
	if err != nil {
		t.Fatal(err)
	}
	orig := "From: =?UTF-8?B?5byg5LiJ?= <" + bobUser + ">\r\nTo: alice@example.test, carol@example.test\r\nSubject: =?UTF-8?B?5Y+R56Wo6YCa55+l?=\r\n" +
		"Message-ID: <orig-1@example.test>\r\nReferences: <root@example.test>\r\nDate: Fri, 1 May 2026 10:00:00 +0000\r\n\r\n请查收发票。\r\n"
	inbox, uids := appendMail(t, e, "INBOX", orig)
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	signIn(t, c, ts.URL, testUser, testPassword)
	ref := fmt.Sprintf("%d/%d", inbox.ID, uids[0])
	resp, page := get(t, c, ts.URL+"/mail/compose?mode=reply&ref="+ref)
	if resp.StatusCode != 200 {
		t.Fatalf("compose: %d\n%s", resp.StatusCode, page)
	}
	for _, want := range []string{`value="Re: 发票通知"`, `value="张三 &lt;bob@example.test&gt;"`, `value="orig-1@example.test"`,
		`value="root@example.test orig-1@example.test"`, "&gt; 请查收发票。"} {
		if !strings.Contains(page, want) {
			t.Errorf("reply form lacks %s", want)
		}
	}
	_, all := get(t, c, ts.URL+"/mail/compose?mode=all&ref="+ref)
	if !strings.Contains(all, `name="cc" id="cc" value="carol@example.test"`) || strings.Contains(all, `value="alice@`) {
		t.Error("reply-all: Cc should be carol only (not the user herself)")
	}
	csrf := csrfOf(t, page)
	resp, body := postCompose(t, c, ts.URL, formPart{"csrf", csrf, ""}, formPart{"mode", "reply", ""}, formPart{"ref", ref, ""},
		formPart{"in_reply_to", "orig-1@example.test", ""}, formPart{"references", "root@example.test orig-1@example.test", ""},
		formPart{"to", "张三 <" + bobUser + ">", ""}, formPart{"subject", "Re: 发票通知", ""}, formPart{"text", "收到，谢谢。", ""},
		formPart{"attach", "invoice bytes \x00\x01", "回执.bin"}, formPart{"op", "send", ""})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("send: %d\n%s", resp.StatusCode, body)
	}
	sent, flags := onlyMessage(t, e, e.acct.ID, "Sent")
	if flags.System&store.FlagSeen == 0 {
		t.Error("the Sent copy is not \\Seen")
	}
	got, _ := onlyMessage(t, e, bob.ID, "INBOX")
	for what, raw := range map[string][]byte{"Sent": sent, "bob's copy": got} {
		h, text, files := readMail(t, raw)
		subj, _ := h.Subject()
		irt, _ := h.MsgIDList("In-Reply-To")
		if subj != "Re: 发票通知" || fmt.Sprint(irt) != "[orig-1@example.test]" || text != "收到，谢谢。" || string(files["回执.bin"]) != "invoice bytes \x00\x01" {
			t.Errorf("%s: subject %q in-reply-to %v text %q files %q", what, subj, irt, text, files)
		}
	}
	var answered bool
	e.st.ListMessages(context.Background(), e.acct.ID, inbox.ID, store.ListOptions{}, func(m *store.Message) error {
		answered = m.Flags.System&store.FlagAnswered != 0
		return nil
	})
	if !answered {
		t.Error("the original is not \\Answered")
	}
	// Completion knows bob now.
	_, js := get(t, c, ts.URL+"/mail/addresses?q=BOB")
	if !strings.Contains(js, `"张三 \u003cbob@example.test\u003e"`) && !strings.Contains(js, `"张三 <bob@example.test>"`) {
		t.Errorf("completion: %s", js)
	}
}

func TestComposeRefusals(t *testing.T) {
	e := newEnv(t, withSubmit(t, 4<<10))
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	_, page := signIn(t, c, ts.URL, testUser, testPassword)
	csrf := csrfOf(t, page)
	// No token first: refused before anything is spooled.
	resp, _ := postCompose(t, c, ts.URL, formPart{"to", bobUser, ""}, formPart{"csrf", csrf, ""}, formPart{"op", "send", ""})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("form without the token first: %d", resp.StatusCode)
	}
	// Past the server's size limit.
	resp, body := postCompose(t, c, ts.URL, formPart{"csrf", csrf, ""}, formPart{"to", bobUser, ""},
		formPart{"attach", strings.Repeat("x", 64<<10), "big.bin"}, formPart{"op", "send", ""})
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than the server accepts") {
		t.Errorf("oversized upload: %d", resp.StatusCode)
	}
	// A sender policy refusal of the submission path is shown, and the
	// message kept as a draft: a remote recipient without a queue.
	resp, body = postCompose(t, c, ts.URL, formPart{"csrf", csrf, ""}, formPart{"to", "someone@remote.test", ""},
		formPart{"subject", "外发", ""}, formPart{"text", "hi", ""}, formPart{"op", "send", ""})
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "saved in Drafts") {
		t.Errorf("refused send: %d\n%s", resp.StatusCode, body)
	}
	onlyMessage(t, e, e.acct.ID, "Drafts")
	if resp, _ := postCompose(t, c, ts.URL, formPart{"csrf", csrf, ""}, formPart{"to", "bad address", ""}, formPart{"op", "send", ""}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad address: %d", resp.StatusCode)
	}
}

func TestDraftSaveReopenSend(t *testing.T) {
	e := newEnv(t, withSubmit(t, 1<<20))
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	_, page := signIn(t, c, ts.URL, testUser, testPassword)
	csrf := csrfOf(t, page)
	resp, _ := postCompose(t, c, ts.URL, formPart{"csrf", csrf, ""}, formPart{"to", bobUser, ""}, formPart{"bcc", "carol@example.test", ""},
		formPart{"subject", "草稿一", ""}, formPart{"text", "第一版", ""}, formPart{"attach", "keep me", "a.txt"}, formPart{"op", "draft", ""})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/mail/compose?n=saved&draft=") {
		t.Fatalf("save draft: %d %s", resp.StatusCode, loc)
	}
	raw, flags := onlyMessage(t, e, e.acct.ID, "Drafts")
	if flags.System&store.FlagDraft == 0 || !bytes.Contains(raw, []byte("carol@example.test")) {
		t.Errorf("draft flags %v or Bcc missing", flags)
	}
	_, form := get(t, c, ts.URL+loc)
	draft := strings.TrimPrefix(loc, "/mail/compose?n=saved&draft=")
	for _, want := range []string{`value="草稿一"`, ">第一版</textarea>", `name="bcc" id="bcc" value="carol@example.test"`, `name="keep" value="2" checked`, "a.txt", "Draft saved."} {
		if !strings.Contains(form, want) {
			t.Errorf("reopened draft lacks %s", want)
		}
	}
	// The autosave of the script: JSON, replacing the previous version.
	ct, body := multipartBody(t, formPart{"csrf", csrf, ""}, formPart{"draft", draft, ""}, formPart{"to", bobUser, ""},
		formPart{"subject", "草稿一", ""}, formPart{"text", "第二版", ""}, formPart{"keep", "2", ""}, formPart{"op", "draft", ""})
	req, _ := http.NewRequest("POST", ts.URL+"/mail/compose", body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Accept", "application/json")
	resp, js := do(t, c, req)
	if resp.StatusCode != 200 || !strings.Contains(js, `"draft":"`) || !strings.Contains(js, `"Name":"a.txt"`) {
		t.Fatalf("autosave: %d %s", resp.StatusCode, js)
	}
	raw, _ = onlyMessage(t, e, e.acct.ID, "Drafts") // the first version is gone
	if _, text, files := readMail(t, raw); text != "第二版" || string(files["a.txt"]) != "keep me" {
		t.Errorf("second version: %q %q", text, files)
	}
	newDraft := js[strings.Index(js, `"draft":"`)+9:]
	newDraft = newDraft[:strings.IndexByte(newDraft, '"')]
	resp, _ = postCompose(t, c, ts.URL, formPart{"csrf", csrf, ""}, formPart{"draft", newDraft, ""}, formPart{"to", bobUser, ""},
		formPart{"subject", "草稿一", ""}, formPart{"text", "定稿", ""}, formPart{"keep", "2", ""}, formPart{"op", "send", ""})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("send the draft: %d", resp.StatusCode)
	}
	mb, _ := e.st.Mailbox(context.Background(), e.acct.ID, "Drafts")
	if mb.Messages != 0 {
		t.Errorf("Drafts holds %d messages after sending", mb.Messages)
	}
	raw, _ = onlyMessage(t, e, e.acct.ID, "Sent")
	if _, text, files := readMail(t, raw); text != "定稿" || string(files["a.txt"]) != "keep me" {
		t.Errorf("sent: %q %q", text, files)
	}
}

func TestSearchBodyChinese(t *testing.T) {
	e := newEnv(t, nil)
	gbkBody := "From: x@remote.test\r\nTo: alice@example.test\r\nSubject: hello\r\nContent-Type: text/plain; charset=GBK\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		b64(mustGBK(t, "本月发票已寄出")) + "\r\n"
	inbox, _ := appendMail(t, e, "INBOX", gbkBody, plainMail(1), chineseHTMLMail(t))
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	signIn(t, c, ts.URL, testUser, testPassword)
	_, body := get(t, c, fmt.Sprintf("%s/mail/%d?q=%s", ts.URL, inbox.ID, url.QueryEscape("发票")))
	subj := subjectRE.FindAllStringSubmatch(body, -1)
	if len(subj) != 2 || subj[0][1] != "发票通知" || subj[1][1] != "hello" {
		t.Errorf("search 发票: %v", subj)
	}
	_, body = get(t, c, fmt.Sprintf("%s/mail/%d?q=%s", ts.URL, inbox.ID, url.QueryEscape("已寄出")))
	if subj := subjectRE.FindAllStringSubmatch(body, -1); len(subj) != 1 {
		t.Errorf("search in a GBK body: %v", subj)
	}
}

func TestLiveEvents(t *testing.T) {
	e := newEnv(t, nil)
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	signIn(t, c, ts.URL, testUser, testPassword)
	inbox, _ := e.st.Mailbox(context.Background(), e.acct.ID, "INBOX")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/mail/events?box=%d", ts.URL, inbox.ID), nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf) // retry: and the opening comment
	if !strings.Contains(string(buf[:n]), "retry:") {
		t.Fatalf("stream start %q", buf[:n])
	}
	appendMail(t, e, "INBOX", plainMail(7))
	var got string
	for !strings.Contains(got, "event: change") {
		n, err := resp.Body.Read(buf)
		if err != nil {
			t.Fatalf("stream ended: %v (%q)", err, got)
		}
		got += string(buf[:n])
	}
	if !strings.Contains(got, fmt.Sprintf(`"mailbox":%d`, inbox.ID)) {
		t.Errorf("event %q", got)
	}
	// Bounded per session.
	for i := 0; i < maxLivePerSession; i++ {
		req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/mail/events", nil)
		r, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		if i == maxLivePerSession-1 && r.StatusCode != http.StatusTooManyRequests {
			t.Errorf("stream %d beyond the bound: %d", i+2, r.StatusCode)
		}
	}
}

var _ = message.DecodeHeader
