package server

import (
	"github.com/youju/youju/internal/imap/wire"
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
// is committed to send), up to maxAppendBatch commands or
// maxAppendBatchBytes. It stores them with one store call, i.e. one group
// commit, then answers each in order. It returns the command that ended
// the read-ahead (not an APPEND it can take), or the read error, for
// the caller to handle next.
//
// The batch is NOT atomic across commands, unlike a MULTIAPPEND (RFC 3502
// §6.3.11): each APPEND is stored all or none and answered on its own,
// with its own APPENDUID (RFC 4315 §3) or its own NO, as if the commands
// had run one after the other; one failing leaves the others alone. No
// OK is written before the store returned, i.e. before all of the batch
// is on stable storage.
func (c *conn) appendBatch(first *wire.Command) (*wire.Command, error) {
	cmds := []*wire.Command{first}
	room := maxAppendBatchBytes - appendSize(first)
	for len(cmds) < maxAppendBatch && room > 0 && !c.closing.Load() {
		n, ok := c.r.BufferedAppend()
		if !ok || n > int64(room) {
			break
		}
		c.await()
		cmd, err := c.r.ReadCommand()
		if err != nil || !c.batchableAppend(cmd) {
			c.runAppends(cmds)
			return cmd, err
		}
		cmds = append(cmds, cmd)
		room -= appendSize(cmd)
	}
	c.runAppends(cmds)
	return nil, nil
}

// runAppends stores the APPENDs of a batch and writes their responses.
func (c *conn) runAppends(cmds []*wire.Command) {
	errs := make([]error, len(cmds))
	codes := make([]string, len(cmds))
	var appends []store.Append
	idx := make([]int, len(cmds)) // cmds[i]'s index in appends, or -1
	kws := map[string][]string{}  // of earlier APPENDs of the batch, per mailbox name
	err := c.guard("APPEND", func() error {
		for i, cmd := range cmds {
			idx[i] = -1
			a := cmd.Args.(*wire.AppendArgs)
			m, err := c.prepareAppend(a, kws[a.Mailbox])
			if err != nil {
				errs[i] = err
				continue
			}
			for _, msg := range m.Messages {
				kws[a.Mailbox] = append(kws[a.Mailbox], msg.Flags.Keywords...)
			}
			idx[i] = len(appends)
			appends = append(appends, m)
		}
		if len(appends) == 0 {
			return nil
		}
		res, err := c.srv.Store.AppendMessages(c.ctx, c.acct.ID, appends)
		if err != nil {
			return err
		}
		for i := range cmds {
			if j := idx[i]; j >= 0 {
				c.okCode = ""
				errs[i] = c.appended(res[j])
				codes[i] = c.okCode
			}
		}
		return nil
	})
	if c.state == stateLogout {
		return // a panic: guard said BYE
	}
	touched := false
	for i := range cmds {
		if err != nil && idx[i] >= 0 {
			errs[i] = err // the store failed as a whole: nothing was stored
		}
		touched = touched || (errs[i] == nil && c.sel != nil && appends[idx[i]].Mailbox == c.sel.mbox.ID)
	}
	if c.sel != nil {
		// RFC 9051 §6.3.12: EXISTS for the new messages of the selected
		// mailbox, before the tagged OKs.
		c.sendUpdates(touched)
	}
	for i, cmd := range cmds {
		c.okCode = codes[i]
		c.tagged(cmd, errs[i])
		if c.state == stateLogout {
			return // too many bad commands: BYE was sent
		}
	}
}
