package importer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/youju/youju/internal/store"
)

// Message is one message read from a source.
type Message struct {
	Folder       string // source folder, UTF-8, '/'-separated ("" = INBOX)
	SpecialUse   string // the source's special-use attribute, if it has one
	Data         []byte
	InternalDate time.Time // zero = unknown (the store takes "now")
	Flags        store.Flags
}

// MboxQuoting says how "From " lines inside bodies were escaped.
type MboxQuoting int

const (
	// MboxRD (the default): every ">*From " line had one ">" added, so
	// one is removed from each (mboxrd).
	MboxRD MboxQuoting = iota
	// MboxO: only "From " became ">From "; ">>From " stays as it is.
	MboxO
)

// MboxOptions are the options of ReadMbox.
type MboxOptions struct {
	Folder  string
	Quoting MboxQuoting
	// MaxMessage bounds one message (0 = 64 MiB); a larger one is skipped
	// (counted in the result) rather than held in memory.
	MaxMessage int
}

// maxLine bounds a line we look at as a whole; longer lines are passed
// through in pieces (they cannot be From_ lines that matter).
const maxLine = 64 << 10

// fromLine matches a separator "From SENDER DATE" whose date is asctime(3)
// like ("Mon Jan  2 15:04:05 2006", sometimes with a zone): a body line
// "From the start, ..." does not match, so unquoted mboxo/mboxcl bodies
// are not cut apart.
var fromLine = regexp.MustCompile(`^From \S+ +(?:[A-Za-z]{3},? +)?[A-Za-z]{3} +\d{1,2} +\d{1,2}:\d\d(?::\d\d)?(?: +[A-Z+\-0-9]+)? +\d{4}(?: +[+\-]\d{4})?\s*$`)

// MboxStats are the counts of ReadMbox.
type MboxStats struct {
	Messages  int // given to fn
	Oversized int // skipped: larger than MaxMessage
}

// ReadMbox splits an mbox file (mboxo, mboxrd, mboxcl/cl2: Content-Length
// is not trusted, RFC 4155 §2) into messages and calls fn for each with
// its flags (Status, X-Status, X-Keywords as Dovecot, mutt and
// Thunderbird write them) and INTERNALDATE (the From_ line's date, else
// the Date field). Those mbox-only fields are removed from the message.
// Lines may end in LF or CRLF. Memory is bounded by MaxMessage.
func ReadMbox(r io.Reader, opt MboxOptions, fn func(Message) error) (MboxStats, error) {
	if opt.MaxMessage <= 0 {
		opt.MaxMessage = 64 << 20
	}
	var st MboxStats
	br := bufio.NewReaderSize(r, maxLine)
	var cur []byte
	var from string
	started, oversized, prevBlank, lineStart := false, false, true, true
	flush := func() error {
		if !started {
			return nil
		}
		if oversized {
			st.Oversized++
			return nil
		}
		// The blank line before the next From_ belongs to the separator.
		cur = trimOneBlankLine(cur)
		m := parseMboxMessage(cur, from)
		m.Folder = opt.Folder
		st.Messages++
		return fn(m)
	}
	for {
		line, full, err := readLine(br)
		if len(line) > 0 {
			isFrom := lineStart && full && bytes.HasPrefix(line, []byte("From "))
			// The first From_ line of a file is a separator whatever its
			// date looks like; later ones must follow a blank line and
			// look like one.
			if isFrom && (!started || prevBlank && fromLine.Match(bytes.TrimRight(line, "\r\n"))) {
				if err := flush(); err != nil {
					return st, err
				}
				started, oversized, cur = true, false, cur[:0]
				from = string(bytes.TrimRight(line, "\r\n"))
				prevBlank, lineStart = false, true
				continue
			}
			if !started {
				// Text before the first From_ line: not an mbox, or junk.
				if !bytes.Equal(bytes.TrimRight(line, "\r\n"), nil) {
					return st, fmt.Errorf("mbox: no From_ line at the start")
				}
				continue
			}
			if lineStart && full {
				line = unquoteFrom(line, opt.Quoting)
			}
			if !oversized {
				if len(cur)+len(line) > opt.MaxMessage {
					oversized, cur = true, cur[:0]
				} else {
					cur = append(cur, line...)
				}
			}
			prevBlank = lineStart && full && len(bytes.TrimRight(line, "\r\n")) == 0
			lineStart = full
		}
		if err == io.EOF {
			return st, flush()
		}
		if err != nil {
			return st, err
		}
	}
}

// readLine returns the next line with its ending; full is false for a
// piece of a line longer than the buffer (or the last line without LF that
// is a continuation).
func readLine(br *bufio.Reader) (line []byte, full bool, err error) {
	line, err = br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return line, false, nil
	}
	return line, true, err
}

// unquoteFrom removes the quoting of a ">From " line.
func unquoteFrom(line []byte, q MboxQuoting) []byte {
	if len(line) < 6 || line[0] != '>' {
		return line
	}
	i := 0
	for i < len(line) && line[i] == '>' {
		i++
	}
	if !bytes.HasPrefix(line[i:], []byte("From ")) {
		return line
	}
	if q == MboxO && i != 1 {
		return line
	}
	return line[1:]
}

