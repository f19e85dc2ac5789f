package smtpd

import (
	"net"
	"strings"
	"testing"

	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/spam"
)

// TestSpamKnownSenderAndForgedField: mail from an address the recipient
// wrote to (and whose domain's SPF passes) scores lower than the same
// mail from a stranger; a forged X-Youju-Spam field that came with the
// message is removed, so only ours is stored.
func TestSpamKnownSenderAndForgedField(t *testing.T) {
	e := newEnv(t)
	f := &dnsresolver.Fake{
		IP:   map[string][]net.IPAddr{"client.example": {{IP: net.IPv4(127, 0, 0, 1)}}},
		Addr: map[string][]string{"127.0.0.1": {"client.example."}},
		TXT:  map[string][]string{"sender.example": {"v=spf1 ip4:127.0.0.1 -all"}},
	}
	send := &spam.SendLimits{}
	g, _, _ := send.Allow(int64(e.alice.ID), []string{"friend@sender.example"})
	send.Sent(g, []string{"friend@sender.example"})
	s := e.server(Inbound)
	s.DNS = f
	s.Spam = &spam.Checker{DNS: f, Send: send, Config: spam.Config{HELO: true, JunkScore: 0.5, RejectScore: 50}}
	addr := e.start(s, false)

	mail := func(from string) {
		r := dialRaw(t, addr)
		r.cmd("EHLO bare", "250") // not a domain name: HELO_BARE +1
		r.cmd("MAIL FROM:<"+from+">", "250")
		r.cmd("RCPT TO:<alice@example.com>", "250")
		r.cmd("DATA", "354")
		r.send("X-Youju-Spam: ham; score=-99.0\r\nFrom: <" + from + ">\r\nTo: <alice@example.com>\r\n" +
			"X-youju-spam: ham;\r\n\tscore=-99.0\r\nSubject: re: lunch\r\n\r\nsee you\r\n.\r\n")
		r.expect("250")
		r.cmd("QUIT", "221")
	}
	mail("stranger@sender.example")
	mail("friend@sender.example")
	junk, inbox := e.junk(e.alice), e.inbox(e.alice)
	if len(junk) != 1 || !strings.Contains(junk[0], "stranger@") {
		t.Fatalf("Junk: %d messages, want the stranger's", len(junk))
	}
	if len(inbox) != 1 || !strings.Contains(inbox[0], "friend@") {
		t.Fatalf("INBOX: %d messages, want the friend's", len(inbox))
	}
	for _, m := range append(junk, inbox...) {
		hdr, _, _ := strings.Cut(m, "\r\n\r\n")
		if n := strings.Count(strings.ToLower(hdr), "x-youju-spam:"); n != 1 || strings.Contains(hdr, "-99") {
			t.Errorf("%d X-Youju-Spam fields (want ours only):\n%s", n, hdr)
		}
	}
	if !strings.Contains(inbox[0], "KNOWN_SENDER") || strings.Contains(junk[0], "KNOWN_SENDER") {
		t.Errorf("KNOWN_SENDER reason wrong:\n%s\n---\n%s", inbox[0], junk[0])
	}
}
