package smtpd

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/emersion/go-smtp"
)

// Fast DATA for plain connections.
//
// go-smtp reads the DATA block one byte at a time through its own
// dot-unstuffing state machine, which costs more CPU than everything else
// a message needs. Its reader sits on a bufio.Reader we cannot reach, so
// the trick is below it: on a plain connection, lineConn hands go-smtp at
// most one line per Read (it stops after every LF). go-smtp's buffer is
// therefore empty whenever it has just read a command line, in particular
// right after "DATA": the message is still entirely in lineConn, where
// dataReader reads it in large chunks with the same state machine.
// Afterwards lineConn gives go-smtp a lone ".\r\n" so that go-smtp's own
// drain of its (unused) reader ends at once and the command loop goes on
// with the bytes after the message.
//
// Only CRLF.CRLF ends DATA (RFC 5321 §4.1.1.4, §4.5.2; SMTP smuggling):
// the state machine is go-smtp's, byte for byte, which
// FuzzDataReaderMatchesGoSMTP checks through real connections.
//
// lineConn also watches the lines it hands out for STARTTLS, to drop what
// the client pipelined behind it (RFC 3207 §4.2: go-smtp drops its own
// buffer then), and for BDAT, whose chunk bytes are data, not commands.
// Under TLS (STARTTLS or implicit) none of this applies: go-smtp reads
// through crypto/tls and its own reader is used.

// Read buffer sizes of a plain connection: small for commands, larger
// once it sends a DATA block (fewer reads per message).
const (
	lineConnBuf = 4 << 10
	dataConnBuf = 32 << 10
)

// lineConn is the plain-connection side of a trackedConn. Only go-smtp's
// connection goroutine reads a connection (the BDAT Data goroutine reads
// a pipe), so reading needs no lock; held replies (out) have one.
//
// It recognises commands the way go-smtp's parseCmd does. A line that is
// not a command but looks like one (a SASL response starting with
// "STARTTLS") can only cost the fast path, and bytes pipelined behind
// it, which RFC 4954 §4 does not allow anyway.
type lineConn struct {
	conn   net.Conn
	buf    []byte
	r, w   int
	err    error  // sticky: the connection is dead for go-smtp too
	inject []byte // handed to go-smtp before anything else
	pass   bool   // after STARTTLS: plain reads, no line splitting

	line    []byte // the command line being handed out, up to maxLine
	long    bool   // the line is longer than maxLine (go-smtp refuses it)
	maxLine int
	payload int64 // BDAT chunk bytes still to hand out
	data    bool  // the last line handed out was DATA
	tls     bool  // STARTTLS is offered

	// out holds replies until the connection is about to wait for the
	// client (RFC 2920 §3.1: a server may batch the replies to pipelined
	// commands, and must send them before it blocks on input). go-smtp
	// flushes every reply line on its own. mu: Close may come from
	// another goroutine (Shutdown).
	mu  sync.Mutex
	out []byte
}

// maxHeldReplies bounds out.
const maxHeldReplies = 16 << 10

// hold keeps b to send with the next flush; false means write now.
func (l *lineConn) hold(b []byte) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pass || len(l.out)+len(b) > maxHeldReplies {
		return false
	}
	l.out = append(l.out, b...)
	return true
}

// flush sends the held replies.
func (l *lineConn) flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.out) == 0 {
		return nil
	}
	_, err := l.conn.Write(l.out)
	l.out = l.out[:0]
	return err
}

func newLineConn(c net.Conn, starttls bool, maxLine int) *lineConn {
	return &lineConn{conn: c, tls: starttls, maxLine: max(maxLine, 512)}
}

