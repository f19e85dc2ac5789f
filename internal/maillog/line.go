package maillog

import (
	"context"
	"log/slog"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxExtra is the most keys an event adds after Keys (deferred: relay,
// attempts, next).
const maxExtra = 3

// Line is one mail log line before it is formatted: what write hands to
// a LineHandler instead of an slog.Record. It is passed by value: a
// pointer given to an interface method would put every line on the heap.
type Line struct {
	Time time.Time // when it was logged (a zero Time is left out, as slog does)

	// The values of Keys, in order; To is joined with commas, Code is
	// as written ("550 5.1.1").
	Event, ID, QID, From, To, Remote, Proto, User, Code, Text string
	Size                                                      int64

	extra  [maxExtra]slog.Attr // the event's own keys, after Keys (Extra)
	nExtra int
}

// A LineHandler is an slog.Handler that takes mail log lines as they are,
// without the slog.Record (and its attributes) the line would otherwise
// be made into. HandleLine is called only when Enabled(ctx,
// slog.LevelInfo) is true, and writes what Handle would of l.Record().
type LineHandler interface {
	slog.Handler
	HandleLine(ctx context.Context, l Line) error
}

// Extra returns the keys the event adds after Keys.
func (l *Line) Extra() []slog.Attr { return l.extra[:l.nExtra] }

// Attrs calls f on each attribute of the line in order, Keys then Extra,
// until f returns false (as slog.Record.Attrs).
func (l *Line) Attrs(f func(slog.Attr) bool) {
	for _, a := range [...]slog.Attr{
		slog.String("event", l.Event),
		slog.String("id", l.ID),
		slog.String("qid", l.QID),
		slog.String("from", l.From),
		slog.String("to", l.To),
		slog.String("remote", l.Remote),
		slog.String("proto", l.Proto),
		slog.String("user", l.User),
		slog.String("code", l.Code),
		slog.String("text", l.Text),
		slog.Int64("size", l.Size),
	} {
		if !f(a) {
			return
		}
	}
	for _, a := range l.Extra() {
		if !f(a) {
			return
		}
	}
}

// Record returns the line as the slog.Record it stands for: Info, msg
// "mail", no source.
func (l *Line) Record() slog.Record {
	rec := slog.NewRecord(l.Time, slog.LevelInfo, "mail", 0)
	l.Attrs(func(a slog.Attr) bool {
		rec.AddAttrs(a)
		return true
	})
	return rec
}

// AppendText appends the line as slog.TextHandler (no options but the
// level, no attributes or groups of its own) writes l.Record(), newline
// included: TestAppendTextIsTextHandler and FuzzAppendText compare them.
func (l *Line) AppendText(b []byte) []byte {
	if !l.Time.IsZero() {
		b = append(b, "time="...)
		b = appendTime(b, l.Time)
		b = append(b, ' ')
	}
	b = append(b, "level=INFO msg=mail event="...)
	b = appendText(b, l.Event)
	b = appendPair(b, " id=", l.ID)
	b = appendPair(b, " qid=", l.QID)
	b = appendPair(b, " from=", l.From)
	b = appendPair(b, " to=", l.To)
	b = appendPair(b, " remote=", l.Remote)
	b = appendPair(b, " proto=", l.Proto)
	b = appendPair(b, " user=", l.User)
	b = appendPair(b, " code=", l.Code)
	b = appendPair(b, " text=", l.Text)
	b = append(b, " size="...)
	b = strconv.AppendInt(b, l.Size, 10)
	for _, a := range l.Extra() {
		b = append(b, ' ')
		b = appendText(b, a.Key)
		b = append(b, '=')
		b = appendValue(b, a.Value)
	}
	return append(b, '\n')
}

func appendPair(b []byte, key, s string) []byte {
	return appendText(append(b, key...), s)
}

// appendValue writes the kinds an event's own keys have as slog's text
// handler does; the others (none today) through Value.String, quoted
// when needed.
func appendValue(b []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindString:
		return appendText(b, v.String())
	}
	return appendText(b, v.String())
}

// appendTime writes t as slog's text handler does: RFC 3339 with
// milliseconds (truncated, always three digits), in t's zone.
func appendTime(b []byte, t time.Time) []byte {
	// RFC3339Nano is AppendFormat's fast path but drops trailing zeros:
	// a tenth of a millisecond added keeps four digits, the last dropped.
	const upToMillis = len("2006-01-02T15:04:05.000")
	n := len(b)
	b = t.Round(0).Truncate(time.Millisecond).Add(time.Millisecond/10).AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+upToMillis], b[n+upToMillis+1:]...)
}

// appendText writes s as slog's text handler writes a string value: as
// it is, or Go-quoted when it is empty or has a space, '=', '"', a
// control character, or a rune that is not valid, printable or not a
// space.
func appendText(b []byte, s string) []byte {
	if needsQuote(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return runesNeedQuote(s[i:])
		}
		if c <= ' ' || c == '=' || c == '"' {
			return true // 0x7f and '\\' are written as they are
		}
	}
	return false
}

// runesNeedQuote is needsQuote from the first byte that is not ASCII.
func runesNeedQuote(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c <= ' ' || c == '=' || c == '"' {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true // RuneError: also a U+FFFD written as such
		}
		i += size
	}
	return false
}
