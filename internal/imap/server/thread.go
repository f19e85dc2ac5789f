package server

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// threadMsg is one message found by THREAD with what the algorithms of
// RFC 5256 §3 need, all taken from the stored parse.
type threadMsg struct {
	uid     store.UID
	seq     uint32
	date    time.Time // sent date (RFC 5256 §2.2)
	subject string    // base subject (RFC 5256 §2.1)
	reply   bool      // the subject marks a reply or forward (§3)
	msgID   string    // normalised Message-ID, "" when it has no valid one
	inReply string    // first valid identifier of In-Reply-To, normalised
	refs    []string  // References, normalised
	// oldInfo: the Info was stored before it held References (codec
	// version 1); refs must be read from the message's header, of
	// hdrSize bytes.
	oldInfo bool
	hdrSize int64
}

// references are the message's references of RFC 5256 §3: those of
// References, or else the first valid identifier of In-Reply-To.
func (m *threadMsg) references() []string {
	if len(m.refs) > 0 {
		return m.refs
	}
	if m.inReply != "" {
		return []string{m.inReply}
	}
	return nil
}

// cmdThread answers THREAD and UID THREAD (RFC 5256 §3). The search
// program is evaluated as for SEARCH; threads are built from the stored
// parse of each message found, never by parsing the message again.
func cmdThread(c *conn, cmd *wire.Command) error {
	a := cmd.Args.(*wire.ThreadArgs)
	key := a.Key
	if err := decodeSearchCharset(&key, a.Charset); err != nil {
		return err
	}
	refs := a.Algorithm == "REFERENCES"
	msgs, err := c.threadMessages(&key, refs)
	if err != nil {
		return err
	}
	var t *threadTree
	if refs {
		t = threadReferences(msgs)
	} else {
		t = threadOrderedSubject(msgs)
	}
	if len(msgs) > 1000 {
		defer c.bulkOutput()()
	}
	w := c.w
	w.Raw("* THREAD")
	if len(msgs) > 0 {
		w.SP()
		t.write(w, cmd.UID)
	}
	w.CRLF()
	return w.Err()
}

// threadMessages runs the search program and returns the messages found,
// in ascending sequence order. With refs, the References of messages
// whose Info predates them are read from the message (see oldReferences).
func (c *conn) threadMessages(key *wire.SearchKey, refs bool) ([]threadMsg, error) {
	sel := c.sel
	if sel.uids.len() == 0 {
		return nil, nil
	}
	q := store.Query{NeedInfo: true}
	var rest []wire.SearchKey
	for _, k := range key.Sub {
		if !c.indexKey(&q, k) {
			rest = append(rest, k)
		}
	}
	if q.UIDs == nil {
		q.UIDs = store.UIDSet{{Lo: 1, Hi: sel.uids.maxUID()}}
	}
	and := wire.SearchKey{Key: "AND", Sub: rest}
	ev := &evaluator{c: c, now: time.Now()}
	var td message.ThreadDecoder
	var msgs []threadMsg
	q.Match = func(m *store.Message) (bool, error) {
		if len(rest) > 0 {
			if ok, err := ev.match(&and, m); !ok || err != nil {
				return ok, err
			}
		}
		seq, known := sel.uids.seqOf(m.UID)
		if !known {
			return false, nil // not announced to this session yet
		}
		msgs = append(msgs, newThreadMsg(&td, m, seq, refs))
		return true, nil
	}
	uids, err := c.srv.Store.Search(c.ctx, c.acct.ID, sel.mbox.ID, q)
	if err != nil {
		return nil, err
	}
	msgs = keepFound(msgs, uids)
	if refs {
		if err := c.oldReferences(msgs); err != nil {
			return nil, err
		}
	}
	return msgs, nil
}

// newThreadMsg takes what THREAD needs from the stored parse of m. The
// strings are copied: the decoder's point into m.Info, which is larger.
func newThreadMsg(td *message.ThreadDecoder, m *store.Message, seq uint32, refs bool) threadMsg {
	t := threadMsg{uid: m.UID, seq: seq, date: m.InternalDate}
	var f message.ThreadFields
	if m.Info == nil || td.Decode(m.Info, &f) != nil {
		return t // nothing known but the dates: a thread of its own
	}
	// RFC 5256 §2.2: the sent date is the Date: header, or INTERNALDATE
	// when it is missing or cannot be parsed.
	if !f.SentDate.IsZero() {
		t.date = f.SentDate
	}
	t.subject, t.reply = baseSubjectReply(f.Subject)
	if !refs {
		return t
	}
	t.msgID = strings.Clone(message.FirstMsgID(f.MessageID))
	t.inReply = strings.Clone(message.FirstMsgID(f.InReplyTo))
	if !f.HasReferences {
		t.oldInfo, t.hdrSize = true, f.HeaderSize
		return t
	}
	if len(f.References) > 0 {
		t.refs = make([]string, len(f.References))
		for i, r := range f.References {
			t.refs[i] = strings.Clone(r)
		}
	}
	return t
}

// keepFound keeps the messages whose UID the search returned: Match saw
// them, but the store may still have filtered some out after it.
func keepFound(msgs []threadMsg, uids []store.UID) []threadMsg {
	slices.SortFunc(msgs, func(a, b threadMsg) int { return int(a.seq) - int(b.seq) })
	slices.Sort(uids)
	out := msgs[:0]
	j := 0
	for _, m := range msgs {
		for j < len(uids) && uids[j] < m.uid {
			j++
		}
		if j < len(uids) && uids[j] == m.uid {
			out = append(out, m)
		}
	}
	return out
}

// maxHeaderRead bounds how much of a message header oldReferences reads,
// as message.Parse bounds what it looks at.
const maxHeaderRead = 1 << 20

// oldReferences reads the References header of messages whose stored
// parse predates References (message codec version 1): without them,
// threads of mail delivered before the upgrade would fall apart into
// In-Reply-To chains, which are shorter and break where a message is
// missing. Only the header is read; mail stored since needs none of it.
func (c *conn) oldReferences(msgs []threadMsg) error {
	var buf []byte
	for i := range msgs {
		m := &msgs[i]
		if !m.oldInfo {
			continue
		}
		n := min(m.hdrSize, maxHeaderRead)
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		rd, err := c.srv.Store.OpenMessage(c.ctx, c.acct.ID, c.sel.mbox.ID, m.uid)
		if errors.Is(err, store.ErrNotFound) {
			continue // expunged meanwhile: its References are lost
		}
		if err != nil {
			return err
		}
		k, err := rd.ReadAt(buf[:n], 0)
		rd.Close()
		if err != nil && k < int(n) {
			return fmt.Errorf("reading header of message %d: %w", m.uid, err)
		}
		m.refs = message.HeaderReferences(buf[:k])
	}
	return nil
}
