// Package imapc is the minimal IMAP client of the benchmarks: it sends a
// command and reads the responses up to the tagged one, skipping literals,
// without building anything from them, so that the figures are the
// server's. It also makes the benchmark mailbox (Msg, Seen) and fills an
// INBOX by APPEND (Fill). Used by bench/imap and bench/compare.
package imapc

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Client is one IMAP connection.
type Client struct {
	Conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	n    int
	// Caps is the greeting (which carries the capabilities of youju
	// and Dovecot).
	Caps string
}

// Dial connects to addr and reads the greeting.
func Dial(addr string) (*Client, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return start(conn, 64<<10)
}

// DialTLS connects to addr with implicit TLS (certificate not checked:
// the servers run with a self-signed one) and small buffers, for many
// idle sessions.
func DialTLS(addr string) (*Client, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 30 * time.Second}, Config: &tls.Config{InsecureSkipVerify: true}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return start(conn, 4<<10)
}

func start(conn net.Conn, bufSize int) (*Client, error) {
	conn.SetDeadline(time.Now().Add(time.Minute))
	c := &Client{Conn: conn, r: bufio.NewReaderSize(conn, bufSize), w: bufio.NewWriterSize(conn, bufSize)}
	greet, err := c.line()
	if err != nil {
		conn.Close()
		return nil, err
	}
	if !strings.HasPrefix(greet, "* OK") {
		conn.Close()
		return nil, fmt.Errorf("greeting: %q", greet)
	}
	c.Caps = greet
	conn.SetDeadline(time.Time{})
	return c, nil
}

// line reads one response line with its literals (their bytes dropped).
func (c *Client) line() (string, error) {
	var sb strings.Builder
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			return "", err
		}
		sb.WriteString(l)
		n, ok := literalLen(l)
		if !ok {
			return sb.String(), nil
		}
		if _, err := c.r.Discard(n); err != nil {
			return "", err
		}
	}
}

// literalLen finds a "{n}\r\n" (or "{n+}") at the end of a line.
func literalLen(l string) (int, bool) {
	l = strings.TrimSuffix(l, "\r\n")
	if !strings.HasSuffix(l, "}") {
		return 0, false
	}
	i := strings.LastIndexByte(l, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(l[i+1:len(l)-1], "+"))
	return n, err == nil && n >= 0
}

// Run sends cmd and returns the untagged responses' count; untagged
// lines are passed to each when it is not nil. A tagged answer other
// than OK is an error.
func (c *Client) Run(cmd string, each func(string)) (int, error) {
	c.n++
	tag := "b" + strconv.Itoa(c.n)
	if _, err := c.w.WriteString(tag + " " + cmd + "\r\n"); err != nil {
		return 0, err
	}
	if err := c.w.Flush(); err != nil {
		return 0, err
	}
	return c.await(tag, cmd, each)
}

// await reads responses up to the tagged one, as Run.
func (c *Client) await(tag, what string, each func(string)) (int, error) {
	count := 0
	for {
		l, err := c.line()
		if err != nil {
			return count, err
		}
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				return count, fmt.Errorf("%s: %s", what, strings.TrimSpace(l))
			}
			return count, nil
		}
		if strings.HasPrefix(l, "* ") {
			count++
			if each != nil {
				each(l)
			}
		}
	}
}

// Login logs in with LOGIN.
func (c *Client) Login(user, pass string) error {
	_, err := c.Run("LOGIN "+quote(user)+" "+quote(pass), nil)
	return err
}

// Append adds one message, with a synchronising literal unless the
// server has LITERAL+.
func (c *Client) Append(mbox string, flags string, msg []byte, literalPlus bool) error {
	c.n++
	tag := "b" + strconv.Itoa(c.n)
	plus := ""
	if literalPlus {
		plus = "+"
	}
	fmt.Fprintf(c.w, "%s APPEND %s (%s) {%d%s}\r\n", tag, quote(mbox), flags, len(msg), plus)
	if !literalPlus {
		if err := c.w.Flush(); err != nil {
			return err
		}
		l, err := c.line()
		if err != nil {
			return err
		}
		if !strings.HasPrefix(l, "+") {
			return fmt.Errorf("APPEND: %q", l)
		}
	}
	c.w.Write(msg)
	c.w.WriteString("\r\n")
	if err := c.w.Flush(); err != nil {
		return err
	}
	_, err := c.await(tag, "APPEND", nil)
	return err
}

// AppendPipelined APPENDs messages from to n with LITERAL+ literals, at
// most appendWindow unanswered at a time, and checks every answer.
func (c *Client) AppendPipelined(mbox string, from, n int, flags func(int) string, msg func(int) []byte) error {
	const appendWindow = 1000
	sent := make(chan struct{}, appendWindow)
	errc := make(chan error, 1)
	go func() {
		for i := from; i < n; i++ {
			sent <- struct{}{}
			m := msg(i)
			fmt.Fprintf(c.w, "p%d APPEND %s (%s) {%d+}\r\n", i, quote(mbox), flags(i), len(m))
			c.w.Write(m)
			c.w.WriteString("\r\n")
			if len(sent) == cap(sent) || i == n-1 {
				if err := c.w.Flush(); err != nil {
					errc <- err
					return
				}
			}
		}
		errc <- c.w.Flush()
	}()
	for done := from; done < n; {
		l, err := c.line()
		if err != nil {
			return err
		}
		if !strings.HasPrefix(l, "p") {
			continue
		}
		if _, rest, _ := strings.Cut(l, " "); !strings.HasPrefix(rest, "OK") {
			return fmt.Errorf("APPEND: %s", strings.TrimSpace(l))
		}
		<-sent
		done++
	}
	return <-errc
}

// Close logs out and closes the connection.
func (c *Client) Close() {
	c.Conn.SetDeadline(time.Now().Add(10 * time.Second))
	c.Run("LOGOUT", nil)
	c.Conn.Close()
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