// trimOneBlankLine removes one trailing empty line (LF or CRLF).
func trimOneBlankLine(b []byte) []byte {
	switch {
	case bytes.HasSuffix(b, []byte("\r\n\r\n")):
		return b[:len(b)-2]
	case bytes.HasSuffix(b, []byte("\n\n")):
		return b[:len(b)-1]
	case bytes.HasSuffix(b, []byte("\n\r\n")):
		return b[:len(b)-2]
	}
	return b
}

// mboxFields are the header fields mbox writers add for their own use;
// they are read for flags and removed (Dovecot hides them too).
var mboxFields = map[string]bool{
	"status": true, "x-status": true, "x-keywords": true, "x-uid": true,
	"x-imap": true, "x-imapbase": true, "content-length": true,
}

// parseMboxMessage takes the flags and dates out of a message's header.
func parseMboxMessage(raw []byte, from string) Message {
	m := Message{InternalDate: fromLineDate(from)}
	hdrEnd := headerEnd(raw)
	var kept bytes.Buffer
	kept.Grow(len(raw))
	var date string
	eachField(raw[:hdrEnd], func(field []byte) {
		name, value, _ := strings.Cut(string(field), ":")
		lname := strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if !mboxFields[lname] {
			kept.Write(field)
			if lname == "date" {
				date = value
			}
			return
		}
		switch lname {
		case "status", "x-status":
			m.Flags.System |= statusFlags(value)
		case "x-keywords":
			m.Flags.Keywords = addKeywords(m.Flags.Keywords, value)
		}
	})
	kept.Write(raw[hdrEnd:])
	m.Data = kept.Bytes()
	if m.InternalDate.IsZero() && date != "" {
		if t, err := mail.ParseDate(date); err == nil {
			m.InternalDate = t
		}
	}
	return m
}

// statusFlags maps the letters of Status and X-Status (as mutt, pine and
// Dovecot write them): R read, A answered, F flagged, D deleted, T draft.
// O (old: not \Recent) has no counterpart; unknown letters are ignored.
func statusFlags(v string) store.SysFlags {
	var f store.SysFlags
	for _, c := range v {
		switch c {
		case 'R':
			f |= store.FlagSeen
		case 'A':
			f |= store.FlagAnswered
		case 'F':
			f |= store.FlagFlagged
		case 'D':
			f |= store.FlagDeleted
		case 'T':
			f |= store.FlagDraft
		}
	}
	return f
}

// addKeywords adds the keywords of an X-Keywords value (comma or space
// separated), keeping only valid IMAP atoms (RFC 9051 §9 flag-keyword).
func addKeywords(kws []string, v string) []string {
	for _, k := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if store.ValidKeyword(k) {
			kws = append(kws, k)
		}
	}
	return kws
}

// validKeyword reports whether k is an atom usable as an IMAP keyword.
// headerEnd returns the offset of the blank line that ends the header
// (the body starts after it), or len(raw).
func headerEnd(raw []byte) int {
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\n')
		if j < 0 {
			return len(raw)
		}
		line := raw[i : i+j+1]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return i
		}
		i += j + 1
	}
	return len(raw)
}

// eachField calls fn with each header field, continuation lines included.
func eachField(hdr []byte, fn func([]byte)) {
	start := 0
	for i := 0; i < len(hdr); {
		j := bytes.IndexByte(hdr[i:], '\n')
		next := len(hdr)
		if j >= 0 {
			next = i + j + 1
		}
		if next < len(hdr) && (hdr[next] == ' ' || hdr[next] == '\t') {
			i = next
			continue
		}
		fn(hdr[start:next])
		start, i = next, next
	}
}

// fromLineDate parses the asctime date at the end of a From_ line.
func fromLineDate(from string) time.Time {
	f := strings.Fields(from)
	if len(f) < 3 {
		return time.Time{}
	}
	s := strings.Join(f[2:], " ")
	for _, layout := range []string{"Mon Jan 2 15:04:05 2006", "Mon Jan 2 15:04:05 MST 2006",
		"Mon Jan 2 15:04:05 2006 -0700", "Mon, Jan 2 15:04:05 2006", "Mon Jan 2 15:04 2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// WriteMboxRD writes m as one mboxrd entry (used by export and by tests):
// a From_ line, the message with every ">*From " line quoted, a blank line.
func WriteMboxRD(w io.Writer, sender string, date time.Time, data []byte) error {
	if sender == "" {
		sender = "MAILER-DAEMON"
	}
	if date.IsZero() {
		date = time.Unix(0, 0)
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "From %s %s\n", sender, date.UTC().Format("Mon Jan _2 15:04:05 2006"))
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		line := data
		if i >= 0 {
			line = data[:i+1]
		}
		data = data[len(line):]
		j := 0
		for j < len(line) && line[j] == '>' {
			j++
		}
		if bytes.HasPrefix(line[j:], []byte("From ")) {
			bw.WriteByte('>')
		}
		bw.Write(line)
		if i < 0 {
			bw.WriteByte('\n')
		}
	}
	bw.WriteByte('\n')
	return bw.Flush()
}
