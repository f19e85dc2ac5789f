package web

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	imapserver "github.com/youju/youju/internal/imap/server"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
)

// appendFails is the env's store whose AppendMessages fails, as a full
// disk would make it: the webmail's copy to Sent (the submission path
// delivers through the store beneath, so the mail still goes out).
type appendFails struct{ *sqlite.Store }

func (appendFails) AppendMessages(context.Context, store.AccountID, []store.Append) ([]store.AppendResult, error) {
	return nil, errors.New("no space left on device")
}

// syncBuffer is a log destination written by the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestSendShowsSentCopyFailure(t *testing.T) {
	var logs syncBuffer
	e := newEnv(t, func(o *Options) {
		withSubmit(t, 1<<20)(o)
		o.Store = appendFails{o.Store.(*sqlite.Store)}
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	bob, err := e.st.Account(context.Background(), bobUser)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	_, page := signIn(t, c, ts.URL, testUser, testPassword)
	csrf := csrfOf(t, page)
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
	ts2 := httptest.NewTLSServer(e2.h)
	defer ts2.Close()
	c2 := client(t, ts2)
	_, page = signIn(t, c2, ts2.URL, testUser, testPassword)
	resp, _ := postCompose(t, c2, ts2.URL, formPart{"csrf", csrfOf(t, page), ""}, formPart{"to", bobUser, ""}, formPart{"text", "hi", ""}, formPart{"op", "send", ""})
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
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	_, page := signIn(t, c, ts.URL, testUser, testPassword)
	csrf := csrfOf(t, page)
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
