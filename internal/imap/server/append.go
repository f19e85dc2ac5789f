package server

import (
	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/store"
)

// cmdAppend stores a message (RFC 9051 §6.3.12) and answers OK only after
// the store returned, i.e. after the message is on stable storage; the
// APPENDUID code is of UIDPLUS (RFC 4315 §3).
func cmdAppend(c *conn, cmd *wire.Command) error {
	a := cmd.Args.(*wire.AppendArgs)
	if len(a.Messages) != 1 {
		return bad("", "MULTIAPPEND is not supported")
	}
	msg := a.Messages[0]
	if len(msg.Data) == 0 {
		return no("CANNOT", "empty message")
	}
	m, err := c.srv.Store.Mailbox(c.ctx, c.acct.ID, a.Mailbox)
	if err != nil {
		return no("TRYCREATE", "no such mailbox") // RFC 9051 §6.3.12
	}
	res, err := c.srv.Store.Deliver(c.ctx, store.Delivery{
		Data:         msg.Data,
		InternalDate: msg.Date,
		Targets:      []store.Target{{Account: c.acct.ID, Mailbox: m.ID, Flags: parseFlags(msg.Flags)}},
	})
	if err != nil {
		return err
	}
	if len(res) != 1 {
		return no("SERVERBUG", "delivery returned no result")
	}
	if res[0].Err != nil {
		return res[0].Err
	}
	c.okCode = "APPENDUID " + itoa(uint64(res[0].UIDValidity)) + " " + itoa(uint64(res[0].UID))
	if c.sel != nil && c.sel.mbox.ID == m.ID {
		// RFC 9051 §6.3.12: the client learns of the new message with
		// EXISTS; run sends it with the other updates.
		c.sendUpdates(true)
	}
	return nil
}
