package server

import (
	"errors"
	"io"
	"strings"

	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/metrics"
	"github.com/youju/youju/internal/store"
)

// cmdAppend stores a message (RFC 9051 §6.3.12) and answers OK only after
// the store returned, i.e. after the message is on stable storage; the
// APPENDUID code is of UIDPLUS (RFC 4315 §3). A message may be built with
// CATENATE (RFC 4469) from text and parts of messages already stored.
// APPENDs without CATENATE go through appendBatch (appendbatch.go) instead,
// which may store several pipelined ones together.
func cmdAppend(c *conn, cmd *wire.Command) error {
	a := cmd.Args.(*wire.AppendArgs)
	for i := range a.Messages {
		msg := &a.Messages[i]
		if msg.Catenate != nil {
			var err error
			if msg.Data, msg.Binary, err = c.catenate(msg.Catenate); err != nil {
				return err
			}
			msg.Catenate = nil
		}
	}
	m, err := c.prepareAppend(a, nil, nil)
	if err != nil {
		return err
	}
	res, err := c.srv.Store.AppendMessages(c.ctx, c.acct.ID, []store.Append{m})
	if err != nil {
		return err
	}
	if err := c.appended(res[0]); err != nil {
		return err
	}
	if c.sel != nil && c.sel.mbox.ID == m.Mailbox {
		// RFC 9051 §6.3.12: the client learns of the new message with
		// EXISTS; run sends it with the other updates.
		c.sendUpdates(true)
	}
	return nil
}

// prepareAppend checks an APPEND's messages and target and turns them
// into a store.Append. kws are the keywords of the APPENDs of the same
// batch before this one, not stored yet, which count for the limit;
// boxes, if not nil, keeps the mailboxes the batch looked up by name.
func (c *conn) prepareAppend(a *wire.AppendArgs, kws []string, boxes map[string]store.MailboxID) (store.Append, error) {
	for _, msg := range a.Messages {
		if len(msg.Data) == 0 {
			return store.Append{}, no("CANNOT", "empty message")
		}
	}
	id, ok := boxes[a.Mailbox]
	if !ok {
		m, err := c.srv.Store.Mailbox(c.ctx, c.acct.ID, a.Mailbox)
		if err != nil {
			return store.Append{}, no("TRYCREATE", "no such mailbox") // RFC 9051 §6.3.12
		}
		id = m.ID
		if boxes != nil {
			boxes[a.Mailbox] = id
		}
	}
	out := store.Append{Mailbox: id, Messages: make([]store.AppendMessage, len(a.Messages))}
	for i, msg := range a.Messages {
		f := parseFlags(msg.Flags)
		kws = append(kws, f.Keywords...)
		// A literal8 (RFC 3516 §4.4) is stored exactly as sent: bare LF
		// and NUL are kept, and RFC822.SIZE is its length.
		out.Messages[i] = store.AppendMessage{Data: msg.Data, InternalDate: msg.Date, Flags: f, Exact: msg.Binary}
	}
	if err := c.checkKeywordLimit(id, kws); err != nil {
		return store.Append{}, err
	}
	return out, nil
}

// appended sets the tagged OK's APPENDUID (RFC 4315 §3) of a stored
// Append, or returns why nothing of it was stored. MULTIAPPEND (RFC 3502
// §6.3.11) is all or nothing: the store stores every message of an
// Append or none.
func (c *conn) appended(r store.AppendResult) error {
	if errors.Is(r.Err, store.ErrNotFound) {
		return no("TRYCREATE", "no such mailbox") // deleted meanwhile (RFC 9051 §6.3.12)
	}
	if r.Err != nil {
		return r.Err
	}
	if len(r.UIDs) == 0 {
		return no("SERVERBUG", "append returned no result")
	}
	metrics.MessagesDelivered.With(metrics.PathAppend).Add(float64(len(r.UIDs)))
	c.okCode = "APPENDUID " + itoa(uint64(r.UIDValidity)) + " " + store.UIDSetOf(r.UIDs).SequenceSet()
	return nil
}

// catenate builds the message of a CATENATE APPEND (RFC 4469 §3): its
// TEXT parts and the data its URLs name, in order. The message may not
// exceed the APPEND limit (NO [TOOBIG], RFC 4469 §5). It is stored exactly
// (binary) when a TEXT part was a literal8; otherwise as any APPEND.
func (c *conn) catenate(parts []wire.CatPart) (data []byte, binary bool, err error) {
	limit := c.srv.maxLiteral()
	for _, p := range parts {
		if p.URL != "" {
			if data, err = c.catenateURL(data, p.URL, limit); err != nil {
				return nil, false, err
			}
			continue
		}
		if int64(len(data))+int64(len(p.Text)) > limit {
			return nil, false, no("TOOBIG", "catenated message too large")
		}
		data = append(data, p.Text...)
		binary = binary || p.Binary
	}
	if len(data) == 0 {
		return nil, false, no("CANNOT", "empty message")
	}
	return data, binary, nil
}

