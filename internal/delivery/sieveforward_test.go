package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/maillog"
	"github.com/youju/youju/internal/sieve"
	"github.com/youju/youju/internal/smtpd"
)

// prefixSRS stands for internal/srs: it marks the sender it rewrites.
type prefixSRS struct{}

func (prefixSRS) Forward(s string) string {
	return "SRS0=x=" + strings.ReplaceAll(s, "@", "=") + "@example.com"
}
func (prefixSRS) Reverse(string) (string, error) {
	return "", nil
}

// TestSieveRedirectSRS: a Sieve redirect to another domain goes through
// the outbound queue with an SRS envelope sender (SPF at the destination
// checks our address); a sender of ours is not rewritten.
func TestSieveRedirectSRS(t *testing.T) {
	e := newSieveEnv(t, func(d *delivery.Deliverer, _ *smtpd.Server) { d.Resolver.SRS = prefixSRS{} })
	e.install(e.alice, `redirect "dave@remote.net";`)
	if err := e.send("carol@remote.net", []string{"alice@example.com"}, plainMsg); err != nil {
		t.Fatal(err)
	}
	if err := e.send("bob@example.com", []string{"alice@example.com"}, plainMsg); err != nil {
		t.Fatal(err)
	}
	q := e.queue.List()
	if len(q) != 2 || q[0].Rcpts[0] != "dave@remote.net" || q[0].From != "SRS0=x=carol=remote.net@example.com" {
		t.Fatalf("queued %+v", q)
	}
	if q[1].From != "bob@example.com" {
		t.Fatalf("a local sender was rewritten: %q", q[1].From)
	}
}

// TestSieveMaillogFolder: the maillog names the folder a script filed
// the message into, not INBOX.
func TestSieveMaillogFolder(t *testing.T) {
	var buf syncBuf
	maillog.SetLogger(slog.New(slog.NewJSONHandler(&buf, nil)))
	defer maillog.SetLogger(nil)
	e := newSieveEnv(t)
	e.install(e.alice, `require ["fileinto", "mailbox"]; fileinto :create "财务/发票";`)
	e.install(e.bob, `discard;`)
	if err := e.send("carol@remote.net", []string{"alice@example.com", "bob@example.com"}, plainMsg); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		if m["event"] == "delivered" {
			got[m["to"].(string)] = m["text"].(string)
		}
	}
	if got["alice@example.com"] != "财务/发票" || got["bob@example.com"] != "(discarded)" {
		t.Fatalf("maillog folders: %v", got)
	}
}

// TestSieveVacationNoBackscatter: no vacation reply goes to a sender
// that failed SPF (likely forged: the reply would hit an innocent
// address); one that passes gets its reply.
func TestSieveVacationNoBackscatter(t *testing.T) {
	dns := &dnsresolver.Fake{TXT: map[string][]string{
		"forged.example": {"v=spf1 -all"},
		"remote.net":     {"v=spf1 ip4:127.0.0.1 -all"},
	}, IP: map[string][]net.IPAddr{}}
	e := newSieveEnv(t, func(_ *delivery.Deliverer, s *smtpd.Server) { s.DNS = dns })
	e.install(e.alice, `require "vacation"; vacation :days 7 "away";`)
	if err := e.send("victim@forged.example", []string{"alice@example.com"}, strings.ReplaceAll(plainMsg, "carol@remote.net", "victim@forged.example")); err != nil {
		t.Fatal(err)
	}
	if q := e.queue.List(); len(q) != 0 {
		t.Fatalf("a vacation reply went to a sender failing SPF: %+v", q[0].Rcpts)
	}
	if err := e.send("carol@remote.net", []string{"alice@example.com"}, plainMsg); err != nil {
		t.Fatal(err)
	}
	if q := e.queue.List(); len(q) != 1 || q[0].Rcpts[0] != "carol@remote.net" {
		t.Fatalf("want one reply to carol, queued %+v", q)
	}
	if inbox, _ := e.mailbox(e.alice, "INBOX"); len(inbox) != 2 {
		t.Fatalf("INBOX %d, want both messages", len(inbox))
	}
}

