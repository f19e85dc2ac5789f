package pop3

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/youju/youju/internal/store"
)

var crlf = []byte("\r\n")

var errNoSuchMessage = &Error{Text: "No such message"}

// cmdStat answers the drop listing (RFC 1939 §5).
func (s *session) cmdStat(cmd Command) error {
	if len(cmd.Args) != 0 {
		return &Error{Text: "STAT takes no arguments", bad: true}
	}
	s.ok(strconv.Itoa(s.drop.count) + " " + strconv.FormatInt(s.drop.size, 10))
	return nil
}

// cmdList answers scan listings (RFC 1939 §5): sizes in octets of the
// CRLF form, exactly what RETR sends before byte-stuffing.
func (s *session) cmdList(cmd Command) error {
	return s.listing(cmd, "LIST", func(b []byte, m *dropMsg) []byte {
		return strconv.AppendInt(b, m.size, 10)
	})
}

// cmdUidl answers unique-id listings (RFC 1939 §7).
func (s *session) cmdUidl(cmd Command) error {
	return s.listing(cmd, "UIDL", s.drop.appendUIDL)
}

// listing is LIST and UIDL: one message, or all not marked deleted as a
// multi-line response.
func (s *session) listing(cmd Command, name string, value func([]byte, *dropMsg) []byte) error {
	d := s.drop
	buf := make([]byte, 0, 128)
	switch len(cmd.Args) {
	case 0:
	case 1:
		n := parseMsgNum(cmd.Args[0])
		m, ok := d.msg(n)
		if !ok {
			return errNoSuchMessage
		}
		buf = append(buf, "+OK "...)
		buf = strconv.AppendInt(buf, int64(n), 10)
		buf = append(buf, ' ')
		buf = append(value(buf, m), "\r\n"...)
		s.w.Write(buf)
		return nil
	default:
		return &Error{Text: name + " takes at most one argument", bad: true}
	}
	if name == "LIST" {
		s.ok(strconv.Itoa(d.count) + " messages (" + strconv.FormatInt(d.size, 10) + " octets)")
	} else {
		s.ok("Unique-ID listing follows")
	}
	for i := range d.msgs {
		m := &d.msgs[i]
		if m.deleted {
			continue
		}
		buf = strconv.AppendInt(buf[:0], int64(i+1), 10)
		buf = append(buf, ' ')
		buf = append(value(buf, m), "\r\n"...)
		if _, err := s.w.Write(buf); err != nil {
			return err
		}
	}
	s.w.WriteString(".\r\n")
	return nil
}

// cmdDele marks a message deleted (RFC 1939 §5); UPDATE removes it.
func (s *session) cmdDele(cmd Command) error {
	if len(cmd.Args) != 1 {
		return &Error{Text: "DELE takes one argument", bad: true}
	}
	n := parseMsgNum(cmd.Args[0])
	if n >= 1 && n <= len(s.drop.msgs) && s.drop.msgs[n-1].deleted {
		return &Error{Text: "Message " + strconv.Itoa(n) + " already deleted"}
	}
	m, ok := s.drop.msg(n)
	if !ok {
		return errNoSuchMessage
	}
	m.deleted = true
	s.drop.count--
	s.drop.size -= m.size
	s.ok("Message " + strconv.Itoa(n) + " deleted")
	return nil
}

// cmdNoop does nothing (RFC 1939 §5).
func (s *session) cmdNoop(cmd Command) error {
	if len(cmd.Args) != 0 {
		return &Error{Text: "NOOP takes no arguments", bad: true}
	}
	s.ok("")
	return nil
}

// cmdRset unmarks every deleted message (RFC 1939 §5).
func (s *session) cmdRset(cmd Command) error {
	if len(cmd.Args) != 0 {
		return &Error{Text: "RSET takes no arguments", bad: true}
	}
	d := s.drop
	d.count, d.size = len(d.msgs), 0
	for i := range d.msgs {
		d.msgs[i].deleted = false
		d.size += d.msgs[i].size
	}
	s.ok("Maildrop has " + strconv.Itoa(d.count) + " messages (" + strconv.FormatInt(d.size, 10) + " octets)")
	return nil
}