// catenateURL appends to data the octets an IMAP URL names (RFC 4469 §3,
// RFC 5092): BODY[section]<partial> of a message in one of the user's
// own mailboxes, as stored (no transfer decoding). A URL that is bad,
// absolute (another user or server), has a stale UIDVALIDITY or names nothing
// gets NO [BADURL url] (RFC 4469 §5); the answer is the same whether or
// not the target exists elsewhere, so nothing leaks about other accounts.
// The source message keeps its flags: \Seen is not set (RFC 4469 §3).
func (c *conn) catenateURL(data []byte, raw string, limit int64) ([]byte, error) {
	badURL := no("BADURL "+urlRespText(raw), "cannot use this URL")
	u, err := wire.ParseIMAPURL(raw)
	if err != nil {
		return nil, badURL
	}
	name, ok := c.urlMailbox(u)
	if !ok {
		return nil, badURL
	}
	mb, err := c.srv.Store.Mailbox(c.ctx, c.acct.ID, name)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidName) {
		return nil, badURL
	}
	if err != nil {
		return nil, err
	}
	if u.UIDValidity != 0 && u.UIDValidity != mb.UIDValidity {
		return nil, badURL // RFC 5092 §6: the URL is stale
	}
	var info *message.Info
	err = c.srv.Store.ListMessages(c.ctx, c.acct.ID, mb.ID, store.ListOptions{UIDs: store.UIDSet{{Lo: store.UID(u.UID), Hi: store.UID(u.UID)}}, WithInfo: true}, func(m *store.Message) error {
		var err error
		info, err = message.UnmarshalInfo(m.Info)
		return err
	})
	if err != nil {
		return nil, err
	}
	if info == nil {
		return nil, badURL
	}
	rd, err := c.srv.Store.OpenMessage(c.ctx, c.acct.ID, mb.ID, store.UID(u.UID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, badURL // expunged meanwhile
	}
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	part, err := urlData(rd, info, u, limit-int64(len(data)))
	if err != nil {
		return nil, err
	}
	if part == nil {
		return nil, badURL
	}
	return append(data, part...), nil
}

// urlData reads the octets of the section and partial of u, as FETCH
// BODY[section]<partial> would return them, or nil when the section does
// not exist. More than room octets are not read: NO [TOOBIG].
func urlData(rd store.MessageReader, info *message.Info, u *wire.IMAPURL, room int64) ([]byte, error) {
	sec := u.Section
	if sec == nil {
		sec = &wire.Section{}
	}
	_, off, n, ok := locateSection(info, sec)
	if !ok {
		return nil, nil
	}
	fields := strings.HasPrefix(sec.Specifier, "HEADER.FIELDS")
	if p := u.Partial; p != nil && !fields {
		start := min(int64(p.Offset), n)
		off, n = off+start, n-start
		if p.Count > 0 {
			n = min(n, int64(p.Count))
		}
	}
	if n > room && !fields {
		return nil, no("TOOBIG", "catenated message too large")
	}
	b := make([]byte, n)
	if _, err := rd.ReadAt(b, off); err != nil && err != io.EOF {
		return nil, err
	}
	if fields {
		// The partial applies to the filtered header (RFC 9051 §6.4.5).
		b = filterHeader(b, sec.Fields, sec.Specifier == "HEADER.FIELDS.NOT")
		if p := u.Partial; p != nil {
			start := min(int(p.Offset), len(b))
			b = b[start:]
			if p.Count > 0 {
				b = b[:min(len(b), int(p.Count))]
			}
		}
		if int64(len(b)) > room {
			return nil, no("TOOBIG", "catenated message too large")
		}
	}
	return b, nil
}

// urlMailbox returns the mailbox a URL names, if CATENATE may use it: RFC
// 4469 §3 resolves URLs as the logged-in user against "imap://user@server/"
// (or ".../mailbox/" of the selected mailbox, for ";UID=" URLs), so only
// relative URLs are used and an absolute one (scheme or server given) is
// refused, as the note there says. Mailboxes are looked up in the user's
// own account only: no other user's data can be reached.
func (c *conn) urlMailbox(u *wire.IMAPURL) (string, bool) {
	if u.User != "" || u.Host != "" {
		return "", false
	}
	if u.Mailbox == "" {
		if c.sel == nil {
			return "", false
		}
		return c.sel.mbox.Name, true
	}
	return u.Mailbox, true
}

// urlRespText makes a client's URL fit url-resp-text (RFC 4469 §5 with
// erratum 2002: TEXT-CHAR but "]"), cut to a sane length.
func urlRespText(raw string) string {
	var b strings.Builder
	for i := 0; i < len(raw) && b.Len() < 1024; i++ {
		switch c := raw[i]; c {
		case 0, '\r', '\n', ']', 0xff:
		default:
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}
