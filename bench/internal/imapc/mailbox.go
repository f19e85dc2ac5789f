package imapc

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Msg is message i of the benchmark INBOX (as in the Go benchmarks of
// internal/imap/server): multipart/alternative, about 600 bytes.
func Msg(i int) []byte {
	return fmt.Appendf(nil, "From: Sender %d <s%d@example.com>\r\nTo: alice@example.org\r\nSubject: benchmark message %d\r\n"+
		"Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <%d@bench.example.com>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
		"Hello, this is message %d.\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello, this is message %d.</p>\r\n--b--\r\n", i, i, i, i, i, i)
}

// Seen says which benchmark messages are \Seen: all but every third.
func Seen(i int) bool { return i%3 != 0 }

// WriteMaildir writes the benchmark messages into the cur/ of Maildir md
// (flags in the names, Maildir ":2,S" for \Seen) unless it holds n
// already: filling a Dovecot without going through IMAP.
func WriteMaildir(md string, n int) error {
	cur := filepath.Join(md, "cur")
	have, err := os.ReadDir(cur)
	if err != nil {
		return err
	}
	if len(have) >= n {
		return nil
	}
	fmt.Fprintf(os.Stderr, "dovecot: writing %d messages into %s\n", n-len(have), cur)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for i := len(have); i < n; i++ {
		info := ":2,"
		if Seen(i) {
			info = ":2,S"
		}
		name := filepath.Join(cur, fmt.Sprintf("%d.M%dP1.bench%s", base+int64(i), i, info))
		if err := os.WriteFile(name, Msg(i), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// Select selects mbox and returns its EXISTS.
func (c *Client) Select(mbox string) (int, error) {
	exists := 0
	_, err := c.Run("SELECT "+quote(mbox), func(l string) {
		if f := strings.Fields(l); len(f) == 3 && f[2] == "EXISTS" {
			exists, _ = strconv.Atoi(f[1])
		}
	})
	return exists, err
}

// Messages asks STATUS for the number of messages in mbox.
func (c *Client) Messages(mbox string) (int, error) {
	n := -1
	_, err := c.Run("STATUS "+quote(mbox)+" (MESSAGES)", func(l string) {
		if i := strings.Index(l, "(MESSAGES "); i >= 0 {
			s := l[i+len("(MESSAGES "):]
			if j := strings.IndexByte(s, ')'); j >= 0 {
				n, _ = strconv.Atoi(s[:j])
			}
		}
	})
	if err == nil && n < 0 {
		err = fmt.Errorf("STATUS: no MESSAGES in the answer")
	}
	return n, err
}

// Idle starts IDLE (RFC 2177) and returns once the server said "+".
// The session then stays idle until the connection is closed.
func (c *Client) Idle() error {
	c.n++
	if _, err := fmt.Fprintf(c.w, "b%d IDLE\r\n", c.n); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	for {
		l, err := c.line()
		if err != nil {
			return err
		}
		if strings.HasPrefix(l, "+") {
			return nil
		}
		if !strings.HasPrefix(l, "* ") {
			return fmt.Errorf("IDLE: %q", strings.TrimSpace(l))
		}
	}
}

// Fill APPENDs benchmark messages (Msg, flags from Seen) until INBOX
// holds n, and returns how many it added and how long that took. With
// LITERAL+ (RFC 7888) the APPENDs are pipelined, as a fill or migration
// tool does: each is sent without waiting for the answers to those
// before it.
func Fill(addr, user, pass string, n int) (int, time.Duration, error) {
	c, err := Dial(addr)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	if err := c.Login(user, pass); err != nil {
		return 0, 0, err
	}
	exists, err := c.Select("INBOX")
	if err != nil {
		return 0, 0, err
	}
	flags := func(i int) string {
		if Seen(i) {
			return `\Seen`
		}
		return ""
	}
	t0 := time.Now()
	if strings.Contains(c.Caps, "LITERAL+") {
		err = c.AppendPipelined("INBOX", exists, n, flags, Msg)
	} else {
		for i := exists; i < n && err == nil; i++ {
			err = c.Append("INBOX", flags(i), Msg(i), false)
		}
	}
	return max(n-exists, 0), time.Since(t0), err
}
