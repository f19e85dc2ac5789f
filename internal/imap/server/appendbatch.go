package server

import (
	"runtime/debug"

	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/netserver"
	"github.com/youju/youju/internal/store"
)

// Bounds of the APPENDs read ahead and stored together: a client that
// pipelines a long fill gets one group commit per batch, and the session
// holds at most this much unanswered mail in memory.
const (
	maxAppendBatch      = 64
	maxAppendBatchBytes = 16 << 20
)

// batchableAppend reports whether cmd is an APPEND that appendBatch can
// take: allowed now, with an acceptable mailbox name and no CATENATE
// (whose URLs may name messages of the APPENDs before it, which must be
// stored first; cmdAppend runs it).
func (c *conn) batchableAppend(cmd *wire.Command) bool {
	if cmd.Name != "APPEND" || cmd.NameErr != "" || !handlers["APPEND"].states[c.state] {
		return false
	}
	if c.checkUTF8Accept(cmd) != nil {
		return false
	}
	for _, m := range cmd.Args.(*wire.AppendArgs).Messages {
		if m.Catenate != nil {
			return false
		}
	}
	return true
}

// appendSize is the octets of an APPEND's messages.
func appendSize(cmd *wire.Command) int {
	n := 0
	for _, m := range cmd.Args.(*wire.AppendArgs).Messages {
		n += len(m.Data)
	}
	return n
}

// appendBatch runs the APPEND first and the APPENDs the client pipelined
// behind it with LITERAL+ (RFC 7888), as far as they have begun to arrive
// (wire.Reader.BufferedAppend: reading them waits only on data the client
// is committed to send), in batches of up to maxAppendBatch commands or
// maxAppendBatchBytes. Each batch is stored with one store call, i.e. one
// group commit, then its commands are answered in order. While a batch is
// being stored, the next one is read from the connection (its store call
// starts only after the previous one returned: UIDs follow command
// order). It returns the command that ended the read-ahead (not an
// APPEND it can take), or the read error, for the caller to handle next.
//
// The batch is NOT atomic across commands, unlike a MULTIAPPEND (RFC 3502
// §6.3.11): each APPEND is stored all or none and answered on its own,
// with its own APPENDUID (RFC 4315 §3) or its own NO, as if the commands
// had run one after the other; one failing leaves the others alone. No
// OK is written before the store returned, i.e. before all of the batch
// is on stable storage.
func (c *conn) appendBatch(first *wire.Command) (*wire.Command, error) {
	cmds, next, err := c.readAppends([]*wire.Command{first})
	for {
		run := c.startAppends(cmds)
		var more []*wire.Command
		if next == nil && err == nil {
			more, next, err = c.readAppends(nil)
		}
		c.finishAppends(run)
		if len(more) == 0 || c.state == stateLogout {
			return next, err
		}
		// The client sees these answers while the next batch is stored.
		if ferr := c.flush(); ferr != nil {
			return nil, ferr
		}
		cmds = more
	}
}

// readAppends reads the pipelined APPENDs that follow cmds, within the
// batch bounds. It returns the batch, and the command that ended it if
// it read one it cannot take, or the read error.
func (c *conn) readAppends(cmds []*wire.Command) ([]*wire.Command, *wire.Command, error) {
	room := maxAppendBatchBytes
	for _, cmd := range cmds {
		room -= appendSize(cmd)
	}
	for len(cmds) < maxAppendBatch && room > 0 && !c.closing.Load() {
		n, ok := c.r.BufferedAppend()
		if !ok || n > int64(room) {
			break
		}
		c.await()
		cmd, err := c.r.ReadCommand()
		if err != nil || !c.batchableAppend(cmd) {
			return cmds, cmd, err
		}
		cmds = append(cmds, cmd)
		room -= appendSize(cmd)
	}
	return cmds, nil, nil
}

// appendRun is a batch of APPENDs being stored.
type appendRun struct {
	cmds    []*wire.Command
	errs    []error // of each command, before storing (no mailbox, ...)
	idx     []int   // cmds[i]'s index in appends, or -1
	appends []store.Append
	res     []store.AppendResult
	err     error // of the store call as a whole: nothing was stored
	done    chan struct{}
}

// startAppends checks the batch's commands and starts storing those that
// passed, in another goroutine.
func (c *conn) startAppends(cmds []*wire.Command) *appendRun {
	r := &appendRun{cmds: cmds, errs: make([]error, len(cmds)), idx: make([]int, len(cmds)), done: make(chan struct{})}
	kws := map[string][]string{} // of earlier APPENDs of the batch, per mailbox name
	boxes := map[string]store.MailboxID{}
	c.guard("APPEND", func() error {
		for i, cmd := range cmds {
			r.idx[i] = -1
			a := cmd.Args.(*wire.AppendArgs)
			m, err := c.prepareAppend(a, kws[a.Mailbox], boxes)
			if err != nil {
				r.errs[i] = err
				continue
			}
			for _, msg := range m.Messages {
				kws[a.Mailbox] = append(kws[a.Mailbox], msg.Flags.Keywords...)
			}
			r.idx[i] = len(r.appends)
			r.appends = append(r.appends, m)
		}
		return nil
	})
	if len(r.appends) == 0 || c.state == stateLogout {
		close(r.done)
		return r
	}
	go func() {
		defer close(r.done)
		defer func() {
			if v := recover(); v != nil {
				c.logger().Error("panic in IMAP APPEND", "panic", v, "stack", string(debug.Stack()))
				netserver.CountPanic("imap")
				r.res, r.err = nil, no("SERVERBUG", "internal error")
			}
		}()
		r.res, r.err = c.srv.Store.AppendMessages(c.ctx, c.acct.ID, r.appends)
	}()
	return r
}

// finishAppends waits for a batch to be stored and writes its responses.
func (c *conn) finishAppends(r *appendRun) {
	<-r.done
	if c.state == stateLogout {
		return // a panic: guard said BYE
	}
	codes := make([]string, len(r.cmds))
	touched := false
	for i := range r.cmds {
		j := r.idx[i]
		switch {
		case j < 0:
		case r.err != nil:
			r.errs[i] = r.err
		default:
			c.okCode = ""
			r.errs[i] = c.appended(r.res[j])
			codes[i] = c.okCode
			touched = touched || (r.errs[i] == nil && c.sel != nil && r.appends[j].Mailbox == c.sel.mbox.ID)
		}
	}
	if c.sel != nil {
		// RFC 9051 §6.3.12: EXISTS for the new messages of the selected
		// mailbox, before the tagged OKs.
		c.sendUpdates(touched)
	}
	for i, cmd := range r.cmds {
		c.okCode = codes[i]
		c.tagged(cmd, r.errs[i])
		if c.state == stateLogout {
			return // too many bad commands: BYE was sent
		}
	}
}
