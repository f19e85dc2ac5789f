package maillog

import (
	"context"
	"io"
	"log/slog"
	"sync"
)

// TextHandler is slog's TextHandler for the server's log, which also
// writes mail log lines (HandleLine) itself, without making them into
// records: the same bytes for a fifth of the CPU (BenchmarkMailLine).
// Every other record, and the handlers of WithAttrs and WithGroup, are
// slog's.
type TextHandler struct {
	*slog.TextHandler
	out *lockedWriter
}

// lockedWriter is the handler's output: mail lines and slog's lines
// take the same lock, as slog's handler alone would, so that w need not
// be safe for concurrent use.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (lw *lockedWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.Write(p)
}

// NewTextHandler returns a handler that writes to w the lines of level
// and above, as slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}).
func NewTextHandler(w io.Writer, level slog.Leveler) *TextHandler {
	out := &lockedWriter{w: w}
	return &TextHandler{TextHandler: slog.NewTextHandler(out, &slog.HandlerOptions{Level: level}), out: out}
}

// lineBufs holds the buffers lines are formatted in; a line of a long
// reply text is about 600 bytes.
var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledLine bounds the buffers kept in lineBufs.
const maxPooledLine = 16 << 10

// HandleLine implements LineHandler: it writes l.AppendText in one Write.
func (h *TextHandler) HandleLine(_ context.Context, l Line) error {
	bp := lineBufs.Get().(*[]byte)
	b := l.AppendText((*bp)[:0])
	_, err := h.out.Write(b)
	if cap(b) <= maxPooledLine {
		*bp = b
		lineBufs.Put(bp)
	}
	return err
}
