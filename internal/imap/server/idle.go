package server

import (
	"strings"
	"time"

	"github.com/youju/youju/internal/imap/wire"
)

// cmdIdle waits for DONE while reporting changes of the selected mailbox
// as they happen (RFC 2177). The connection is read by a goroutine so
// that events and the client's line can be waited for together; only
// this goroutine writes.
func cmdIdle(c *conn, cmd *wire.Command) error {
	c.nc.SetReadDeadline(time.Now().Add(orDur(c.srv.IDLETimeout, DefaultIDLETimeout)))
	c.w.Raw("+ idling").CRLF()
	if c.sel != nil {
		c.sendUpdates(true)
	}
	if err := c.flush(); err != nil {
		return err
	}
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
			// The reader goroutine ends on the deadline shutdown set.
			c.state = stateLogout
			c.bye("server shutting down")
			return nil
		case l := <-lines:
			if l.err != nil {
				c.state = stateLogout
				if c.closing.Load() {
					c.bye("server shutting down")
				}
				return nil
			}
			if !strings.EqualFold(strings.TrimSpace(l.line), "DONE") {
				return bad("", "expected DONE")
			}
			return nil
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
