package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/youju/youju/internal/store"
)

// TestLiveState: the reading view's and compose page's live updates get
// the folder tree with its unread counts and learn when the message read
// left its folder; every webmail page carries the events URL.
func TestLiveState(t *testing.T) {
	e := newEnv(t, nil)
	inbox, uids := appendMail(t, e, "INBOX", plainMail(1), plainMail(2))
	ts, c, _ := signedIn(t, e)
	_, page := get(t, c, fmt.Sprintf("%s/mail/%d/%d", ts.URL, inbox.ID, uids[0]))
	if !strings.Contains(page, `data-live="/mail/events?box=`) || !strings.Contains(page, fmt.Sprintf(`data-uid="%d"`, uids[0])) {
		t.Errorf("the reading view does not follow the changes:\n%s", page)
	}
	state := func() (string, bool) {
		t.Helper()
		resp, body := get(t, c, fmt.Sprintf("%s/mail/live?box=%d&uid=%d", ts.URL, inbox.ID, uids[0]))
		var st struct {
			Folders string
			Gone    bool
		}
		if err := json.Unmarshal([]byte(body), &st); err != nil || resp.StatusCode != 200 {
			t.Fatalf("/mail/live: %d %v\n%s", resp.StatusCode, err, body)
		}
		return st.Folders, st.Gone
	}
	folders, gone := state()
	if gone || !strings.Contains(folders, `<span class="unseen" title="unread">1</span>`) {
		t.Errorf("before: gone %v, folders %s", gone, folders)
	}
	appendMail(t, e, "INBOX", plainMail(3))
	archive, err := e.st.Mailbox(context.Background(), e.acct.ID, "Archive")
	if err != nil {
		archive, err = e.st.CreateMailbox(context.Background(), e.acct.ID, "Archive", "")
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.st.Move(context.Background(), e.acct.ID, inbox.ID, store.UIDSet{{Lo: uids[0], Hi: uids[0]}}, archive.ID); err != nil {
		t.Fatal(err)
	}
	folders, gone = state()
	if !gone || !strings.Contains(folders, `<span class="unseen" title="unread">2</span>`) {
		t.Errorf("after a new mail and a move elsewhere: gone %v, folders %s", gone, folders)
	}
	if _, body := get(t, c, ts.URL+"/mail/live?box=999&uid=1"); !strings.Contains(body, `"gone":true`) {
		t.Errorf("a message of a folder that is not there: %s", body)
	}
	if _, compose := get(t, c, ts.URL+"/mail/"+fmt.Sprint(archive.ID)); !strings.Contains(compose, `data-live=`) {
		t.Error("the list page does not follow the changes")
	}
}

// TestBrowserLiveReadingView: in Chromium, the reading view's folder
// counts follow new mail, and moving its message elsewhere (here through
// the store, as another client would) shows the notice and hides the
// actions, without reload.
func TestBrowserLiveReadingView(t *testing.T) {
	bin := chromiumPath(t)
	e := newEnv(t, nil)
	inbox, uids := appendMail(t, e, "INBOX", plainMail(1), plainMail(2))
	ts := httptest.NewServer(e.h) // 127.0.0.1: plain HTTP is allowed from loopback
	// Closed after the browser (cleanups run last first): the page's
	// event stream keeps a request open until the browser goes.
	t.Cleanup(ts.Close)
	_, run := startBrowser(t, bin)
	browserSignIn(run, ts.URL)
	var unseen string
	run("read", chromedp.Navigate(fmt.Sprintf("%s/mail/%d/%d", ts.URL, inbox.ID, uids[0])), chromedp.WaitVisible(`#body`, chromedp.ByQuery),
		chromedp.Evaluate(`window.noReload = true`, nil), chromedp.Sleep(500*time.Millisecond))
	appendMail(t, e, "INBOX", plainMail(3), plainMail(4))
	run("counts", chromedp.Poll(`document.querySelector('nav.folders li .unseen') && document.querySelector('nav.folders li .unseen').innerText === '3'`,
		nil, chromedp.WithPollingTimeout(20*time.Second)), chromedp.Text(`nav.folders .unseen`, &unseen, chromedp.ByQuery))
	trash, err := e.st.CreateMailbox(context.Background(), e.acct.ID, "Elsewhere", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Move(context.Background(), e.acct.ID, inbox.ID, store.UIDSet{{Lo: uids[0], Hi: uids[0]}}, trash.ID); err != nil {
		t.Fatal(err)
	}
	var marker, actionsHidden bool
	run("gone", chromedp.WaitVisible(`#msg-gone`, chromedp.ByQuery),
		chromedp.Evaluate(`window.noReload === true`, &marker),
		chromedp.Evaluate(`document.getElementById('actions').offsetParent === null`, &actionsHidden))
	if !marker {
		t.Error("the page reloaded")
	}
	if !actionsHidden {
		t.Error("the actions on the moved message are still shown")
	}
}

// Shutdown of the HTTP server ends the live event streams (CloseStreams
// through RegisterOnShutdown, as serve wires it) instead of waiting for
// its grace period while browsers keep them open.
func TestShutdownEndsLiveStreams(t *testing.T) {
	e := newEnv(t, nil)
	ts := httptest.NewUnstartedServer(e.h)
	cs, ok := e.h.(interface{ CloseStreams() })
	if !ok {
		t.Fatalf("%T has no CloseStreams", e.h)
	}
	ts.Config.RegisterOnShutdown(cs.CloseStreams)
	ts.StartTLS()
	defer ts.Close()
	c := client(t, ts)
	signIn(t, c, ts.URL, testUser, testPassword)
	resp, err := c.Get(ts.URL + "/mail/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 4096)
	if n, _ := resp.Body.Read(buf); !strings.Contains(string(buf[:n]), "retry:") {
		t.Fatalf("stream start %q", buf[:n])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.Config.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a live stream open: %v", err)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Errorf("stream after Shutdown: %v", err)
	}
}
