package web

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/youju/youju/internal/maillog"
)

// eventLogSize is how many mail log events the console can show.
const eventLogSize = 1000

// EventLog keeps the most recent mail log events (internal/maillog) in
// memory for the admin console: a slog.Handler that records each line
// and passes it on. Memory is bounded (eventLogSize events, each line's
// attributes as strings).
type EventLog struct {
	next slog.Handler
	ring *eventRing
	pre  []slog.Attr // attributes added with WithAttrs
}

// eventRing keeps the lines themselves: they become Events (a map of
// strings each) only when the console asks, not on every mail log line
// of the MX path (two per delivered message).
type eventRing struct {
	mu    sync.Mutex
	buf   []ringEntry
	head  int // next slot to write
	full  bool
	share *eventShare // set by Share (admin_events_shared.go)
}

// ringEntry is one kept line and the attributes its logger added. A
// mail log line is kept as the maillog.Line it came as (a copy of a
// struct of strings: nothing allocated); a record that came otherwise is
// a Clone in rec.
type ringEntry struct {
	line maillog.Line
	rec  *slog.Record // nil for a line
	pre  []slog.Attr  // never modified (WithAttrs makes a new slice)
}

// maxEventFields bounds the fields of one Event.
const maxEventFields = 64

// event turns the entry into an Event.
func (e *ringEntry) event() Event {
	attrs, t, lvl, n := e.line.Attrs, e.line.Time, slog.LevelInfo, len(maillog.Keys)+len(e.line.Extra())
	if e.rec != nil {
		attrs, t, lvl, n = e.rec.Attrs, e.rec.Time, e.rec.Level, e.rec.NumAttrs()
	}
	ev := Event{Time: t, Level: lvl.String(), Fields: make(map[string]string, len(e.pre)+n)}
	for _, a := range e.pre {
		ev.Fields[a.Key] = a.Value.String()
	}
	attrs(func(a slog.Attr) bool {
		ev.Fields[a.Key] = a.Value.String()
		return len(ev.Fields) < maxEventFields
	})
	return ev
}

// Event is one mail log line.
type Event struct {
	Time   time.Time         `json:"time"`
	Level  string            `json:"level"`
	Fields map[string]string `json:"fields"`
}

// NewEventLog returns an EventLog that passes every record on to next
// (nil: keeps only).
func NewEventLog(next slog.Handler) *EventLog {
	return &EventLog{next: next, ring: &eventRing{buf: make([]ringEntry, eventLogSize)}}
}

// Enabled implements slog.Handler: mail events are Info and above.
func (l *EventLog) Enabled(ctx context.Context, lvl slog.Level) bool {
	return lvl >= slog.LevelInfo || (l.next != nil && l.next.Enabled(ctx, lvl))
}

// Handle implements slog.Handler.
func (l *EventLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelInfo {
		rec := r.Clone()
		l.ring.add(ringEntry{rec: &rec, pre: l.pre})
	}
	if l.next != nil && l.next.Enabled(ctx, r.Level) {
		return l.next.Handle(ctx, r)
	}
	return nil
}

// HandleLine implements maillog.LineHandler: the ring keeps the line as
// it is, and passes it on as it is to a LineHandler (serve's text log),
// as a record to another (a JSON log).
func (l *EventLog) HandleLine(ctx context.Context, line maillog.Line) error {
	l.ring.add(ringEntry{line: line, pre: l.pre})
	if l.next == nil || !l.next.Enabled(ctx, slog.LevelInfo) {
		return nil
	}
	if lh, ok := l.next.(maillog.LineHandler); ok {
		return lh.HandleLine(ctx, line)
	}
	return l.next.Handle(ctx, line.Record())
}

// WithAttrs implements slog.Handler.
func (l *EventLog) WithAttrs(as []slog.Attr) slog.Handler {
	n := &EventLog{ring: l.ring, pre: append(append([]slog.Attr(nil), l.pre...), as...)}
	if l.next != nil {
		n.next = l.next.WithAttrs(as)
	}
	return n
}

// WithGroup implements slog.Handler; groups are flattened in the ring.
func (l *EventLog) WithGroup(name string) slog.Handler {
	n := &EventLog{ring: l.ring, pre: l.pre}
	if l.next != nil {
		n.next = l.next.WithGroup(name)
	}
	return n
}

func (r *eventRing) add(e ringEntry) {
	r.mu.Lock()
	r.buf[r.head] = e
	r.head = (r.head + 1) % len(r.buf)
	if r.head == 0 {
		r.full = true
	}
	r.addShared(e)
	r.mu.Unlock()
}

// Recent returns up to n events, newest first; event, if not "", keeps
// only those of that event name (maillog.EventDelivered, ...).
func (l *EventLog) Recent(n int, event string) []Event {
	r := l.ring
	r.mu.Lock()
	defer r.mu.Unlock()
	size := r.head
	if r.full {
		size = len(r.buf)
	}
	out := []Event{}
	for i := 1; i <= size && len(out) < n; i++ {
		e := r.buf[(r.head-i+len(r.buf))%len(r.buf)].event()
		if event == "" || e.Fields["event"] == event {
			out = append(out, e)
		}
	}
	return out
}
