package web

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/store"
)

// End to end in headless Chromium driven over the DevTools protocol
// (chromedp): sign in through the form, open the webmail, read a GBK
// HTML mail whose tracking image must make no request until "Show
// images", change the password, and at 1280 and 390 px, in English and
// Chinese, no element of the settings and mail pages is wider than the
// viewport.

// overflowJS lists the elements whose right edge passes the viewport
// (DevTools evaluation is not subject to the page's CSP).
const overflowJS = `(() => {
  const w = document.documentElement.clientWidth, out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > w + 1) out.push(el.tagName + (el.id ? '#' + el.id : '') + (el.className ? '.' + el.className : '') + ' ' + Math.round(r.right) + '>' + w);
  }
  if (document.documentElement.scrollWidth > w + 1) out.push('document ' + document.documentElement.scrollWidth + '>' + w);
  return out;
})()`

func TestBrowserEndToEnd(t *testing.T) {
	bin := chromiumPath(t)
	e := newEnv(t, nil)
	var trackerHits atomic.Int32
	tracker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		trackerHits.Add(1)
		w.Header().Set("Content-Type", "image/gif")
	}))
	defer tracker.Close()
	mail := strings.Replace(chineseHTMLMail(t), "https://tracker.example/pixel.gif?u=alice", tracker.URL+"/pixel.gif?u=alice", 1)
	inbox, uids := appendMail(t, e, "INBOX", mail, plainMail(1))
	ts := httptest.NewServer(e.h) // 127.0.0.1: plain HTTP is allowed from loopback
	// Closed after the browser (cleanups run last first): the webmail
	// pages' event streams keep requests open until the browser goes.
	t.Cleanup(ts.Close)
	_, run := startBrowser(t, bin)

	// Sign in through the form.
	run("sign-in page", chromedp.Navigate(ts.URL+"/lang/en"))
	run("fill the form", chromedp.SetValue(`input[name=username]`, testUser, chromedp.ByQuery),
		chromedp.SetValue(`input[name=password]`, testPassword, chromedp.ByQuery))
	run("submit", chromedp.Submit(`#signin form`, chromedp.ByQuery))
	run("settings after sign-in", chromedp.WaitVisible(`#address`, chromedp.ByQuery))

	// The webmail: list, then the Chinese HTML mail.
	var subject string
	run("open the inbox", chromedp.Navigate(ts.URL+"/mail/"), chromedp.WaitVisible(`#messages`, chromedp.ByQuery),
		chromedp.Text(`#messages li:last-child .subject`, &subject, chromedp.ByQuery))
	if subject != "发票通知" {
		t.Errorf("oldest message's subject %q", subject)
	}
	read := fmt.Sprintf("%s/mail/%d/%d", ts.URL, inbox.ID, uids[0])
	var frameText string
	run("read the HTML mail", chromedp.Navigate(read), chromedp.WaitVisible(`#body`, chromedp.ByQuery), chromedp.Sleep(time.Second),
		chromedp.Text(`#subject`, &subject, chromedp.ByQuery))
	if subject != "发票通知" {
		t.Errorf("read page subject %q", subject)
	}
	// The frame's document (same origin for DevTools; sandboxed for the page).
	run("frame text", chromedp.Evaluate(`document.getElementById('body').contentDocument ? document.getElementById('body').contentDocument.body.innerText : ''`, &frameText))
	if n := trackerHits.Load(); n != 0 {
		t.Errorf("the tracking image was fetched %d times while images are blocked", n)
	}
	run("allow images", chromedp.Click(`#images-blocked a`, chromedp.ByQuery), chromedp.WaitVisible(`#body`, chromedp.ByQuery), chromedp.Sleep(2*time.Second))
	if n := trackerHits.Load(); n == 0 {
		t.Error("Show images did not load the remote image")
	}

	// Pages at 1280 and 390 px, English and Chinese: nothing overflows.
	pages := []string{"/settings", fmt.Sprintf("/mail/%d", inbox.ID), strings.TrimPrefix(read, ts.URL)}
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
					name := fmt.Sprintf("%s-%d-%s.png", strings.ReplaceAll(strings.Trim(p, "/"), "/", "_"), width, lang)
					os.WriteFile(filepath.Join(dir, name), shot, 0o644)
				}
			}
		}
	}

	// Change the password in the browser, then sign in with the new one.
	const newPW = "violet tram under snow"
	run("change password", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(ts.URL+"/lang/en"), chromedp.Navigate(ts.URL+"/settings"),
		chromedp.SetValue(`input[name=old]`, testPassword, chromedp.ByQuery), chromedp.SetValue(`input[name=new]`, newPW, chromedp.ByQuery),
		chromedp.SetValue(`input[name=again]`, newPW, chromedp.ByQuery), chromedp.Click(`form.password button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`p.notice`, chromedp.ByQuery))
	if _, err := e.auth.Login(context.Background(), authRequest(newPW)); err != nil {
		t.Errorf("sign-in with the password changed in the browser: %v", err)
	}
}

func authRequest(pw string) auth.Request {
	return auth.Request{Username: testUser, Password: pw, Service: store.ServiceIMAP}
}
