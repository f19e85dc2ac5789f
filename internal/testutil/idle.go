package testutil

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// IdleSessions are IMAP sessions held in IDLE (RFC 2177) by
// OpenIdleSessions, for measuring what they cost a server (issue 12:
// 2,000 TLS sessions in IDLE). Any IMAP server will do: the bench tool
// opens them against youju and Dovecot alike.
type IdleSessions struct {
	conns []*idleSession
}

type idleSession struct {
	conn net.Conn
	r    *bufio.Reader
}

// OpenIdleSessions opens n sessions to addr (over TLS with tc unless tc
// is nil), each logged in as user with LOGIN, INBOX selected and in
// IDLE; it returns once every server has answered "+" to IDLE. Eight
// sessions are set up at a time.
func OpenIdleSessions(addr string, n int, user, pass string, tc *tls.Config) (*IdleSessions, error) {
	s := &IdleSessions{conns: make([]*idleSession, n)}
	next := make(chan int)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := openIdle(addr, user, pass, tc)
				if err != nil {
					select {
					case errc <- fmt.Errorf("session %d: %w", i, err):
					default:
					}
					continue
				}
				s.conns[i] = c
			}
		}()
	}
	for i := range n {
		if len(errc) > 0 {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errc:
		s.Close()
		return nil, err
	default:
	}
	return s, nil
}

func openIdle(addr, user, pass string, tc *tls.Config) (*idleSession, error) {
	var conn net.Conn
	var err error
	d := &net.Dialer{Timeout: 30 * time.Second}
	if tc != nil {
		conn, err = tls.DialWithDialer(d, "tcp", addr, tc)
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	c := &idleSession{conn: conn, r: bufio.NewReaderSize(conn, 1024)}
	conn.SetDeadline(time.Now().Add(time.Minute))
	steps := []struct{ send, want string }{
		{"", "* OK"},
		{"a LOGIN " + quote(user) + " " + quote(pass), "a OK"},
		{"b SELECT INBOX", "b OK"},
		{"c IDLE", "+"},
	}
	for _, st := range steps {
		if err := c.exchange(st.send, st.want); err != nil {
			conn.Close()
			return nil, err
		}
	}
	conn.SetDeadline(time.Time{})
	return c, nil
}

// exchange sends line (if any) and reads responses until one begins with
// want; a tagged NO or BAD is an error.
func (c *idleSession) exchange(line, want string) error {
	if line != "" {
		if _, err := c.conn.Write([]byte(line + "\r\n")); err != nil {
			return err
		}
	}
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("waiting for %q: %w", want, err)
		}
		if strings.HasPrefix(l, want) {
			return nil
		}
		if f := strings.Fields(l); len(f) > 1 && f[0] != "*" && (f[1] == "NO" || f[1] == "BAD") {
			return fmt.Errorf("%q: %s", line, strings.TrimSpace(l))
		}
	}
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Len is the number of sessions.
func (s *IdleSessions) Len() int { return len(s.conns) }

// Close ends IDLE with DONE in every session, checks the tagged OK (so a
// session the server dropped meanwhile is reported), logs out and closes.
func (s *IdleSessions) Close() error {
	var first error
	for _, c := range s.conns {
		if c == nil {
			continue
		}
		c.conn.SetDeadline(time.Now().Add(time.Minute))
		err := c.exchange("DONE", "c OK")
		if err == nil {
			err = c.exchange("z LOGOUT", "z OK")
		}
		if err != nil && first == nil {
			first = err
		}
		c.conn.Close()
	}
	s.conns = nil
	return first
}

// PSS is the proportional set size of process pid in bytes, from
// /proc/PID/smaps_rollup (Linux 4.14 and later): the memory the process
// holds, shared pages divided among their users.
func PSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		f := strings.Fields(string(l))
		if len(f) == 3 && f[0] == "Pss:" && f[2] == "kB" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no Pss line in smaps_rollup")
}

// TreePSS is the PSS of pid and all its descendants (Dovecot's master,
// its login processes and one imap process per session), and how many
// processes that is. Processes that end while it reads are skipped.
func TreePSS(pid int) (total int64, procs int, err error) {
	children := map[int][]int{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if i < 0 || len(f) < 2 {
			continue
		}
		self, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], self)
	}
	todo := []int{pid}
	for len(todo) > 0 {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		todo = append(todo, children[p]...)
		n, perr := PSS(p)
		if perr != nil {
			if p == pid {
				return 0, 0, perr
			}
			continue
		}
		total += n
		procs++
	}
	return total, procs, nil
}
