package spam

import (
	"bytes"
	"testing"

	"github.com/youju/youju/internal/mailauth"
)

func TestStripHeader(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"From: a\r\nX-Youju-Spam: ham; score=-9\r\nSubject: s\r\n\r\nX-Youju-Spam: body\r\n",
			"From: a\r\nSubject: s\r\n\r\nX-Youju-Spam: body\r\n"},
		// Folded, upper case, first field, obsolete space before colon, twice.
		{"X-YOUJU-SPAM : ham;\r\n\tscore=-9\r\nTo: b\r\nx-youju-spam: ham\r\n  more\r\n\r\nbody",
			"To: b\r\n\r\nbody"},
		// Look-alikes stay.
		{"X-Youju-Spammy: 1\r\nX-Youju-Spam-Old: 2\r\n\r\n", "X-Youju-Spammy: 1\r\nX-Youju-Spam-Old: 2\r\n\r\n"},
		// LF only, no body.
		{"X-Youju-Spam: ham\nFrom: a\n", "From: a\n"},
		{"", ""},
	} {
		if got := string(StripHeader([]byte(c.in))); got != c.want {
			t.Errorf("StripHeader(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	in := []byte("From: a\r\n\r\nX-Youju-Spam: in the body\r\n")
	if out := StripHeader(in); &out[0] != &in[0] {
		t.Error("a message without the field was copied")
	}
}

func FuzzStripHeader(f *testing.F) {
	for _, s := range []string{"X-Youju-Spam: a\r\n b\r\nFrom: x\r\n\r\nbody", "a: b\n\nX-Youju-Spam: c", "x-youju-spam\t:\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		out := StripHeader(msg)
		end, oend := headerEnd(msg), headerEnd(out)
		if !bytes.Equal(msg[end:], out[oend:]) {
			t.Fatalf("body changed: %q -> %q", msg, out)
		}
		if hasField(out[:oend]) {
			t.Fatalf("field left: %q -> %q", msg, out)
		}
		if !hasField(msg[:end]) && !bytes.Equal(msg, out) {
			t.Fatalf("changed without the field: %q -> %q", msg, out)
		}
		if len(out) > len(msg) {
			t.Fatal("grew")
		}
	})
}

func TestKnownScore(t *testing.T) {
	l := &SendLimits{}
	send(t, l, 3, "friend@remote.example")
	c := &Checker{Send: l}
	pass := mailauth.Result{SPF: mailauth.SPFResult{Result: "pass", Domain: "remote.example"}}
	if s := c.KnownScore(3, "Friend@remote.example", pass); s.Total != ScoreKnownSender {
		t.Fatalf("known, authenticated: %+v", s)
	}
	if s := c.KnownScore(3, "friend@remote.example", mailauth.Result{}); s.Total != 0 {
		t.Fatalf("known but not authenticated (forgeable): %+v", s)
	}
	if s := c.KnownScore(4, "friend@remote.example", pass); s.Total != 0 {
		t.Fatalf("another account's correspondent: %+v", s)
	}
	if s := c.KnownScore(3, "stranger@remote.example", pass); s.Total != 0 {
		t.Fatalf("stranger: %+v", s)
	}

}
