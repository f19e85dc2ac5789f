package smtpd

import (
	"log/slog"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/youju/youju/internal/maillog"
	"github.com/youju/youju/internal/testutil"
)

// TestMailLogInbound: on port 25, a refused RCPT is a "rejected" line, and
// an accepted message a "delivered" line per local account followed by
// the "received" line of the 250, under one id.
func TestMailLogInbound(t *testing.T) {
	var buf testutil.SyncBuffer
	maillog.SetLogger(slog.New(slog.NewJSONHandler(&buf, nil)))
	defer maillog.SetLogger(nil)
	e := newEnv(t)
	addr := e.start(e.server(Inbound), false)
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Hello("client.test")
	if err := c.Mail("someone@remote.net", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("alice@example.com", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("nobody@example.com", nil); err == nil {
		t.Fatal("unknown user accepted")
	}
	if err := send(t, c, msg("someone@remote.net", "alice@example.com", "one")); err != nil {
		t.Fatal(err)
	}
	c.Quit()

	evs := buf.JSONLines(t)
	if len(evs) != 3 {
		t.Fatalf("%d lines: %v", len(evs), evs)
	}
	rej, del, rcv := evs[0], evs[1], evs[2]
	for k, v := range map[string]any{"event": "rejected", "cmd": "RCPT", "to": "nobody@example.com", "from": "someone@remote.net",
		"code": "550 5.1.1", "text": "No such user here", "proto": "smtp", "remote": "127.0.0.1", "id": ""} {
		if rej[k] != v {
			t.Errorf("rejected: %s=%v, want %v (%v)", k, rej[k], v, rej)
		}
	}
	id, _ := rcv["id"].(string)
	if id == "" {
		t.Fatalf("received without id: %v", rcv)
	}
	for k, v := range map[string]any{"event": "received", "to": "alice@example.com", "from": "someone@remote.net",
		"code": "250", "proto": "smtp", "remote": "127.0.0.1", "user": "", "with": "ESMTP"} {
		if rcv[k] != v {
			t.Errorf("received: %s=%v, want %v (%v)", k, rcv[k], v, rcv)
		}
	}
	if size, _ := rcv["size"].(float64); size < 50 {
		t.Errorf("received size %v", rcv["size"])
	}
	for k, v := range map[string]any{"event": "delivered", "id": id, "to": "alice@example.com", "proto": "local", "code": "250", "text": "INBOX"} {
		if del[k] != v {
			t.Errorf("delivered: %s=%v, want %v (%v)", k, del[k], v, del)
		}
	}
}
