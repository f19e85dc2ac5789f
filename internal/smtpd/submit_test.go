package smtpd

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// Submit (the webmail's way in) applies the submission rules: the
// sender and the From: header must be the account's, relaying goes to
// the queue, local mail is delivered with Date and Message-ID completed.
func TestSubmitUsesTheSubmissionPath(t *testing.T) {
	e := newEnv(t)
	s := e.server(Submission)
	defer s.Shutdown(context.Background())
	ctx := context.Background()
	msg := func(from string) []byte {
		return []byte("From: " + from + "\r\nTo: bob@example.com, x@remote.example\r\nSubject: =?utf-8?B?5Y+R56Wo?=\r\n\r\nhi\r\n")
	}
	if err := s.Submit(ctx, e.alice, "alice@example.com", []string{"bob@example.com", "x@remote.example"}, msg("alice@example.com")); err != nil {
		t.Fatal(err)
	}
	got := e.inbox(e.bob)
	if len(got) != 1 || !strings.Contains(got[0], "Message-ID: <") || !strings.Contains(got[0], "with HTTP") {
		t.Errorf("bob's inbox: %q", got)
	}
	if n := len(e.queue.List()); n != 1 {
		t.Errorf("%d messages queued for the remote recipient, want 1", n)
	}
	for _, tc := range []struct{ from, header string }{
		{"bob@example.com", "alice@example.com"}, // envelope sender not hers
		{"alice@example.com", "bob@example.com"}, // From: not hers
	} {
		err := s.Submit(ctx, e.alice, tc.from, []string{"bob@example.com"}, msg(tc.header))
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 553 {
			t.Errorf("sending as %s / From: %s: %v, want 553", tc.from, tc.header, err)
		}
	}
	if err := s.Submit(ctx, e.alice, "alice@example.com", []string{"nobody@example.com"}, msg("alice@example.com")); err == nil {
		t.Error("unknown local recipient accepted")
	}
	if len(e.inbox(e.bob)) != 1 {
		t.Error("a refused submission was delivered")
	}
}
