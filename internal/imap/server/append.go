package server

import (
	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/metrics"
	"github.com/youju/youju/internal/store"
)

// cmdAppend stores a message (RFC 9051 §6.3.12) and answers OK only after
// the store returned, i.e. after the message is on stable storage; the
// APPENDUID code is of UIDPLUS (RFC 4315 §3).
func cmdAppend(c *conn, cmd *wire.Command) error {
	a := cmd.Args.(*wire.AppendArgs)
	for _, msg := range a.Messages {
		if len(msg.Data) == 0 {
			return no("CANNOT", "empty message")
		}
	}
	m, err := c.srv.Store.Mailbox(c.ctx, c.acct.ID, a.Mailbox)
	if err != nil {
		return no("TRYCREATE", "no such mailbox") // RFC 9051 §6.3.12
	}
	var kws []string
	for _, msg := range a.Messages {
		kws = append(kws, parseFlags(msg.Flags).Keywords...)
	}
	if err := c.checkKeywordLimit(m.ID, kws); err != nil {
		return err
	}
	// MULTIAPPEND (RFC 3502 §6.3.11): all or nothing. Each message is
	// stored durably in turn; if one fails, those already stored are
	// removed again before the NO.
	var uids []store.UID
	var validity uint32
	for _, msg := range a.Messages {
		uid, v, err := c.appendOne(m.ID, msg)
		if err != nil {
			if len(uids) > 0 {
				if _, rerr := c.srv.Store.Remove(c.ctx, c.acct.ID, m.ID, uidSetOf(uids)); rerr != nil {
					c.log.Error("MULTIAPPEND rollback failed", "err", rerr)
				}
			}
			return err
		}
		uids, validity = append(uids, uid), v
	}
	c.okCode = "APPENDUID " + itoa(uint64(validity)) + " " + formatPairs(uids)
	if c.sel != nil && c.sel.mbox.ID == m.ID {
		// RFC 9051 §6.3.12: the client learns of the new message with
		// EXISTS; run sends it with the other updates.
		c.sendUpdates(true)
	}
	return nil
}

// appendOne stores one message and returns its UID and UIDVALIDITY.
func (c *conn) appendOne(mbox store.MailboxID, msg wire.AppendMessage) (store.UID, uint32, error) {
	res, err := c.srv.Store.Deliver(c.ctx, store.Delivery{
		Data:         msg.Data,
		InternalDate: msg.Date,
		Targets:      []store.Target{{Account: c.acct.ID, Mailbox: mbox, Flags: parseFlags(msg.Flags)}},
	})
	if err != nil {
		return 0, 0, err
	}
	if len(res) != 1 {
		return 0, 0, no("SERVERBUG", "delivery returned no result")
	}
	if res[0].Err != nil {
		return 0, 0, res[0].Err
	}
	metrics.MessagesDelivered.With(metrics.PathAppend).Inc()
	return res[0].UID, res[0].UIDValidity, nil
}

func uidSetOf(uids []store.UID) store.UIDSet {
	var s store.UIDSet
	for _, u := range sortedUIDs(uids) {
		s = appendRange(s, u, u)
	}
	return s
}
