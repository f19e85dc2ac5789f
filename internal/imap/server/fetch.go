package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// cmdFetch answers FETCH and UID FETCH (RFC 9051 §6.4.5), streaming one
// response per message from the index; ENVELOPE and BODYSTRUCTURE come
// from the parse stored at delivery and sections are byte ranges of the
// stored message.
func cmdFetch(c *conn, cmd *wire.Command) error {
	a := cmd.Args.(*wire.FetchArgs)
	uids, err := c.targetUIDs(cmd.UID, a.Set)
	if err != nil || len(uids) == 0 {
		return err
	}
	items := a.Items
	needInfo, setSeen := false, false
	hasUID, hasFlags, hasModSeq := false, false, false
	for _, it := range items {
		switch it.Name {
		case "ENVELOPE", "BODYSTRUCTURE", "BODY", "BINARY", "BINARY.SIZE", "RFC822", "RFC822.TEXT", "RFC822.HEADER":
			needInfo = true
		case "UID":
			hasUID = true
		case "FLAGS":
			hasFlags = true
		case "MODSEQ":
			hasModSeq = true

		}
		if (it.Name == "BODY" || it.Name == "BINARY") && it.Section != nil && !it.Peek || it.Name == "RFC822" || it.Name == "RFC822.TEXT" {
			setSeen = true
		}
	}
	if hasModSeq || a.HasChangedSince {
		c.enableCondstore()
	}
	if a.HasChangedSince && !hasModSeq {
		// RFC 7162 §3.1.4.1: CHANGEDSINCE implies MODSEQ.
		items = append(items, wire.FetchItem{Name: "MODSEQ"})
	}
	if a.Vanished {
		if !c.qresync {
			return bad("", "VANISHED needs ENABLE QRESYNC")
		}
		// RFC 7162 §3.2.6: expunged UIDs of the set, before the FETCHes.
		ch, err := c.srv.Store.Changes(c.ctx, c.acct.ID, c.sel.mbox.ID, store.ModSeq(a.ChangedSince))
		if err != nil {
			return err
		}
		c.writeVanishedEarlier(ch, &a.Set)
	}
	if cmd.UID && !hasUID {
		// RFC 9051 §6.4.9: UID FETCH responses carry the UID.
		items = append([]wire.FetchItem{{Name: "UID"}}, items...)
	}
	if setSeen && !c.sel.readOnly {
		// RFC 9051 §6.4.5: fetching a body sets \Seen; the new flags are
		// returned with the message.
		res, err := c.srv.Store.StoreFlags(c.ctx, c.acct.ID, c.sel.mbox.ID, uids, store.FlagAdd, store.Flags{System: store.FlagSeen}, 0)
		if err != nil {
			return err
		}
		c.sel.noteOwn(res.Changed)
		if !hasFlags {
			items = append(items, wire.FetchItem{Name: "FLAGS"})
		}
	}
	var ed *message.EnvelopeDecoder
	if envelopeOnly(items) {
		ed = new(message.EnvelopeDecoder)
	}
	if bulkFetch(uids) {
		defer c.bulkOutput()()
	}
	return c.fetchMessages(store.ListOptions{UIDs: uids, WithInfo: needInfo, ChangedSince: store.ModSeq(a.ChangedSince)}, items, ed)
}

