package web

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	imapserver "github.com/youju/youju/internal/imap/server"
	"github.com/youju/youju/internal/store"
)

// The admin console in headless Chromium (chromedp): an admin signs in
// through the form, creates an account in the console (its script calls
// the API with the session and CSRF header), and the new account signs
// in over IMAP on a real socket. With more accounts than a page, the
// console pages forward and back and its search box filters in the
// store. The console at 1280 and 390 px, in
// English and Chinese, has no element wider than the viewport.
func TestAdminConsoleBrowser(t *testing.T) {
	bin := chromiumPath(t)
	e := newAdminEnv(t)
	ts := httptest.NewServer(e.h) // plain HTTP from loopback is allowed
	defer ts.Close()
	imapAddr := startIMAP(t, e.env)

	for i := range 60 { // more than the console's page of 50
		if _, err := e.st.CreateAccount(context.Background(), store.Account{Address: fmt.Sprintf("page%02d@example.test", i)}); err != nil {
			t.Fatal(err)
		}
	}

	_, run := startBrowser(t, bin)

	run("sign-in page", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(ts.URL+"/lang/en"))
	run("fill the form", chromedp.SetValue(`input[name=username]`, testUser, chromedp.ByQuery),
		chromedp.SetValue(`input[name=password]`, testPassword, chromedp.ByQuery))
	run("submit", chromedp.Submit(`#signin form`, chromedp.ByQuery))
	run("signed in", chromedp.WaitVisible(`#address`, chromedp.ByQuery))
	run("console", chromedp.Navigate(ts.URL+"/admin/"), chromedp.WaitVisible(`#account-rows td`, chromedp.ByQuery))

	const newUser, newPW = "frank@example.test", "frank's long passphrase"
	run("create an account", chromedp.SetValue(`#new-account-address`, newUser, chromedp.ByQuery),
		chromedp.SetValue(`#new-account-password`, newPW, chromedp.ByQuery),
		chromedp.Click(`#new-account-create`, chromedp.ByQuery))
	var rows string
	run("the list shows it", chromedp.Poll(`document.getElementById('account-rows').textContent.includes('`+newUser+`')`, nil,
		chromedp.WithPollingTimeout(20*time.Second)), chromedp.Text(`#account-rows`, &rows, chromedp.ByQuery))
	if a, err := e.st.Account(context.Background(), newUser); err != nil || a.Admin || !a.AllowIMAP {
		t.Fatalf("the account in the store: %+v, %v", a, err)
	}
	if err := imapLogin(imapAddr, newUser, newPW); err != nil {
		t.Fatalf("IMAP login of the account made in the console: %v", err)
	}
	if err := imapLogin(imapAddr, newUser, "not the password"); err == nil {
		t.Fatal("IMAP accepted a wrong password")
	}
	rowsHave := func(yes, no string) chromedp.Action {
		return chromedp.Poll(`(function(r){return r.includes('`+yes+`') && !r.includes('`+no+`')})(document.getElementById('account-rows').textContent)`,
			nil, chromedp.WithPollingTimeout(20*time.Second))
	}
	run("next page", chromedp.Click(`#account-next`, chromedp.ByQuery), rowsHave("page59@", testUser))
	run("previous page", chromedp.Click(`#account-prev`, chromedp.ByQuery), rowsHave(testUser, "page59@"))
	run("search", chromedp.SendKeys(`#account-filter`, "PAGE07", chromedp.ByQuery), rowsHave("page07@", "page08@"))

	for _, lang := range []string{"en", "zh"} {
		run("language", chromedp.Navigate(ts.URL+"/lang/"+lang))
		for _, width := range []int64{1280, 390} {
			var over []string
			var shot []byte
			run(fmt.Sprintf("console %s %d", lang, width), chromedp.EmulateViewport(width, 844), chromedp.Navigate(ts.URL+"/admin/"),
				chromedp.WaitVisible(`#account-rows td`, chromedp.ByQuery), chromedp.WaitVisible(`#health-list dt`, chromedp.ByQuery),
				chromedp.Evaluate(overflowJS, &over), chromedp.FullScreenshot(&shot, 100))
			if len(over) > 0 {
				t.Errorf("console at %d px (%s): wider than the viewport: %v", width, lang, over)
			}
			if _, err := png.Decode(bytes.NewReader(shot)); err != nil {
				t.Errorf("console at %d px: screenshot: %v", width, err)
			}
			if dir := os.Getenv("YOUJU_SCREENSHOT_DIR"); dir != "" {
				os.WriteFile(filepath.Join(dir, fmt.Sprintf("admin-%d-%s.png", width, lang)), shot, 0o644)
			}
		}
	}
}

// startIMAP serves the env's store over IMAP on 127.0.0.1 (plaintext
// LOGIN allowed on loopback, as [auth] allow_plaintext_loopback).
func startIMAP(t *testing.T, e *env) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &imapserver.Server{Store: e.st, Auth: e.auth, Hostname: testHost, AllowPlaintextLoopback: true}
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return l.Addr().String()
}

// imapLogin signs in with LOGIN (RFC 9051 §6.2.3) over a socket.
func imapLogin(addr, user, pw string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	if greet, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(greet, "* OK") {
		return fmt.Errorf("greeting %q: %v", greet, err)
	}
	quote := func(s string) string { return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"` }
	fmt.Fprintf(c, "a1 LOGIN %s %s\r\n", quote(user), quote(pw))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "a1 ") {
			if strings.HasPrefix(line, "a1 OK") {
				fmt.Fprintf(c, "a2 LOGOUT\r\n")
				return nil
			}
			return fmt.Errorf("LOGIN: %s", strings.TrimSpace(line))
		}
	}
}
