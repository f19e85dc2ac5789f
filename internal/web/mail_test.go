package web

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	xhtml "golang.org/x/net/html"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/youju/youju/internal/store"
)

// appendMail stores messages in the account's mailbox name and returns
// the mailbox and the UIDs.
func appendMail(t testing.TB, e *env, name string, msgs ...string) (store.Mailbox, []store.UID) {
	t.Helper()
	ctx := context.Background()
	mb, err := e.st.Mailbox(ctx, e.acct.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	var ms []store.AppendMessage
	for i, m := range msgs {
		ms = append(ms, store.AppendMessage{Data: []byte(m), InternalDate: time.Unix(1.7e9+int64(i)*60, 0)})
	}
	res, err := e.st.AppendMessages(ctx, e.acct.ID, []store.Append{{Mailbox: mb.ID, Messages: ms}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	return mb, res[0].UIDs
}

func plainMail(i int) string {
	return fmt.Sprintf("From: Bob <bob@remote.test>\r\nTo: alice@example.test\r\nSubject: message %d\r\nMessage-ID: <%d@remote.test>\r\n\r\nbody %d\r\n", i, i, i)
}

var subjectRE = regexp.MustCompile(`<span class="subject">([^<]*)</span>`)

func TestMailListPaging(t *testing.T) {
	e := newEnv(t, nil)
	var msgs []string
	for i := range 120 {
		msgs = append(msgs, plainMail(i))
	}
	inbox, _ := appendMail(t, e, "INBOX", msgs...)
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	signIn(t, c, ts.URL, testUser, testPassword)
	resp, _ := get(t, c, ts.URL+"/mail/")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != fmt.Sprintf("/mail/%d", inbox.ID) {
		t.Fatalf("/mail/: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, tc := range []struct {
		page        int
		first, last string
		n           int
	}{{0, "message 119", "message 70", 50}, {1, "message 69", "message 20", 50}, {2, "message 19", "message 0", 20}} {
		resp, body := get(t, c, fmt.Sprintf("%s/mail/%d?p=%d", ts.URL, inbox.ID, tc.page))
		subj := subjectRE.FindAllStringSubmatch(body, -1)
		if resp.StatusCode != 200 || len(subj) != tc.n || subj[0][1] != tc.first || subj[len(subj)-1][1] != tc.last {
			t.Fatalf("page %d: %d, %d rows, %v", tc.page, resp.StatusCode, len(subj), subj)
		}
	}
	_, body := get(t, c, fmt.Sprintf("%s/mail/%d", ts.URL, inbox.ID))
	if !strings.Contains(body, `<span class="unseen" title="unread">120</span>`) || !strings.Contains(body, ">Trash</a>") {
		t.Error("folder list lacks the INBOX unread count or Trash")
	}
	// Search by subject through the store's search path.
	_, body = get(t, c, fmt.Sprintf("%s/mail/%d?q=%s", ts.URL, inbox.ID, url.QueryEscape("MESSAGE 11")))
	if subj := subjectRE.FindAllStringSubmatch(body, -1); len(subj) != 11 { // 11, 110..119
		t.Errorf("search: %d rows", len(subj))
	}
	// Another account's mailbox is not found, nor a bad path.
	for _, p := range []string{"/mail/99999", "/mail/abc", fmt.Sprintf("/mail/%d/99999", inbox.ID)} {
		if resp, _ := get(t, c, ts.URL+p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	// Signed out: sent to the sign-in page.
	if resp, _ := get(t, client(t, ts), fmt.Sprintf("%s/mail/%d", ts.URL, inbox.ID)); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("signed out: %d", resp.StatusCode)
	}
}

// chineseHTMLMail is a GBK HTML mail with a tracking image and a text
// attachment.
func chineseHTMLMail(t testing.TB) string {
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(`<html><body><p style="color: red">您好，发票已开具。</p><img src="https://tracker.example/pixel.gif?u=alice" width="1" height="1"></body></html>`)
	if err != nil {
		t.Fatal(err)
	}
	return "From: =?UTF-8?B?5byg5LiJ?= <zhang@remote.test>\r\nTo: alice@example.test\r\nSubject: =?GBK?B?" +
		b64(mustGBK(t, "发票通知")) + "?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
		"--b1\r\nContent-Type: text/html; charset=GBK\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + gbk + "\r\n" +
		"--b1\r\nContent-Type: text/plain; name=\"fapiao.txt\"\r\nContent-Disposition: attachment; filename=\"fapiao.txt\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		b64([]byte("invoice 42\n")) + "\r\n--b1--\r\n"
}

func TestMailReadChineseHTML(t *testing.T) {
	e := newEnv(t, nil)
	inbox, uids := appendMail(t, e, "INBOX", chineseHTMLMail(t))
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	signIn(t, c, ts.URL, testUser, testPassword)
	base := fmt.Sprintf("%s/mail/%d/%d", ts.URL, inbox.ID, uids[0])
	resp, body := get(t, c, base)
	if resp.StatusCode != 200 {
		t.Fatalf("read: %d", resp.StatusCode)
	}
	for _, want := range []string{`<h2 id="subject">发票通知</h2>`, `张三`, `id="images-blocked"`, `<iframe class="body" id="body" src="/mail/`,
		`sandbox="allow-popups allow-popups-to-escape-sandbox"`, `fapiao.txt</a>`} {
		if !strings.Contains(body, want) {
			t.Errorf("read page lacks %q", want)
		}
	}
	if strings.Contains(body, "allow-scripts") || strings.Contains(body, "allow-same-origin") {
		t.Error("the frame may run script or share our origin")
	}
	resp, frame := get(t, c, base+"/body")
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.HasPrefix(csp, "sandbox allow-popups allow-popups-to-escape-sandbox;") || !strings.Contains(csp, "img-src data: cid:;") || strings.Contains(csp, "script") {
		t.Errorf("frame CSP %q", csp)
	}
	if !strings.Contains(frame, "您好，发票已开具。") || strings.Contains(frame, "tracker.example") || !strings.Contains(frame, `style="color: red"`) {
		t.Errorf("frame body:\n%s", frame)
	}
	_, frame = get(t, c, base+"/body?images=1")
	if !strings.Contains(frame, `src="https://tracker.example/pixel.gif?u=alice"`) {
		t.Errorf("images allowed, but the image is gone:\n%s", frame)
	}
	resp, att := get(t, c, base+"/part/2")
	if att != "invoice 42\n" || resp.Header.Get("Content-Type") != "application/octet-stream" || !strings.Contains(resp.Header.Get("Content-Disposition"), `attachment; filename=fapiao.txt`) {
		t.Errorf("attachment: %q %v", att, resp.Header)
	}
	if resp, _ := get(t, c, base+"/part/9"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing part: %d", resp.StatusCode)
	}
	// Reading marked it read.
	var seen bool
	e.st.ListMessages(context.Background(), e.acct.ID, inbox.ID, store.ListOptions{}, func(m *store.Message) error {
		seen = m.Flags.System&store.FlagSeen != 0
		return nil
	})
	if !seen {
		t.Error("reading did not mark the message read")
	}
}

func TestMailActions(t *testing.T) {
	e := newEnv(t, nil)
	inbox, uids := appendMail(t, e, "INBOX", plainMail(1), plainMail(2))
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	signIn(t, c, ts.URL, testUser, testPassword)
	ctx := context.Background()
	act := func(uid store.UID, form url.Values) int {
		t.Helper()
		_, body := get(t, c, fmt.Sprintf("%s/mail/%d/%d", ts.URL, inbox.ID, uid))
		if form.Get("csrf") == "" {
			form.Set("csrf", csrfOf(t, body))
		}
		resp, _ := postForm(t, c, fmt.Sprintf("%s/mail/%d/%d/act", ts.URL, inbox.ID, uid), form)
		return resp.StatusCode
	}
	flags := func(uid store.UID) store.SysFlags {
		var f store.SysFlags
		e.st.ListMessages(ctx, e.acct.ID, inbox.ID, store.ListOptions{UIDs: store.UIDSet{{Lo: uid, Hi: uid}}}, func(m *store.Message) error {
			f = m.Flags.System
			return nil
		})
		return f
	}
	if code := act(uids[0], url.Values{"op": {"flag"}, "csrf": {"forged"}}); code != http.StatusForbidden || flags(uids[0])&store.FlagFlagged != 0 {
		t.Fatalf("forged CSRF: %d", code)
	}
	if code := act(uids[0], url.Values{"op": {"flag"}}); code != http.StatusSeeOther || flags(uids[0])&store.FlagFlagged == 0 {
		t.Fatalf("flag: %d %v", code, flags(uids[0]))
	}
	if code := act(uids[0], url.Values{"op": {"unread"}}); code != http.StatusSeeOther || flags(uids[0])&store.FlagSeen != 0 {
		t.Fatalf("unread: %d", code)
	}
	archive, _ := e.st.Mailbox(ctx, e.acct.ID, "Archive")
	if code := act(uids[0], url.Values{"op": {"move"}, "to": {fmt.Sprint(archive.ID)}}); code != http.StatusSeeOther {
		t.Fatalf("move: %d", code)
	}
	if a, _ := e.st.Mailbox(ctx, e.acct.ID, "Archive"); a.Messages != 1 {
		t.Errorf("Archive has %d messages after the move", a.Messages)
	}
	if code := act(uids[1], url.Values{"op": {"delete"}}); code != http.StatusSeeOther {
		t.Fatalf("delete: %d", code)
	}
	tr, _ := e.st.Mailbox(ctx, e.acct.ID, "Trash")
	in, _ := e.st.Mailbox(ctx, e.acct.ID, "INBOX")
	if tr.Messages != 1 || in.Messages != 0 {
		t.Errorf("after delete: Trash %d, INBOX %d", tr.Messages, in.Messages)
	}
}

// Hostile HTML mail runs nothing: every way to run script, submit a
// form, navigate or load from elsewhere is gone after sanitising, and the
// frame's CSP (tested above) forbids script anyway.
func TestHostileHTMLRunsNothing(t *testing.T) {
	hostile := []string{
		`<script>alert(1)</script>`,
		`<SCRIPT SRC=//evil.example/x.js></SCRIPT>`,
		`<img src=x onerror="alert(1)">`,
		`<body onload=alert(1)>`,
		`<a href="javascript:alert(1)">x</a>`,
		`<a href="JaVaScRiPt:alert(1)">x</a>`,
		`<a href="&#106;avascript:alert(1)">x</a>`,
		`<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>`,
		`<div style="width: expression(alert(1))">x</div>`,
		`<div style="background: url(javascript:alert(1))">x</div>`,
		`<style>body{background:url(https://evil.example/t)}</style>`,
		`<form action="https://evil.example/"><input name=p><button formaction="javascript:alert(1)">go</button></form>`,
		`<svg><script>alert(1)</script></svg>`,
		`<svg onload=alert(1)><animate onbegin=alert(1)></svg>`,
		`<meta http-equiv="refresh" content="0;url=https://evil.example/">`,
		`<iframe src="https://evil.example/"></iframe><iframe srcdoc="<script>alert(1)</script>"></iframe>`,
		`<object data="https://evil.example/x.swf"></object><embed src="https://evil.example/x">`,
		`<base href="https://evil.example/"><link rel=stylesheet href="https://evil.example/s.css">`,
		`<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>`,
		`<noscript><p title="</noscript><img src=x onerror=alert(1)>">`,
	}
	bad := regexp.MustCompile(`(?i)<\s*(script|style|form|input|button|svg|meta|iframe|object|embed|base|link|math|animate)\b|\son\w+\s*=|javascript:|expression\(|srcdoc|formaction|data:text|evil\.example`)
	for _, h := range hostile {
		out, _ := sanitizeMail(h, false)
		if m := bad.FindString(out); m != "" {
			t.Errorf("sanitised %q\n  to %q: still has %q", h, out, m)
		}
		if m := unsafeHTML(out); m != "" {
			t.Errorf("sanitised %q\n  to %q: a browser sees %q", h, out, m)
		}
	}
}

// unsafeHTML parses html as a browser would and returns the first thing
// in it that could run script or load from elsewhere, "" if none.
func unsafeHTML(h string) string {
	z := xhtml.NewTokenizer(strings.NewReader(h))
	for {
		switch z.Next() {
		case xhtml.ErrorToken:
			return ""
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			tok := z.Token()
			switch tok.Data {
			case "script", "style", "iframe", "frame", "object", "embed", "form", "input", "button", "svg", "math", "meta", "base", "link", "applet":
				return "<" + tok.Data + ">"
			}
			for _, a := range tok.Attr {
				v := strings.ToLower(strings.Join(strings.Fields(a.Val), ""))
				switch {
				case strings.HasPrefix(a.Key, "on"), a.Key == "srcdoc", a.Key == "formaction":
					return a.Key
				case (a.Key == "href" || a.Key == "src" || a.Key == "action") && (strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "data:text") || strings.HasPrefix(v, "vbscript:")):
					return a.Key + "=" + a.Val
				case a.Key == "style" && (strings.Contains(v, "expression(") || strings.Contains(v, "url(")):
					return "style=" + a.Val
				}
			}
		}
	}
}

func FuzzSanitizeMail(f *testing.F) {
	f.Add(`<p onclick=x>hi</p><script>x</script><a href="javascript:y">z</a>`)
	f.Add(`<img src="https://t.example/p.gif"><div style="color:red;width:expression(1)">`)
	f.Add(`<svg><a xlink:href="javascript:1"><rect/></a></svg><math><style><img src=x onerror=1>`)
	f.Fuzz(func(t *testing.T, html string) {
		out, _ := sanitizeMail(html, false)
		if m := unsafeHTML(out); m != "" {
			t.Fatalf("sanitised %q to %q: has %q", html, out, m)
		}
	})
}

func b64(b []byte) string {
	return base64.StdEncoding.EncodeToString(b)
}

func mustGBK(t testing.TB, s string) []byte {
	t.Helper()
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
