package server

import (
	"strings"
	"testing"
	"time"
)

// TestWriteDeadlinePerCommand: a session idle for longer than the write
// timeout must still get a response larger than the output buffer (the
// deadline is counted from the write, not from the previous response).
func TestWriteDeadlinePerCommand(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.WriteTimeout = 300 * time.Millisecond })
	body := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 200)
	for range 3 {
		ts.deliver(t, "INBOX", "Subject: big\r\n\r\n"+body, 0)
	}
	c := ts.login(t)
	c.ok("SELECT INBOX")
	time.Sleep(600 * time.Millisecond)
	u := c.ok("FETCH 1:* (BODY.PEEK[])")
	if len(u) != 3 {
		t.Fatalf("%d responses: %q", len(u), u)
	}
}
