package server

import (
	"context"
	"io"
	"slices"
	"time"

	"github.com/youju/youju/internal/store"
)

// Training the learning filter from what the user does (internal/spam):
// a message moved or copied into the \Junk mailbox (RFC 6154), or given
// the $Junk keyword, is spam; one moved out of \Junk, or given
// $NotJunk, is ham (moving from Junk to Trash is neither). The training runs after the reply, in the
// background, a few messages at a time: it never delays the command.

const (
	maxTrainBytes   = 256 << 10 // of a message: the tokeniser reads 64 KiB of text
	maxTrainPerCmd  = 200       // messages trained per command (a user emptying a big folder)
	trainConcurrent = 2
)

var trainSem = make(chan struct{}, trainConcurrent)

// trainCopy trains after COPY/MOVE from the selected mailbox into dst.
func (c *conn) trainCopy(dst store.Mailbox, dstUIDs []store.UID) {
	if c.srv.Train == nil {
		return
	}
	toJunk := dst.SpecialUse == store.SpecialJunk
	fromJunk := c.sel.mbox.SpecialUse == store.SpecialJunk
	if toJunk == fromJunk || (fromJunk && dst.SpecialUse == store.SpecialTrash) {
		return // deleting spam from Junk (to Trash) says nothing
	}
	c.train(dst.ID, dstUIDs, toJunk)
}

// trainFlags trains after STORE of $Junk or $NotJunk (RFC 5788's
// registered keywords).
func (c *conn) trainFlags(op store.FlagOp, f store.Flags, changed []store.Message) {
	if c.srv.Train == nil || op == store.FlagRemove || len(changed) == 0 {
		return
	}
	junk := slices.ContainsFunc(f.Keywords, func(k string) bool { return equalFold(k, "$Junk") })
	notJunk := slices.ContainsFunc(f.Keywords, func(k string) bool { return equalFold(k, "$NotJunk") })
	if junk == notJunk {
		return
	}
	c.train(c.sel.mbox.ID, changedUIDs(changed), junk)
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

// train reads the messages and hands them to Server.Train.
func (c *conn) train(mbox store.MailboxID, uids []store.UID, spam bool) {
	if len(uids) > maxTrainPerCmd {
		uids = uids[:maxTrainPerCmd]
	}
	acct, st, fn, log := c.acct.ID, c.srv.Store, c.srv.Train, c.srv.logger()
	uids = slices.Clone(uids)
	go func() {
		trainSem <- struct{}{}
		defer func() { <-trainSem }()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, uid := range uids {
			r, err := st.OpenMessage(ctx, acct, mbox, uid)
			if err != nil {
				continue // expunged meanwhile
			}
			b, err := io.ReadAll(io.LimitReader(r, maxTrainBytes))
			r.Close()
			if err != nil {
				log.Warn("spam training: reading message", "err", err)
				continue
			}
			fn(acct, b, spam)
		}
	}()
}

func changedUIDs(ms []store.Message) []store.UID {
	if len(ms) == 0 {
		return nil
	}
	u := make([]store.UID, len(ms))
	for i := range ms {
		u[i] = ms[i].UID
	}
	return u
}
