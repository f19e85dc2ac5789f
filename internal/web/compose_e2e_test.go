package web

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/smtp"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/youju/youju/internal/delivery"
	imapserver "github.com/youju/youju/internal/imap/server"
	"github.com/youju/youju/internal/smtpd"
	"github.com/youju/youju/internal/store"
)

// The compose side of the webmail in headless Chromium: reply with an
// attachment to a Chinese HTML mail, see the reply in Sent through a real
// IMAP client and in the recipient's mailbox with the attachment intact;
// a mail delivered over SMTP appears in the open list without reload;
// search in Chinese; a draft saved and reopened; the shortcuts; and the
// compose, list and read pages at 1280 and 390 px in English and Chinese
// with nothing wider than the viewport.

// serveLoopback starts srv on 127.0.0.1:0 and returns its address.
func serveLoopback(t *testing.T, serve func(net.Listener) error, shutdown func(context.Context) error) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shutdown(ctx)
	})
	return l.Addr().String()
}

func TestBrowserComposeEndToEnd(t *testing.T) {
	bin := chromiumPath(t)
	e := newEnv(t, withSubmit(t, 1<<20))
	ctx := context.Background()
	bob, err := e.st.Account(ctx, bobUser)
	if err != nil {
		t.Fatal(err)
	}
	discard := slog.New(slog.DiscardHandler)
	mx := &smtpd.Server{Mode: smtpd.Inbound, Deliverer: delivery.New(e.st, nil, testHost, discard), Hostname: testHost, Logger: discard}
	mxAddr := serveLoopback(t, mx.Serve, mx.Shutdown)
	imapSrv := &imapserver.Server{Store: e.st, Auth: e.auth, Hostname: testHost, AllowPlaintextLoopback: true, Logger: discard}
	imapAddr := serveLoopback(t, imapSrv.Serve, imapSrv.Shutdown)

	// The Chinese HTML mail, from bob (local: no outbound queue here).
	orig := strings.Replace(chineseHTMLMail(t), "zhang@remote.test", bobUser, 1)
	orig = strings.Replace(orig, "Subject:", "Message-ID: <fapiao-1@example.test>\r\nSubject:", 1)
	inbox, uids := appendMail(t, e, "INBOX", orig, plainMail(1))
	ts := httptest.NewServer(e.h) // 127.0.0.1: plain HTTP is allowed from loopback
	// Closed after the browser (cleanups run last first): every webmail
	// page's event stream keeps a request open until the browser goes.
	t.Cleanup(ts.Close)

	_, run := startBrowser(t, bin)
	browserSignIn(run, ts.URL)

	// Read the Chinese HTML mail, reply with an attachment.
	read := fmt.Sprintf("%s/mail/%d/%d", ts.URL, inbox.ID, uids[0])
	file := filepath.Join(t.TempDir(), "回执.bin")
	payload := append([]byte("receipt \x00\x01\x02 "), bytes.Repeat([]byte{0xfe, 0x00, 'x'}, 20000)...)
	if err := os.WriteFile(file, payload, 0o600); err != nil {
		t.Fatal(err)
	}
	var subject, to string
	run("reply", chromedp.Navigate(read), chromedp.WaitVisible(`#body`, chromedp.ByQuery),
		chromedp.Click(`#reply`, chromedp.ByQuery), chromedp.WaitVisible(`#compose-form`, chromedp.ByQuery),
		chromedp.Value(`#subject-input`, &subject, chromedp.ByQuery), chromedp.Value(`#to`, &to, chromedp.ByQuery))
	if subject != "Re: 发票通知" || to != "张三 <"+bobUser+">" {
		t.Errorf("reply form: subject %q to %q", subject, to)
	}
	run("attach and send", chromedp.SetValue(`#text`, "收到发票，谢谢。", chromedp.ByQuery),
		chromedp.SetUploadFiles(`#attach`, []string{file}, chromedp.ByQuery),
		chromedp.Click(`#send`, chromedp.ByQuery), chromedp.WaitVisible(`#messages`, chromedp.ByQuery))

	// In Sent, through IMAP.
	ic, err := imapclient.DialInsecure(imapAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login(testUser, testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.Select("Sent", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := ic.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("IMAP fetch of Sent: %v %d", err, len(msgs))
	}
	if !slices.Contains(msgs[0].Flags, imap.FlagSeen) {
		t.Errorf("Sent copy flags %v", msgs[0].Flags)
	}
	for what, raw := range map[string][]byte{"Sent over IMAP": msgs[0].FindBodySection(section), "bob's copy": mustOnly(t, e, bob.ID)} {
		h, text, files := readMail(t, raw)
		s, _ := h.Subject()
		irt, _ := h.MsgIDList("In-Reply-To")
		if s != "Re: 发票通知" || fmt.Sprint(irt) != "[fapiao-1@example.test]" || !strings.HasPrefix(text, "收到发票，谢谢。") || !bytes.Equal(files["回执.bin"], payload) {
			t.Errorf("%s: subject %q in-reply-to %v text %q, attachment intact %v", what, s, irt, text, bytes.Equal(files["回执.bin"], payload))
		}
	}

	// A new mail over SMTP appears in the open list without reload.
	var marker bool
	run("open the inbox", chromedp.Navigate(fmt.Sprintf("%s/mail/%d", ts.URL, inbox.ID)), chromedp.WaitVisible(`#messages`, chromedp.ByQuery),
		chromedp.Evaluate(`window.noReload = true`, nil), chromedp.Sleep(500*time.Millisecond))
	live := "From: carol@remote.test\r\nTo: alice@example.test\r\nSubject: =?UTF-8?B?" + b64([]byte("实时新邮件")) + "?=\r\n\r\nhello\r\n"
	if err := smtp.SendMail(mxAddr, nil, "carol@remote.test", []string{testUser}, []byte(live)); err != nil {
		t.Fatal(err)
	}
	run("live row", chromedp.Poll(`document.querySelector('#messages').innerText.includes('实时新邮件')`, nil, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Evaluate(`window.noReload === true`, &marker))
	if !marker {
		t.Error("the page reloaded to show the new mail")
	}

	// Search in Chinese.
	var rows []string
	run("search 发票", chromedp.SetValue(`#q`, "发票", chromedp.ByQuery), chromedp.Submit(`#q`, chromedp.ByQuery),
		chromedp.WaitVisible(`#messages`, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll('#messages .subject')].map(e => e.innerText)`, &rows))
	if len(rows) != 1 || rows[0] != "发票通知" {
		t.Errorf("search 发票: %q", rows)
	}

	// Shortcuts: ? shows the help, c opens compose.
	var open bool
	run("shortcut help", chromedp.Navigate(fmt.Sprintf("%s/mail/%d", ts.URL, inbox.ID)), chromedp.WaitVisible(`#messages`, chromedp.ByQuery),
		chromedp.KeyEvent("?"), chromedp.Evaluate(`document.getElementById('shortcuts').open`, &open))
	if !open {
		t.Error("? did not open the shortcut help")
	}
	run("shortcut compose", chromedp.KeyEvent("\x1b"), chromedp.KeyEvent("c"), chromedp.WaitVisible(`#compose-form`, chromedp.ByQuery))

	// A draft: saved, reopened.
	var draftRef, reopened string
	run("save a draft", chromedp.SetValue(`#to`, bobUser, chromedp.ByQuery), chromedp.SetValue(`#subject-input`, "草稿：周报", chromedp.ByQuery),
		chromedp.SetValue(`#text`, "还没写完", chromedp.ByQuery), chromedp.Click(`#save-draft`, chromedp.ByQuery),
		chromedp.WaitVisible(`#compose-notice`, chromedp.ByQuery), chromedp.Value(`#draft-ref`, &draftRef, chromedp.ByQuery))
	run("reopen the draft", chromedp.Navigate(ts.URL+"/mail/compose?draft="+draftRef), chromedp.WaitVisible(`#compose-form`, chromedp.ByQuery),
		chromedp.Value(`#subject-input`, &reopened, chromedp.ByQuery))
	if draftRef == "" || reopened != "草稿：周报" {
		t.Errorf("draft %q reopened with subject %q", draftRef, reopened)
	}

	// Layout: compose, list and read pages at 1280 and 390 px, en and zh.
	pages := []string{"/mail/compose", "/mail/compose?mode=reply&ref=" + refString(inbox.ID, uids[0]), fmt.Sprintf("/mail/%d", inbox.ID), strings.TrimPrefix(read, ts.URL)}
	for _, lang := range []string{"en", "zh"} {
		run("language", chromedp.Navigate(ts.URL+"/lang/"+lang))
		for _, width := range []int64{1280, 390} {
			for _, p := range pages {
				var over []string
				var shot []byte
				run("render "+p, chromedp.EmulateViewport(width, 844), chromedp.Navigate(ts.URL+p), chromedp.WaitVisible(`main`, chromedp.ByQuery),
					chromedp.Evaluate(overflowJS, &over), chromedp.FullScreenshot(&shot, 100))
				if len(over) > 0 {
					t.Errorf("%s at %d px (%s): wider than the viewport: %v", p, width, lang, over)
				}
				if _, err := png.Decode(bytes.NewReader(shot)); err != nil {
					t.Errorf("%s at %d px: screenshot: %v", p, width, err)
				}
				if dir := os.Getenv("YOUJU_SCREENSHOT_DIR"); dir != "" {
					name := strings.NewReplacer("/", "_", "?", "_", "&", "_", "=", "_").Replace(strings.Trim(p, "/"))
					os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d-%s.png", name, width, lang)), shot, 0o644)
				}
			}
		}
	}
}

func mustOnly(t *testing.T, e *env, acct store.AccountID) []byte {
	raw, _ := onlyMessage(t, e, acct, "INBOX")
	return raw
}