// cmdRetr sends a whole message (RFC 1939 §5).
func (s *session) cmdRetr(cmd Command) error {
	if len(cmd.Args) != 1 {
		return &Error{Text: "RETR takes one argument", bad: true}
	}
	n := parseMsgNum(cmd.Args[0])
	m, ok := s.drop.msg(n)
	if !ok {
		return errNoSuchMessage
	}
	if err := s.sendMessage(m, strconv.FormatInt(m.size, 10)+" octets", -1); err != nil {
		return err
	}
	m.retrieved = true
	return nil
}

// cmdTop sends the header and the first lines of the body (RFC 1939 §7).
func (s *session) cmdTop(cmd Command) error {
	if len(cmd.Args) != 2 {
		return &Error{Text: "TOP takes two arguments", bad: true}
	}
	m, ok := s.drop.msg(parseMsgNum(cmd.Args[0]))
	if !ok {
		return errNoSuchMessage
	}
	lines, ok := parseLineCount(cmd.Args[1])
	if !ok {
		return &Error{Text: "Invalid number of lines", bad: true}
	}
	return s.sendMessage(m, "Top of message follows", lines)
}

// readerPool holds the buffers RETR reads messages through, so that a
// connection costs them only while it sends.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}

// sendMessage streams a message from the store, byte-stuffed (RFC 1939 §3).
// bodyLines < 0 sends all of it; otherwise the header and that many body
// lines (TOP). Once "+OK" is out, a failure can only close the connection:
// the client must not take a truncated message for a whole one.
func (s *session) sendMessage(m *dropMsg, okText string, bodyLines int) error {
	b := &s.drop.boxes[m.box]
	mr, err := s.srv.Store.OpenMessage(s.ctx(), s.acct.ID, b.ID, m.uid)
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Text: "Message was removed by another session"}
	}
	if err != nil {
		return tempError(err)
	}
	defer mr.Close()
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(mr)
	defer func() {
		br.Reset(nil)
		readerPool.Put(br)
	}()
	s.ok(okText)
	n, err := writeStuffed(s.w, br, bodyLines)
	mRetrBytes.With().Add(float64(n))
	if err != nil {
		return fmt.Errorf("sending message uid %d of %q: %w", m.uid, b.Name, err)
	}
	if bodyLines < 0 && n != m.size {
		s.log.Warn("pop3: message size differs from index", "mailbox", b.Name, "uid", m.uid, "index", m.size, "sent", n)
	}
	return nil
}

// writeStuffed copies r to w with RFC 1939 §3 byte-stuffing, ends the last
// line and writes the terminating ".". It returns the octets read from r.
// Lines longer than r's buffer are passed through in pieces; only a piece
// at the start of a line is stuffed. bodyLines >= 0 stops after the header
// and that many body lines.
func writeStuffed(w *bufio.Writer, r *bufio.Reader, bodyLines int) (int64, error) {
	var n int64
	atStart, inBody, lines, prevCR := true, false, 0, false
	for !(inBody && bodyLines >= 0 && lines >= bodyLines) {
		chunk, err := r.ReadSlice('\n')
		if len(chunk) > 0 {
			n += int64(len(chunk))
			if atStart && chunk[0] == '.' {
				w.WriteByte('.')
			}
			complete := chunk[len(chunk)-1] == '\n'
			out := chunk
			if complete && !(len(chunk) >= 2 && chunk[len(chunk)-2] == '\r' || len(chunk) == 1 && prevCR) {
				// A bare LF (the store keeps CRLF, so only in damaged
				// data): send CRLF, so the terminator stays unambiguous.
				w.Write(chunk[:len(chunk)-1])
				out = crlf
			}
			if _, werr := w.Write(out); werr != nil {
				return n, werr
			}
			prevCR = chunk[len(chunk)-1] == '\r'
			if complete && bodyLines >= 0 {
				if inBody {
					lines++
				} else if atStart && (len(chunk) == 1 || len(chunk) == 2 && chunk[0] == '\r') {
					inBody = true // the empty line ending the header
				}
			}
			atStart = complete
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return n, err
		}
	}
	if !atStart {
		w.WriteString("\r\n")
	}
	_, err := w.WriteString(".\r\n")
	return n, err
}
