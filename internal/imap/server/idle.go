package server

import (
	"errors"
	"net"
	"strings"
	"time"

	"github.com/youju/youju/internal/imap/wire"
)

// cmdIdle begins IDLE (RFC 2177): the client's DONE is waited for, and
// changes of the selected mailbox are reported as they happen, by
// idleWait from the command loop, outside the handler, so that the
// goroutine waits on a shallow stack. It waits parked on the connection
// alone (park.go): a store event or Shutdown interrupts the wait through
// the read deadline (waker), so a session in IDLE is one goroutine with
// a 4 KiB stack and no buffers.
func cmdIdle(c *conn, cmd *wire.Command) error {
	deadline := time.Now().Add(orDur(c.srv.IDLETimeout, DefaultIDLETimeout))
	c.setReadDeadline(deadline)
	c.w.Raw("+ idling").CRLF()
	if c.sel != nil {
		c.sendUpdates(true)
	}
	if err := c.flush(); err != nil {
		return err
	}
	if c.zw != nil {
		return c.idleCompressed()
	}
	cp := *cmd
	c.idle, c.idleUntil = &cp, deadline
	return errIdling
}

// errIdling tells run that IDLE goes on in idleWait.
var errIdling = errors.New("idling")

// idleWait waits in IDLE for the client's DONE, reporting changes of the
// selected mailbox; false ends the connection.
func (c *conn) idleWait() bool {
	for {
		force := false
		if until, poll := c.pollDeadline(c.idleUntil); c.waker.arm(until) {
			err := c.waitInput(true)
			woken := c.waker.disarm()
			if err == nil {
				break
			}
			// The poll timer (poll.go) ends the wait like a wake does.
			force = poll && isTimeout(err) && !woken && time.Now().Before(c.idleUntil)
			if !woken && !force || !isTimeout(err) {
				// The IDLE timeout, or the connection failed.
				switch {
				case c.closing.Load():
					c.bye("server shutting down")
				case isTimeout(err):
					c.bye("autologout; idle for too long") // RFC 9051 §5.4
				}
				return false
			}
		}
		if c.closing.Load() {
			c.bye("server shutting down")
			return false
		}
		if c.sel != nil {
			c.guard("IDLE", func() error { c.sendUpdates(force); return nil })
			if c.state == stateLogout || c.flush() != nil {
				return false
			}
		}
	}
	cmd := c.idle
	c.idle = nil
	// A wake between the end of the wait and disarm may have moved the
	// deadline to now.
	c.setReadDeadline(c.idleUntil)
	l, err := c.r.ReadLine()
	c.complete(cmd, c.idleDone(l, err))
	return c.flush() == nil
}

// idleDone ends IDLE on the client's line l (or the error reading it).
func (c *conn) idleDone(l string, err error) error {
	if err != nil {
		c.state = stateLogout
		if c.closing.Load() {
			c.bye("server shutting down")
		}
		return nil
	}
	if !strings.EqualFold(strings.TrimSpace(l), "DONE") {
		return bad("", "expected DONE")
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// idleCompressed is IDLE under COMPRESS=DEFLATE: the decompressor keeps a
// read error, so its read cannot be interrupted and resumed; a goroutine
// reads the client's line while this one reports changes.
func (c *conn) idleCompressed() error {
	type lineOrErr struct {
		line string
		err  error
	}
	lines := make(chan lineOrErr, 1)
	go func() {
		l, err := c.r.ReadLine()
		lines <- lineOrErr{l, err}
	}()
	var poll <-chan time.Time
	if every := c.srv.pollEvery(); every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		poll = t.C
	}
	for {
		select {
		case <-poll:
			if c.sel != nil {
				c.sendUpdates(true)
				if err := c.flush(); err != nil {
					c.state = stateLogout
					return nil
				}
			}
		case <-c.quit:
			// End the reader before the buffers can go back to the pools.
			c.setReadDeadline(time.Now())
			<-lines
			c.state = stateLogout
			c.bye("server shutting down")
			return nil
		case l := <-lines:
			return c.idleDone(l.line, l.err)
		case e := <-c.events:
			if c.sel == nil {
				continue
			}
			// An event of another mailbox still looks at a full channel.
			c.sendUpdates(e.Mailbox == c.sel.mbox.ID)
			if err := c.flush(); err != nil {
				c.state = stateLogout
				return nil
			}
		}
	}
}
