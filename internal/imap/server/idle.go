package server

import (
	"errors"
	"net"
	"strings"
	"time"

	"github.com/youju/youju/internal/imap/wire"
)

// cmdIdle waits for DONE while reporting changes of the selected mailbox
// as they happen (RFC 2177). The session waits parked on the connection
// alone (park.go): a store event or Shutdown interrupts the wait through
// the read deadline (waker), so a session in IDLE is one goroutine and no
// buffers.
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
	for {
		if c.waker.arm(deadline) {
			err := c.waitInput()
			woken := c.waker.disarm()
			if err == nil {
				break
			}
			if !woken || !isTimeout(err) {
				// The IDLE timeout, or the connection failed.
				c.state = stateLogout
				if c.closing.Load() {
					c.bye("server shutting down")
				}
				return nil
			}
		}
		if c.closing.Load() {
			c.state = stateLogout
			c.bye("server shutting down")
			return nil
		}
		if c.sel != nil {
			c.sendUpdates(false)
			if err := c.flush(); err != nil {
				c.state = stateLogout
				return nil
			}
		}
	}
	// A wake between the end of the wait and disarm may have moved the
	// deadline to now.
	c.setReadDeadline(deadline)
	return c.idleDone(c.r.ReadLine())
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
	for {
		select {
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
			if c.sel == nil || e.Mailbox != c.sel.mbox.ID {
				continue
			}
			c.sendUpdates(true)
			if err := c.flush(); err != nil {
				c.state = stateLogout
				return nil
			}
		}
	}
}
