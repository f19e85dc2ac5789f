package smtpd

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/mailauth"
	"github.com/youju/youju/internal/store"
)

// TestInboundDMARC checks the MX port's use of SPF/DMARC: a sender domain
// whose SPF allows 127.0.0.1 passes and gets our Authentication-Results
// (a forged one claiming our name removed); a domain with p=reject whose
// SPF fails is refused with 550 5.7.1; with p=quarantine the message goes
// to Junk.
func TestInboundDMARC(t *testing.T) {
	e := newEnv(t)
	dns := &dnsresolver.Fake{TXT: map[string][]string{
		"good.test":         {"v=spf1 ip4:127.0.0.1 -all"},
		"_dmarc.good.test":  {"v=DMARC1; p=reject"},
		"evil.test":         {"v=spf1 ip4:192.0.2.1 -all"},
		"_dmarc.evil.test":  {"v=DMARC1; p=reject"},
		"shady.test":        {"v=spf1 ip4:192.0.2.1 -all"},
		"_dmarc.shady.test": {"v=DMARC1; p=quarantine"},
	}}
	s := e.server(Inbound)
	s.Auth = nil
	s.DNS, s.DMARCPolicy = dns, mailauth.PolicyEnforce
	addr := e.start(s, false)

	send := func(from string) string {
		r := dialRaw(t, addr)
		r.cmd("EHLO client.test", "250")
		r.cmd("MAIL FROM:<"+from+">", "250")
		r.cmd("RCPT TO:<alice@example.com>", "250")
		r.cmd("DATA", "354")
		r.send(fmt.Sprintf("From: <%s>\r\nAuthentication-Results: mx.example.com; dmarc=pass\r\nSubject: from %s\r\n\r\nhi\r\n.\r\n", from, from))
		return r.reply()
	}
	if got := send("someone@good.test"); !strings.HasPrefix(got, "250") {
		t.Fatalf("aligned SPF pass: %q", got)
	}
	if got := send("someone@evil.test"); !strings.HasPrefix(got, "550 5.7.1") {
		t.Fatalf("DMARC p=reject failure: %q, want 550 5.7.1", got)
	}
	if got := send("someone@shady.test"); !strings.HasPrefix(got, "250") {
		t.Fatalf("DMARC p=quarantine: %q", got)
	}
	inbox := e.inbox(e.alice)
	if len(inbox) != 1 || !strings.Contains(inbox[0], "Subject: from someone@good.test") {
		t.Fatalf("INBOX holds %d messages: %q", len(inbox), inbox)
	}
	msg := inbox[0]
	if strings.Count(msg, "Authentication-Results:") != 1 || !strings.Contains(msg, "spf=pass") || !strings.Contains(msg, "dmarc=pass") {
		t.Errorf("want exactly our Authentication-Results with spf=pass and dmarc=pass:\n%s", msg)
	}
	junk, err := e.st.Mailbox(context.Background(), e.alice.ID, "Junk")
	if err != nil || junk.SpecialUse != store.SpecialJunk {
		t.Fatalf("Junk mailbox: %+v %v", junk, err)
	}
	if j := e.messages(e.alice, junk.ID); len(j) != 1 || !strings.Contains(j[0], "Subject: from someone@shady.test") {
		t.Fatalf("Junk holds %q", j)
	}
}