// fetchMessages writes the FETCH responses of the messages opt selects.
// RFC 9051 §7.5.1, RFC 2180 §4.1: a message another session expunged is in
// this session's view until it is told, and its data is still served (the
// store retains it). Only one gone beyond the retention is skipped: the
// others are answered, then NO [EXPUNGEISSUED] (RFC 5530 §3), as Dovecot
// does.
func (c *conn) fetchMessages(opt store.ListOptions, items []wire.FetchItem, ed *message.EnvelopeDecoder) error {
	opt.Retained = true
	var sent uint64
	gone := false
	err := c.srv.Store.ListMessages(c.ctx, c.acct.ID, c.sel.mbox.ID, opt, func(m *store.Message) error {
		seq, ok := c.sel.uids.seqOf(m.UID)
		if !ok {
			return nil // not announced to this session yet
		}
		sent++
		err := c.fetchOne(seq, m, items, ed)
		if errors.Is(err, errMessageGone) {
			gone = true
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	if gone || (opt.ChangedSince == 0 && sent < c.sel.uids.count(opt.UIDs)) {
		return no("EXPUNGEISSUED", "some of the messages no longer exist")
	}
	return nil
}

// errMessageGone is returned by fetchOne for a message whose bytes are
// gone (expunged and no longer retained); nothing of it was written.
var errMessageGone = errors.New("message expunged")

// needsReader reports whether an item is answered from the message bytes.
func needsReader(items []wire.FetchItem) bool {
	for _, it := range items {
		switch it.Name {
		case "BINARY", "BINARY.SIZE", "RFC822", "RFC822.HEADER", "RFC822.TEXT":
			return true
		case "BODY":
			if it.Section != nil {
				return true
			}
		}
	}
	return false
}

// cutResponse ends a session whose response failed after it began: an
// untagged response is never followed by anything but its own end (RFC
// 9051 §2.2.2), and a tagged NO inside it would be read as data. The
// broken line is ended and a BYE sent, as after a panic; the client
// reconnects and fetches again.
func (c *conn) cutResponse(err error) error {
	c.logger().Error("FETCH response cut short; closing the connection", "err", err)
	if c.w.Err() == nil {
		c.w.CRLF()
		c.bye("internal server error")
	}
	c.state = stateLogout
	return err
}

// targetUIDs converts the set of a command to UIDs of the session's view.
// Sequence numbers beyond the mailbox are a client error (RFC 9051 §9).
func (c *conn) targetUIDs(uid bool, set wire.SeqSet) (store.UIDSet, error) {
	if set.Saved {
		// RFC 5182 §2.1: "$" is the saved result, less what was expunged
		// since (the store skips those).
		return c.sel.saved, nil
	}
	if uid {
		return c.sel.uids.uidsToSet(set), nil
	}
	// A range with "*" is always valid ("1:*" of an empty mailbox is
	// empty, as clients expect); plain numbers must exist.
	n := c.sel.uids.len()
	for _, r := range set.Ranges {
		if r.Lo != wire.Star && r.Hi != wire.Star && (r.Lo > n || r.Hi > n) {
			return nil, bad("", "invalid message sequence number")
		}
	}
	return c.sel.uids.seqsToUIDs(set), nil
}

// bulkFetch reports whether a FETCH is long enough to be written through
// a large output buffer: more than a few hundred messages.
func bulkFetch(uids store.UIDSet) bool {
	n := uint64(0)
	for _, r := range uids {
		n += uint64(r.Hi - r.Lo + 1)
		if n > 256 {
			return true
		}
	}
	return false
}

// envelopeOnly reports whether ENVELOPE is the only item that needs the
// stored parse, so that only the envelope need be decoded.
func envelopeOnly(items []wire.FetchItem) bool {
	env := false
	for _, it := range items {
		switch it.Name {
		case "ENVELOPE":
			env = true
		case "UID", "FLAGS", "INTERNALDATE", "MODSEQ", "SAVEDATE", "RFC822.SIZE":
		default:
			return false
		}
	}
	return env
}

// fetchOne writes the FETCH response of one message. With ed, only the
// envelope of the stored parse is decoded (see envelopeOnly). Everything
// that can fail (decoding, opening the bytes) is done before the first
// byte of the response: a message that cannot be answered is skipped
// whole (errMessageGone) or fails the command before its response began.
func (c *conn) fetchOne(seq uint32, m *store.Message, items []wire.FetchItem, ed *message.EnvelopeDecoder) error {
	c.announceKeywordsOf(m.Flags.Keywords) // one set since the last update (keywords.go)
	var info *message.Info
	var env message.Envelope
	switch {
	case m.Info == nil:
	case ed != nil:
		if err := ed.Decode(m.Info, &env); err != nil {
			return fmt.Errorf("message %d info: %w", m.UID, err)
		}
	default:
		var err error
		if info, err = message.UnmarshalInfo(m.Info); err != nil {
			return fmt.Errorf("message %d info: %w", m.UID, err)
		}
		env = info.Envelope
	}
	var rd store.MessageReader
	defer func() {
		if rd != nil {
			rd.Close()
		}
	}()
	if err := checkBinary(info, items); err != nil {
		return err
	}
	if needsReader(items) {
		var err error
		rd, err = c.srv.Store.OpenMessageWith(c.ctx, c.acct.ID, c.sel.mbox.ID, m.UID, store.OpenOptions{Retained: true})
		if errors.Is(err, store.ErrNotFound) {
			return errMessageGone
		}
		if err != nil {
			return err
		}
	}
	if err := c.writeFetch(seq, m, items, info, &env, rd); err != nil {
		if c.w.Err() != nil {
			// The writer is dead (the client is gone, or a literal's
			// bytes could not be read after it was announced): it writes
			// nothing more and the connection ends.
			return err
		}
		return c.cutResponse(err)
	}
	return nil
}

// writeFetch writes "* seq FETCH (...)" from what fetchOne prepared.
func (c *conn) writeFetch(seq uint32, m *store.Message, items []wire.FetchItem, info *message.Info, env *message.Envelope, rd store.MessageReader) error {
	w := c.w
	w.Raw("* ").Number(uint64(seq)).Raw(" FETCH (")
	for i, it := range items {
		if i > 0 {
			w.SP()
		}
		switch it.Name {
		case "UID":
			w.Raw("UID ").Number(uint64(m.UID))
		case "FLAGS":
			w.Raw("FLAGS ")
			c.writeFlags(&m.Flags, m.UID)
		case "INTERNALDATE":
			w.Raw("INTERNALDATE ").DateTime(m.InternalDate)
		case "MODSEQ":
			w.Raw("MODSEQ (").Number(uint64(m.ModSeq)).Byte(')')
		case "SAVEDATE":
			// RFC 8514 §4.1
			if m.SaveDate.IsZero() {
				w.Raw("SAVEDATE NIL")
			} else {
				w.Raw("SAVEDATE ").DateTime(m.SaveDate)
			}
		case "RFC822.SIZE":
			w.Raw("RFC822.SIZE ").Number(uint64(m.Size))
		case "ENVELOPE":
			w.Raw("ENVELOPE ")
			c.writeEnvelope(env)
		case "BODYSTRUCTURE":
			w.Raw("BODYSTRUCTURE ")
			c.writeBody(&info.Body, true)
		default:
			if it.Name == "BODY" && it.Section == nil {
				w.Raw("BODY ")
				c.writeBody(&info.Body, false)
				continue
			}
			if err := c.writeSection(rd, info, it); err != nil {
				return err
			}
		}
	}
	w.Raw(")").CRLF()
	return w.Err()
}

// writeSection writes BODY[...], BINARY[...], BINARY.SIZE[...] and the
// RFC822 forms.
func (c *conn) writeSection(rd store.MessageReader, info *message.Info, it wire.FetchItem) error {
	w := c.w
	var sec wire.Section
	label := it.Name
	switch it.Name {
	case "RFC822":
	case "RFC822.HEADER":
		sec.Specifier = "HEADER"
	case "RFC822.TEXT":
		sec.Specifier = "TEXT"
	default:
		sec = *it.Section
		label = it.Name + "[" + sec.String() + "]"
	}
	p, off, n, ok := locateSection(info, &sec)
	if it.Name == "BINARY" || it.Name == "BINARY.SIZE" {
		return c.writeBinary(rd, p, off, n, ok, it, label)
	}
	var data io.Reader = io.NewSectionReader(rd, off, n)
	if ok && strings.HasPrefix(sec.Specifier, "HEADER.FIELDS") {
		hdr := make([]byte, n)
		if _, err := rd.ReadAt(hdr, off); err != nil && err != io.EOF {
			return err
		}
		hdr = filterHeader(hdr, sec.Fields, sec.Specifier == "HEADER.FIELDS.NOT")
		data, n = bytes.NewReader(hdr), int64(len(hdr))
	}
	if !ok {
		data, n = strings.NewReader(""), 0
	}
	if it.Partial != nil {
		// RFC 9051 §6.4.5: <origin> is echoed; the data is clipped.
		label += fmt.Sprintf("<%d>", it.Partial.Offset)
		start := min(int64(it.Partial.Offset), n)
		io.CopyN(io.Discard, data, start)
		n = min(n-start, int64(it.Partial.Count))
	}
	w.Raw(label).SP().Literal(n, data, false)
	return nil
}

// writeBinary answers BINARY and BINARY.SIZE (RFC 3516 §4.2, RFC 9051
// §6.4.5): a leaf part with its content transfer encoding undone; the
// whole message ("BINARY[]"), a multipart or a message/rfc822 part as
// stored, since a composite entity is 7bit, 8bit or binary by rule (RFC
// 2045 §6.4) and has nothing to decode. Data with a NUL octet goes as a
// literal8 (RFC 3516 §4.2; RFC 9051 §4.3: a plain literal cannot hold NUL).
func (c *conn) writeBinary(rd store.MessageReader, p *message.Part, off, n int64, ok bool, it wire.FetchItem, label string) error {
	if !ok {
		c.w.Raw(label).Raw(" NIL")
		return nil
	}
	decode := decodesBinary(p, it.Section)
	var data []byte
	if decode {
		raw := make([]byte, n)
		if _, err := rd.ReadAt(raw, off); err != nil && err != io.EOF {
			return err
		}
		data = message.DecodeTransfer(p.Encoding, raw)
		off, n = 0, int64(len(data))
	}
	if it.Name == "BINARY.SIZE" {
		c.w.Raw(label).SP().Number(uint64(n))
		return nil
	}
	if it.Partial != nil {
		// RFC 3516 §4.2: the origin counts octets of the decoded data.
		label += fmt.Sprintf("<%d>", it.Partial.Offset)
		start := min(int64(it.Partial.Offset), n)
		off, n = off+start, min(n-start, int64(it.Partial.Count))
	}
	if decode {
		data = data[off : off+n]
		c.w.Raw(label).SP().Literal(n, bytes.NewReader(data), bytes.IndexByte(data, 0) >= 0)
		return nil
	}
	nul, err := hasNUL(rd, off, n)
	if err != nil {
		return err
	}
	c.w.Raw(label).SP().Literal(n, io.NewSectionReader(rd, off, n), nul)
	return nil
}

// decodesBinary reports whether BINARY[sec] is decoded: only a leaf
// part's body is, when base64 or quoted-printable; "BINARY[]" is the whole
// message as stored.
func decodesBinary(p *message.Part, sec *wire.Section) bool {
	if len(sec.Part) == 0 || len(p.Parts) > 0 || p.Message != nil {
		return false
	}
	e := strings.ToLower(strings.TrimSpace(p.Encoding))
	return e == "base64" || e == "quoted-printable"
}

// hasNUL reports whether the n octets at off contain a NUL, reading them
// in pieces so that a large part is not held in memory.
func hasNUL(rd io.ReaderAt, off, n int64) (bool, error) {
	buf := make([]byte, min(n, 32<<10))
	for n > 0 {
		m, err := rd.ReadAt(buf[:min(n, int64(len(buf)))], off)
		if bytes.IndexByte(buf[:m], 0) >= 0 {
			return true, nil
		}
		if err != nil && err != io.EOF {
			return false, err
		}
		if m == 0 {
			return false, nil
		}
		off, n = off+int64(m), n-int64(m)
	}
	return false, nil
}

// checkBinary fails BINARY fetches the server cannot decode before any
// of the response is written (RFC 3516 §4.3: NO [UNKNOWN-CTE]). Only a
// leaf part is decoded, so only a leaf's encoding can be unknown.
func checkBinary(info *message.Info, items []wire.FetchItem) error {
	for _, it := range items {
		if it.Name != "BINARY" && it.Name != "BINARY.SIZE" || len(it.Section.Part) == 0 {
			continue
		}
		p, _, _, ok := locateSection(info, it.Section)
		if !ok || len(p.Parts) > 0 || p.Message != nil {
			continue
		}
		if !message.KnownTransfer(p.Encoding) {
			return no("UNKNOWN-CTE", "unknown content transfer encoding")
		}
	}
	return nil
}

// locateSection finds the bytes of a section (RFC 9051 §6.4.5): the part
// named by the path, then the specifier. ok is false for a part that does
// not exist (answered with an empty string, as common servers do).
func locateSection(info *message.Info, sec *wire.Section) (p *message.Part, off, n int64, ok bool) {
	p = &info.Body
	for i, num := range sec.Part {
		if i > 0 && p.Message != nil {
			p = p.Message // into the encapsulated message
		}
		switch {
		case len(p.Parts) > 0:
			if int(num) > len(p.Parts) {
				return nil, 0, 0, false
			}
			p = &p.Parts[num-1]
		case num != 1:
			return nil, 0, 0, false
		}
	}
	switch sec.Specifier {
	case "":
		if len(sec.Part) == 0 {
			return p, 0, info.Size, true
		}
		return p, p.BodyOffset, p.Size, true
	case "MIME":
		return p, p.HeaderOffset, p.HeaderSize(), true
	}
	// HEADER, HEADER.FIELDS[.NOT], TEXT: of the message, or of the
	// encapsulated message of a message/rfc822 part.
	msg := p
	if len(sec.Part) > 0 {
		if p.Message == nil {
			return nil, 0, 0, false
		}
		msg = p.Message
	}
	if sec.Specifier == "TEXT" {
		return msg, msg.BodyOffset, msg.Size, true
	}
	return msg, msg.HeaderOffset, msg.HeaderSize(), true
}

// filterHeader keeps (or, with not, drops) the fields named in names
// (upper-case), continuation lines included, and ends with the blank line
// (RFC 9051 §6.4.5 HEADER.FIELDS).
func filterHeader(hdr []byte, names []string, not bool) []byte {
	var out bytes.Buffer
	keep := false
	sc := bufio.NewScanner(bytes.NewReader(hdr))
	sc.Buffer(make([]byte, 0, 4096), len(hdr)+1)
	sc.Split(scanCRLFLines)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		if line[0] != ' ' && line[0] != '\t' {
			name := line
			if i := bytes.IndexByte(line, ':'); i >= 0 {
				name = line[:i]
			}
			in := false
			for _, n := range names {
				if strings.EqualFold(strings.TrimSpace(string(name)), n) {
					in = true
					break
				}
			}
			keep = in != not
		}
		if keep {
			out.Write(line)
		}
	}
	out.WriteString("\r\n")
	return out.Bytes()
}

// scanCRLFLines splits keeping the line endings.
func scanCRLFLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i+1], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}
