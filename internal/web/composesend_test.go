package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	gomessage "github.com/emersion/go-message"
	xhtml "golang.org/x/net/html"

	imapserver "github.com/youju/youju/internal/imap/server"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
	"github.com/youju/youju/internal/testutil"
)

// appendFails is the env's store whose AppendMessages fails, as a full
// disk would make it: the webmail's copy to Sent (the submission path
// delivers through the store beneath, so the mail still goes out).
type appendFails struct{ *sqlite.Store }

func (appendFails) AppendMessages(context.Context, store.AccountID, []store.Append) ([]store.AppendResult, error) {
	return nil, errors.New("no space left on device")
}

func TestSendShowsSentCopyFailure(t *testing.T) {
	var logs testutil.SyncBuffer
	e := newEnv(t, func(o *Options) {
		withSubmit(t, 1<<20)(o)
		o.Store = appendFails{o.Store.(*sqlite.Store)}
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	bob, err := e.st.Account(context.Background(), bobUser)
	if err != nil {
		t.Fatal(err)
	}
	ts, c, csrf := signedIn(t, e)
	for _, lang := range []struct{ code, notice string }{{"en", "sent, but it could not be saved to Sent"}, {"zh", "邮件已发送，但未能保存到已发送"}} {
		get(t, c, ts.URL+"/lang/"+lang.code)
		resp, body := postCompose(t, c, ts.URL, formPart{"csrf", csrf, ""}, formPart{"to", bobUser, ""},
			formPart{"subject", "周报 " + lang.code, ""}, formPart{"text", "本周完成。", ""}, formPart{"op", "send", ""})
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(loc, "?n=unsaved") {
			t.Fatalf("send (%s): %d %s\n%s", lang.code, resp.StatusCode, loc, body)
		}
		resp, body = get(t, c, ts.URL+loc)
		if resp.StatusCode != 200 || !strings.Contains(body, lang.notice) {
			t.Errorf("the page after sending (%s) does not say the copy failed: %d\n%s", lang.code, resp.StatusCode, body)
		}
	}
	if n := strings.Count(logs.String(), "webmail: saving to Sent"); n != 2 {
		t.Errorf("%d log lines of the failed copy, want 2:\n%s", n, logs.String())
	}
	inbox, _ := e.st.Mailbox(context.Background(), bob.ID, "INBOX")
	if inbox.Messages != 2 {
		t.Errorf("bob received %d messages, want 2 (the mail goes out)", inbox.Messages)
	}
	// A copy that worked says so, and only that.
	e2 := newEnv(t, withSubmit(t, 1<<20))
	ts2, c2, csrf2 := signedIn(t, e2)
	resp, _ := postCompose(t, c2, ts2.URL, formPart{"csrf", csrf2, ""}, formPart{"to", bobUser, ""}, formPart{"text", "hi", ""}, formPart{"op", "send", ""})
	if _, body := get(t, c2, ts2.URL+resp.Header.Get("Location")); !strings.Contains(body, "Message sent.") || strings.Contains(body, "could not be saved") {
		t.Errorf("the page after a sent and saved message:\n%s", body)
	}
}

// TestForwardSetsForwarded: forwarding a message marks it $Forwarded
// (RFC 5550 §5.9), seen by an IMAP client; a reply marks \Answered and
// not $Forwarded.
func TestForwardSetsForwarded(t *testing.T) {
	e := newEnv(t, withSubmit(t, 1<<20))
	inbox, uids := appendMail(t, e, "INBOX", plainMail(1), plainMail(2))
	ts, c, csrf := signedIn(t, e)
	for i, mode := range []string{"forward", "reply"} {
		ref := refString(inbox.ID, uids[i])
		resp, body := postCompose(t, c, ts.URL, formPart{"csrf", csrf, ""}, formPart{"mode", mode, ""}, formPart{"ref", ref, ""},
			formPart{"ref_subject", "message 1", ""}, formPart{"to", bobUser, ""}, formPart{"text", "FYI", ""}, formPart{"op", "send", ""})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %d\n%s", mode, resp.StatusCode, body)
		}
	}
	discard := slog.New(slog.DiscardHandler)
	srv := &imapserver.Server{Store: e.st, Auth: e.auth, Hostname: testHost, AllowPlaintextLoopback: true, Logger: discard}
	ic, err := imapclient.DialInsecure(serveLoopback(t, srv.Serve, srv.Shutdown), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login(testUser, testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := ic.Fetch(imap.UIDSetNum(imap.UID(uids[0]), imap.UID(uids[1])), &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil || len(msgs) != 2 {
		t.Fatalf("fetch: %v %d", err, len(msgs))
	}
	fwd, re := msgs[0].Flags, msgs[1].Flags
	if !slices.Contains(fwd, imap.Flag("$Forwarded")) || slices.Contains(fwd, imap.FlagAnswered) {
		t.Errorf("forwarded message's flags %v", fwd)
	}
	if !slices.Contains(re, imap.FlagAnswered) || slices.Contains(re, imap.Flag("$Forwarded")) {
		t.Errorf("replied message's flags %v", re)
	}
}

func TestTextToHTML(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"你好，\n附件是发票。\n\n谢谢", "<p>你好，<br>\n附件是发票。</p>\n<p>谢谢</p>"},
		{"<b>&</b>", "<p>&lt;b&gt;&amp;&lt;/b&gt;</p>"},
		{"见 https://example.cn/a?b=1&c=2。", `<p>见 <a href="https://example.cn/a?b=1&amp;c=2">https://example.cn/a?b=1&amp;c=2</a>。</p>`},
		{"(see http://x.test/y).", `<p>(see <a href="http://x.test/y">http://x.test/y</a>).</p>`},
		{"javascript:alert(1) xhttp://a.test http:// mailto:li@example.cn", `<p>javascript:alert(1) xhttp://a.test http:// <a href="mailto:li@example.cn">mailto:li@example.cn</a></p>`},
		{"好\n\n2026-05-01, 张三:\n> 请查收\n>> 原文\n> 谢谢", "<p>好</p>\n<p>2026-05-01, 张三:</p>\n<blockquote style=\"" + htmlQuoteStyle + "\">\n<p>请查收</p>\n<blockquote style=\"" + htmlQuoteStyle +
			"\">\n<p>原文</p>\n</blockquote>\n<p>谢谢</p>\n</blockquote>"},
	} {
		got := textToHTML(c.in)
		body := got[strings.Index(got, "sans-serif\">\n")+len("sans-serif\">\n") : strings.LastIndex(got, "\n</div>")]
		if body != c.want {
			t.Errorf("%q:\n got %q\nwant %q", c.in, body, c.want)
		}
	}
}

// FuzzTextToHTML: whatever the user types, the HTML holds no tag but
// ours, its <blockquote>s balance, and its text is the typed text.
func FuzzTextToHTML(f *testing.F) {
	for _, s := range []string{"a\nb\n\nc", "> x\n>> y\n> > z", "<script>alert(1)</script>", "https://a.test/<x>", "\" onload=\"x", strings.Repeat(">", 50) + " deep"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := textToHTML(s)
		doc, err := xhtml.Parse(strings.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		allowed := map[string]bool{"html": true, "head": true, "meta": true, "body": true, "div": true, "p": true, "br": true, "blockquote": true, "a": true}
		var walk func(n *xhtml.Node)
		walk = func(n *xhtml.Node) {
			if n.Type == xhtml.ElementNode {
				if !allowed[n.Data] {
					t.Fatalf("%q made a <%s>:\n%s", s, n.Data, out)
				}
				for _, a := range n.Attr {
					if l := strings.ToLower(a.Val); a.Key == "href" && schemeAt(l) == 0 {
						t.Fatalf("%q made a link to %q", s, a.Val)
					}
					if a.Key != "href" && a.Key != "style" && a.Key != "charset" {
						t.Fatalf("%q made an attribute %s", s, a.Key)
					}
				}
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
		walk(doc)
		if strings.Count(out, "<blockquote") != strings.Count(out, "</blockquote>") {
			t.Fatalf("%q: unbalanced blockquotes", s)
		}
	})
}

// TestComposeAlternative: what the recipient receives is text and HTML
// (multipart/alternative inside multipart/mixed beside the attachment),
// both decoding to the Chinese text typed, the quoted original as a
// <blockquote>; without attachments the alternative is the whole body.
func TestComposeAlternative(t *testing.T) {
	e := newEnv(t, withSubmit(t, 1<<20))
	bob, err := e.st.Account(context.Background(), bobUser)
	if err != nil {
		t.Fatal(err)
	}
	ts, c, csrf := signedIn(t, e)
	text := "收到，谢谢！详见 https://example.cn/发票?id=1\n\n2026-05-01, 张三:\n> 请查收发票。\n> 第二行"
	wantText := strings.ReplaceAll(text, "\n", "\r\n")
	for i, attach := range []bool{true, false} {
		parts := []formPart{{"csrf", csrf, ""}, {"to", bobUser, ""}, {"subject", "回复：发票", ""}, {"text", text, ""}, {"op", "send", ""}}
		if attach {
			parts = append(parts, formPart{"attach", "PDF bytes", "发票.pdf"})
		}
		if resp, body := postCompose(t, c, ts.URL, parts...); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("send: %d\n%s", resp.StatusCode, body)
		}
		raw := nthMessage(t, e, bob.ID, "INBOX", i)
		top := topType(t, raw)
		want := map[bool]string{true: "multipart/mixed", false: "multipart/alternative"}[attach]
		if top != want {
			t.Errorf("attachment %v: top type %s, want %s", attach, top, want)
		}
		got := map[string]string{}
		var encodings []string
		_, leaves := mailParts(t, raw)
		for _, p := range leaves {
			if p.ct == "text/plain" || p.ct == "text/html" {
				got[p.ct] = string(p.body)
				encodings = append(encodings, p.params["charset"])
			} else {
				got["file"] = string(p.body)
			}
		}
		if got["text/plain"] != wantText {
			t.Errorf("text/plain %q", got["text/plain"])
		}
		html := got["text/html"]
		for _, w := range []string{"<p>收到，谢谢！详见 <a href=\"https://example.cn/\">https://example.cn/</a>发票?id=1</p>", "<blockquote", "<p>请查收发票。<br>\r\n第二行</p>"} {
			if !strings.Contains(html, w) {
				t.Errorf("text/html lacks %q:\n%s", w, html)
			}
		}
		if fmt.Sprint(encodings) != "[utf-8 utf-8]" || (attach && got["file"] != "PDF bytes") {
			t.Errorf("charsets %v, attachment %q", encodings, got["file"])
		}
	}
}

// topType is the media type of a message's header.
func topType(t *testing.T, raw []byte) string {
	t.Helper()
	m, err := gomessage.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	ct, _, _ := m.Header.ContentType()
	return ct
}