// fill reads from the network into an empty buffer.
func (l *lineConn) fill(size int) error {
	if err := l.flush(); err != nil {
		return err
	}
	if len(l.buf) < size {
		l.buf = make([]byte, size) // empty: nothing to carry over
	}
	l.r, l.w = 0, 0
	for {
		n, err := l.conn.Read(l.buf)
		if n > 0 {
			l.w = n
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Read hands go-smtp the buffered bytes up to the end of a line (or of a
// BDAT chunk).
func (l *lineConn) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if len(l.inject) > 0 {
		n := copy(p, l.inject)
		l.inject = l.inject[n:]
		return n, nil
	}
	if l.r == l.w {
		if l.pass {
			if err := l.flush(); err != nil {
				return 0, err
			}
			return l.conn.Read(p)
		}
		if err := l.fill(lineConnBuf); err != nil {
			return 0, err
		}
	}
	avail := l.buf[l.r:l.w]
	if l.pass {
		n := copy(p, avail)
		l.r += n
		return n, nil
	}
	if l.payload > 0 {
		n := copy(p, avail[:min(int64(len(avail)), l.payload)])
		l.r += n
		l.payload -= int64(n)
		return n, nil
	}
	end := len(avail)
	if i := bytes.IndexByte(avail, '\n'); i >= 0 {
		end = i + 1
	}
	n := copy(p, avail[:end])
	l.r += n
	l.saw(avail[:n])
	return n, nil
}

// saw notes a piece of a command line handed out; at its end, the line
// decides what comes next (go-smtp's parseCmd: STARTTLS by prefix, DATA
// alone, BDAT with a size).
func (l *lineConn) saw(b []byte) {
	if len(l.line)+len(b) <= l.maxLine+2 {
		l.line = append(l.line, b...)
	} else {
		l.long = true
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return
	}
	line := strings.TrimRight(string(l.line), "\r\n")
	whole := !l.long
	l.line, l.long = l.line[:0], false
	l.data = whole && strings.EqualFold(line, "DATA")
	switch {
	case len(line) >= 8 && strings.EqualFold(line[:8], "STARTTLS"):
		if l.tls {
			// go-smtp starts the handshake next, with an empty buffer.
			l.pass = true
			l.r, l.w = 0, 0
		}
	case whole && len(line) > 5 && strings.EqualFold(line[:5], "BDAT "):
		// go-smtp reads the chunk unless the arguments are malformed.
		args := strings.Fields(line[5:])
		if len(args) == 0 || len(args) > 2 || len(args) == 2 && !strings.EqualFold(args[1], "LAST") {
			return
		}
		if size, err := strconv.ParseUint(args[0], 10, 32); err == nil {
			l.payload = int64(size)
		}
	}
}

// fastData returns a reader of the DATA block that follows, if go-smtp has
// just read the DATA command through l (nothing of the message in its
// buffer).
func (l *lineConn) fastData(maxBytes int64, maxLine int) *dataReader {
	if l == nil || l.pass || !l.data || l.err != nil || len(l.inject) > 0 {
		return nil
	}
	l.data = false
	// go-smtp's line counter has just seen the LF of "DATA\r\n", which it
	// counts as the next line's first byte.
	return &dataReader{l: l, max: maxBytes, maxLine: maxLine, line: 1}
}

// States of go-smtp's DATA state machine (data.go), same transitions.
const (
	stBeginLine = iota
	stDot
	stDotCR
	stCR
	stData
	stEOF
)

// dataReader reads one DATA block from a lineConn: dot-unstuffed, CRLF
// kept, ended only by CRLF.CRLF.
type dataReader struct {
	l       *lineConn
	state   int
	out     int64 // bytes returned
	max     int64 // MaxMessageBytes, 0 = none
	maxLine int   // MaxLineLength, 0 = none
	line    int   // go-smtp's lineLimitReader count
	err     error
	// bare: a CR or LF not in a CRLF pair was read (or may have been:
	// the rare dot-stuffing cases are counted as bare), seen on the way
	// by the scans that find line ends anyway. prevCR: the last byte
	// read was CR.
	bare, prevCR bool
}

// crlf reports whether the whole block was read and has no bare CR or
// LF: message.NormalizeCRLF would return it unchanged, and need not
// scan it again. Without a line limit its LFs were not looked at.
func (d *dataReader) crlf() bool {
	return d.state == stEOF && !d.bare && d.maxLine > 0
}

func (d *dataReader) Read(p []byte) (int, error) {
	if d.state == stEOF {
		return 0, io.EOF
	}
	if d.err != nil {
		return 0, d.err
	}
	if d.max > 0 {
		// go-smtp fails once max bytes are out and more is asked for.
		if d.out >= d.max {
			return 0, smtp.ErrDataTooLarge
		}
		p = p[:min(int64(len(p)), d.max-d.out)]
	}
	n := 0
	for n < len(p) && d.state != stEOF {
		l := d.l
		if l.r == l.w {
			if n > 0 {
				break // return what we have before blocking
			}
			if err := l.fill(dataConnBuf); err != nil {
				// The connection failed: go-smtp sees the same error
				// next, as it would from the network.
				l.err = err
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				d.err = err
				return 0, err
			}
		}
		k, m := d.scan(p[n:], l.buf[l.r:l.w])
		if err := d.checkLines(l.buf[l.r : l.r+k]); err != nil {
			// go-smtp's line limit is fatal to the connection.
			d.err, l.err = err, err
			return 0, err
		}
		l.r += k
		n += m
	}
	d.out += int64(n)
	if d.state == stEOF {
		return n, io.EOF
	}
	return n, nil
}

// checkLines applies go-smtp's lineLimitReader to the bytes of the block
// (it counts the LF as the first byte of the next line).
//
// It also notes a LF not preceded by CR (bare). A dot that unstuffing
// removes never stands between a CR and a LF, so a LF of the block read
// ends a CRLF pair exactly when it does in what Read returns.
func (d *dataReader) checkLines(b []byte) error {
	if d.maxLine <= 0 || len(b) == 0 {
		return nil
	}
	prevCR := d.prevCR
	d.prevCR = b[len(b)-1] == '\r'
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			d.line += len(b)
			break
		}
		if d.line+i > d.maxLine {
			return smtp.ErrTooLongLine
		}
		if i > 0 && b[i-1] != '\r' || i == 0 && !prevCR {
			d.bare = true
		}
		prevCR = false
		d.line = 1
		b = b[i+1:]
	}
	if d.line > d.maxLine {
		return smtp.ErrTooLongLine
	}
	return nil
}

// scan runs the state machine over in, writing to out; it returns the
// bytes consumed and produced. Runs of plain data are copied whole.
func (d *dataReader) scan(out, in []byte) (consumed, produced int) {
	i, n := 0, 0
	for i < len(in) && n < len(out) && d.state != stEOF {
		if d.state == stData {
			run := in[i:]
			if len(run) > len(out)-n {
				run = run[:len(out)-n]
			}
			j := bytes.IndexByte(run, '\r')
			if j < 0 {
				n += copy(out[n:], run)
				i += len(run)
				continue
			}
			n += copy(out[n:], run[:j+1])
			i += j + 1
			d.state = stCR
			continue
		}
		c := in[i]
		i++
		switch d.state {
		case stBeginLine:
			if c == '.' {
				d.state = stDot
				continue
			}
			d.state = stData
			if c == '\r' {
				d.state = stCR
			}
		case stDot:
			if c == '\r' {
				d.state = stDotCR
				continue
			}
			d.state = stData
		case stDotCR:
			if c == '\n' {
				d.state = stEOF
				continue
			}
			d.bare = true // a CR not before LF (dropped or not)
			d.state = stData
		case stCR:
			d.state = stData
			if c == '\n' {
				d.state = stBeginLine
			} else {
				d.bare = true // every CR read passes here or stDotCR
			}
		}
		out[n] = c
		n++
	}
	return i, n
}

// finish consumes the rest of the block after an early stop (size limit,
// budget) so that the next command is read where the client sent it,
// and lets go-smtp's drain of its own reader end at once. If the block
// cannot be read to its end, the connection is dead for go-smtp too.
func (d *dataReader) finish() {
	var scratch [4096]byte
	d.max = 0
	if d.err != nil {
		if d.l.err == nil {
			d.l.err = d.err
		}
		return
	}
	for d.state != stEOF {
		if _, err := d.Read(scratch[:]); err != nil && err != io.EOF {
			if d.l.err == nil {
				d.l.err = err
			}
			return
		}
	}
	d.l.inject = []byte(".\r\n")
}