// TestForwardNotice: a new forwarding destination set up through the
// user's tools (the guard) is announced in the account's INBOX, in both
// languages, and a script past the limit is refused.
func TestForwardNotice(t *testing.T) {
	e := newSieveEnv(t)
	d := delivery.New(e.st, nil, "mx.example.com", slog.New(slog.DiscardHandler))
	g := guard(e, d, 2)
	ctx := context.Background()
	if err := g.Put(ctx, e.alice.ID, "main", `redirect "dave@remote.net";`); err != nil {
		t.Fatal(err)
	}
	if err := g.SetActive(ctx, e.alice.ID, "main"); err != nil {
		t.Fatal(err)
	}
	inbox, _ := e.mailbox(e.alice, "INBOX")
	if len(inbox) != 1 || !strings.Contains(inbox[0], "dave@remote.net") || !strings.Contains(inbox[0], "自动转发") ||
		!strings.Contains(inbox[0], "Your mailbox now forwards") || !strings.Contains(inbox[0], "Auto-Submitted: auto-generated") {
		t.Fatalf("notice: %q", inbox)
	}
	// The same destination again: no new notice.
	if err := g.Put(ctx, e.alice.ID, "main", `redirect :copy "DAVE@remote.net";`); err != nil {
		t.Fatal(err)
	}
	// Past the limit (2): refused, the active script unchanged.
	err := g.Put(ctx, e.alice.ID, "main", `redirect "a@x.example"; redirect "b@x.example"; redirect "dave@remote.net";`)
	if err == nil || !strings.Contains(err.Error(), "too many forwarding") {
		t.Fatalf("3 destinations: %v", err)
	}
	if src, _ := e.scripts.Get(ctx, e.alice.ID, "main"); !strings.Contains(src, ":copy") {
		t.Fatalf("active script changed: %q", src)
	}
	if inbox, _ := e.mailbox(e.alice, "INBOX"); len(inbox) != 1 {
		t.Fatalf("%d notices, want 1", len(inbox))
	}
}

type syncBuf struct{ bytes.Buffer }

func guard(e *sieveEnv, d *delivery.Deliverer, max int) *sieve.ForwardGuard {
	return &sieve.ForwardGuard{Scripts: e.scripts, Max: max, Added: d.ForwardAdded}
}

// TestSieveRedirectVariablesLimited: a redirect built from variables
// (RFC 5229) is checked as expanded, against the account's limit of
// forwarding destinations: each new address takes a place (and is
// announced), past the limit the message is kept, not sent, and the
// owner is told once per address.
func TestSieveRedirectVariablesLimited(t *testing.T) {
	e := newSieveEnv(t, func(d *delivery.Deliverer, _ *smtpd.Server) { d.Sieve.MaxForwards = 2 })
	// One literal destination: one place is left for the variable one.
	e.install(e.alice, `require "variables";
if header :matches "subject" "fwd *" { set "addr" "${1}"; redirect "${addr}"; stop; }
redirect "fixed@remote.net";`)
	msg := func(to string) string {
		return "From: Carol <carol@remote.net>\nTo: alice@example.com\nSubject: fwd " + to + "\n\nhello\n"
	}
	for _, to := range []string{"x1@remote.net", "x1@remote.net", "x2@remote.net", "x2@remote.net", "fixed@remote.net"} {
		if err := e.send("carol@remote.net", []string{"alice@example.com"}, msg(to)); err != nil {
			t.Fatal(err)
		}
	}
	var sent []string
	for _, q := range e.queue.List() {
		sent = append(sent, q.Rcpts...)
	}
	if got := strings.Join(sent, " "); got != "x1@remote.net x1@remote.net fixed@remote.net" {
		t.Fatalf("forwarded to %q, want x1 twice and fixed (x2 is past the limit)", got)
	}
	inbox, _ := e.mailbox(e.alice, "INBOX")
	kept, added, refused := 0, 0, 0
	for _, m := range inbox {
		switch {
		case strings.Contains(m, "forward not sent") && strings.Contains(m, "x2@remote.net"):
			refused++
		case strings.Contains(m, "Auto-Submitted") && strings.Contains(m, "x1@remote.net"):
			added++
		case strings.Contains(m, "Subject: fwd x2@remote.net"):
			kept++
		}
	}
	if kept != 2 || added != 1 || refused != 1 || len(inbox) != 4 {
		t.Fatalf("INBOX: %d kept, %d added notices, %d refused notices of %d messages; want 2, 1, 1 of 4", kept, added, refused, len(inbox))
	}
}
