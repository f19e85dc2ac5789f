package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/youju/youju/internal/maillog"
)

// idQueue records the maillog id the queue is handed with each message.
type idQueue struct{ ids []string }

func (q *idQueue) Enqueue(ctx context.Context, _ string, _ []string, _ []byte, _ DSN) error {
	q.ids = append(q.ids, maillog.IDFrom(ctx))
	return nil
}

// TestMailLogLocal: each local account that takes the message is a
// "delivered" line, each that cannot (while others took it) a "bounced"
// line with the reason, and the queue learns the id of the message.
func TestMailLogLocal(t *testing.T) {
	var buf bytes.Buffer
	maillog.SetLogger(slog.New(slog.NewJSONHandler(&buf, nil)))
	defer maillog.SetLogger(nil)
	ctx := context.Background()
	f := newFixture(t)
	d, _ := newDeliverer(t, f)
	q := &idQueue{}
	d.Queue = q
	full := f.bob
	full.QuotaBytes = 1000
	f.st.SetUsed(full.ID, 999)
	f.st.Put(full)

	env := envelope(t, d.Resolver, "eve@example.org", "alice@example.com", "bob@example.com", "ext@remote.net")
	if err := d.Deliver(ctx, env, []byte("Subject: s\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Join([]string{m["event"].(string), m["id"].(string), m["from"].(string), m["to"].(string),
			m["proto"].(string), m["code"].(string), m["text"].(string)}, " "))
	}
	want := []string{
		"delivered id1 eve@example.org alice@example.com local 250 INBOX",
		"bounced id1 eve@example.org bob@example.com local 552 5.2.2 Mailbox full",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("mail log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(q.ids) != 1 || q.ids[0] != "id1" {
		t.Errorf("queue got ids %q", q.ids)
	}

	// Refused as a whole (only bob, full): the SMTP side logs the
	// rejection; nothing was delivered or bounced.
	buf.Reset()
	if err := d.Deliver(ctx, envelope(t, d.Resolver, "x@remote.net", "bob@example.com"), []byte("x\r\n")); err == nil {
		t.Fatal("full mailbox accepted")
	}
	if buf.Len() != 0 {
		t.Errorf("logged for a refused message: %s", buf.String())
	}
}
