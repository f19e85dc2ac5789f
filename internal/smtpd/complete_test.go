package smtpd

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/message"
)

func TestCompleteHeader(t *testing.T) {
	now := time.Date(2026, 11, 25, 21, 0, 0, 0, time.FixedZone("CST", 8*3600))
	tests := []struct {
		name, in         string
		wantDate, wantID bool // added
	}{
		{"both missing", "From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n", true, true},
		{"both present", "Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@x>\r\n\r\nb\r\n", false, false},
		{"case and obsolete space", "DATE : Tue, 24 Nov 2026 10:00:00 +0000\r\nmessage-id: <1@x>\r\n\r\n", false, false},
		{"only in body", "Subject: x\r\n\r\nDate: not a header\r\nMessage-ID: <no>\r\n", true, true},
		{"folded subject mentioning Date", "Subject: a\r\n Date: no\r\nMessage-Id: <1@x>\r\n\r\n", true, false},
		{"no body at all", "Subject: x\r\n", true, true},
		{"prefix of another field", "Dates: x\r\nMessage-IDs: y\r\n\r\n", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr, err := message.ReadHeader([]byte(tc.in), message.HeaderLimits{})
			if err != nil {
				t.Fatal(err)
			}
			out := string(completeHeader([]byte(tc.in), hdr, "mail.example.com", now))
			if !strings.HasSuffix(out, tc.in) {
				t.Fatalf("original changed:\n%q", out)
			}
			added := strings.TrimSuffix(out, tc.in)
			if got := strings.Contains(added, "Date: Wed, 25 Nov 2026 21:00:00 +0800\r\n"); got != tc.wantDate {
				t.Errorf("Date added = %v, want %v: %q", got, tc.wantDate, added)
			}
			gotID := regexp.MustCompile(`^(Date: [^\r]*\r\n)?Message-ID: <20261125130000\.[0-9a-f]{24}@mail\.example\.com>\r\n$`).MatchString(added)
			if gotID != tc.wantID {
				t.Errorf("Message-ID added = %v, want %v: %q", gotID, tc.wantID, added)
			}
		})
	}
}

func FuzzCompleteHeader(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\nbody"))
	f.Add([]byte("\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		hdr, err := message.ReadHeader(data, message.HeaderLimits{})
		if err != nil {
			return
		}
		out := completeHeader(data, hdr, "h", time.Unix(0, 0))
		if !strings.HasSuffix(string(out), string(data)) {
			t.Fatal("input not kept whole at the end")
		}
	})
}
