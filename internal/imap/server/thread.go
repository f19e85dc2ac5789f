package server

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// threadMsg is one message found by THREAD with what the algorithms of
// RFC 5256 §3 need, all taken from the stored parse. It is kept small:
// a mailbox has one per message.
type threadMsg struct {
	uid     store.UID
	seq     uint32
	date    sentDate // RFC 5256 §2.2
	subject string   // base subject (RFC 5256 §2.1)
	msgID   string   // normalised Message-ID, "" when it has no valid one
	inReply string   // first valid identifier of In-Reply-To, normalised
	refs    []string // References, normalised
	// hdrSize > 0: the Info was stored before it held References (codec
	// version 1); they are read from the message's header, of hdrSize
	// bytes.
	hdrSize int64
	reply   bool // the subject marks a reply or forward (§3)
}

// sentDate is an instant, compared without the cost of time.Time.
type sentDate struct {
	sec  int64
	nsec int32
}

func dateOf(t time.Time) sentDate { return sentDate{t.Unix(), int32(t.Nanosecond())} }

func (d sentDate) compare(e sentDate) int {
	if c := cmp.Compare(d.sec, e.sec); c != 0 {
		return c
	}
	return cmp.Compare(d.nsec, e.nsec)
}

// strArena copies strings into shared blocks: one allocation per block
// rather than per string, for the 100k+ identifiers of a mailbox. A
// block's bytes are never written again once a string points at them.
// Blocks start small and double, so that reading a few new messages
// (whose strings the thread cache keeps) wastes little.
type strArena struct {
	buf  []byte
	list []string
}

func (a *strArena) copy(s string) string {
	switch {
	case s == "":
		return ""
	case len(s) > 1024:
		return strings.Clone(s)
	case cap(a.buf)-len(a.buf) < len(s):
		a.buf = make([]byte, 0, min(64<<10, max(1024, 2*cap(a.buf))))
	}
	start := len(a.buf)
	a.buf = append(a.buf, s...)
	return unsafe.String(&a.buf[start], len(s))
}

// copyList copies ss and its strings.
func (a *strArena) copyList(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	if cap(a.list)-len(a.list) < len(ss) {
		a.list = make([]string, 0, max(min(4096, max(16, 2*cap(a.list))), len(ss)))
	}
	start := len(a.list)
	for _, s := range ss {
		a.list = append(a.list, a.copy(s))
	}
	return a.list[start:len(a.list):len(a.list)]
}

// references are the message's references of RFC 5256 §3: those of
// References, or else the first valid identifier of In-Reply-To, which
// one holds (so that no allocation is made per message).
func (m *threadMsg) references(one *[1]string) []string {
	if len(m.refs) > 0 {
		return m.refs
	}
	if m.inReply != "" {
		one[0] = m.inReply
		return one[:]
	}
	return nil
}

// cmdThread answers THREAD and UID THREAD (RFC 5256 §3). The search
// program is evaluated as for SEARCH; threads are built from the stored
// parse of each message found, never by parsing the message again (but
// for the header of mail stored before the parse held References, see
// oldReferences).
func cmdThread(c *conn, cmd *wire.Command) error {
	a := cmd.Args.(*wire.ThreadArgs)
	// RFC 5256 §3 (as RFC 9051 §6.4.4): an unsupported charset is a NO
	// [BADCHARSET], even when the program has no string to decode; the
	// probe gets SEARCH's answer for it.
	probe := wire.SearchKey{Value: "a"}
	if err := decodeSearchCharset(&probe, a.Charset); err != nil {
		return err
	}
	key := a.Key
	if err := decodeSearchCharset(&key, a.Charset); err != nil {
		return err
	}
	msgs, err := c.threadMessages(&key)
	if err != nil {
		return err
	}
	var t *threadTree
	if a.Algorithm == "REFERENCES" {
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
// in ascending sequence order, with their thread data (threadData).
func (c *conn) threadMessages(key *wire.SearchKey) ([]threadMsg, error) {
	uids, err := c.threadSearch(key)
	if err != nil || len(uids) == 0 {
		return nil, err
	}
	data, err := c.threadData()
	if err != nil {
		return nil, err
	}
	msgs := make([]threadMsg, 0, len(uids))
	var missing store.UIDSet
	j := 0
	for _, u := range uids {
		for j < len(data) && data[j].uid < u {
			j++
		}
		if j < len(data) && data[j].uid == u {
			msgs = append(msgs, data[j])
		} else {
			missing = append(missing, store.UIDRange{Lo: u, Hi: u})
		}
	}
	if len(missing) > 0 {
		// Not in the cache: possible only if the views of sessions
		// differ in ways the cache did not see; read them directly.
		more, err := c.readThreadData(missing, len(missing))
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, more...)
		slices.SortFunc(msgs, func(a, b threadMsg) int { return cmp.Compare(a.uid, b.uid) })
	}
	for i := range msgs {
		msgs[i].seq, _ = c.sel.uids.seqOf(msgs[i].uid)
	}
	return msgs, nil
}

// threadSearch runs the search program over the session's view and
// returns the UIDs found, ascending. A program of index keys only (ALL,
// flags, dates) needs no stored parse at all: THREAD takes its data from
// the thread cache.
func (c *conn) threadSearch(key *wire.SearchKey) ([]store.UID, error) {
	uids, err := c.matchProgram(key, nil, false, nil)
	if err != nil {
		return nil, err
	}
	if !slices.IsSorted(uids) {
		slices.Sort(uids)
	}
	return uids, nil
}

// subjectKey is the base subject of RFC 5256 §2.1 as the key threads
// are gathered by, and whether the subject marks a reply or forward. RFC
// 5256 §3 compares subjects with the i;unicode-casemap collation, so the
// key is casemapKey's, as SORT's (RFC 5051).
func subjectKey(subject string) (string, bool) {
	base, reply := baseSubjectReply(subject)
	return casemapKey(base), reply
}

// newThreadMsg takes what THREAD needs from the stored parse of m. The
// strings are copied: the decoder's point into m.Info, which is larger.
func newThreadMsg(td *message.ThreadDecoder, a *strArena, m *store.Message, seq uint32) threadMsg {
	t := threadMsg{uid: m.UID, seq: seq, date: dateOf(m.InternalDate)}
	var f message.ThreadFields
	if m.Info == nil || td.Decode(m.Info, &f) != nil {
		return t // nothing known but the dates: a thread of its own
	}
	// RFC 5256 §2.2: the sent date is the Date: header, or INTERNALDATE
	// when it is missing or cannot be parsed.
	if !f.SentDate.IsZero() {
		t.date = dateOf(f.SentDate)
	}
	t.subject, t.reply = subjectKey(f.Subject)
	t.msgID = a.copy(message.FirstMsgID(f.MessageID))
	t.inReply = a.copy(message.FirstMsgID(f.InReplyTo))
	if !f.HasReferences {
		t.hdrSize = max(f.HeaderSize, 1)
		return t
	}
	t.refs = a.copyList(f.References)
	return t
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
		if m.hdrSize == 0 {
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
		m.hdrSize = 0
	}
	return nil
}
