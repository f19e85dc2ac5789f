package clientconf

import (
	"testing"

	"github.com/youju/youju/internal/config"
)

func TestSettingsFollowConfig(t *testing.T) {
	c := config.Default("example.test")
	c.PortOffset = 10000
	c.Listeners.POP3 = "off"
	got := Settings(c, "mail.example.test")
	want := []Entry{
		{"IMAP", "incoming", "mail.example.test", 10993, TLS},
		{"IMAP", "incoming", "mail.example.test", 10143, StartTLS},
		{"POP3", "incoming", "mail.example.test", 10995, TLS},
		{"SMTP", "outgoing", "mail.example.test", 10465, TLS},
		{"SMTP", "outgoing", "mail.example.test", 10587, StartTLS},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
