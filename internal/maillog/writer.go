package maillog

import (
	"io"
	"sync"
)

// maxPending bounds the bytes a Writer holds: past it, Write waits for
// the output, as a plain write(2) would.
const maxPending = 256 << 10

// Writer coalesces the log lines written while a write to the output is
// in progress into one write, like a group commit: a line that finds the
// output idle is written at once (no timer, no delay), by a goroutine of
// the Writer's own, and the lines that arrive meanwhile go out together
// in its next write. The MX path writes three lines per message (mail log
// received and delivered, spam verdict), each a write(2) of its own
// under the log handler's lock; under load a write now carries several.
//
// Write returns once the line is queued, before it reaches the output:
// a process killed (kill -9) loses the lines queued in that instant, the
// ones a write in progress had not taken yet. Close writes what is
// queued; the server calls it when it stops. Order is kept.
type Writer struct {
	out io.Writer

	mu      sync.Mutex
	idle    sync.Cond // signalled when a write finishes
	pending []byte    // queued lines, not yet taken by the writer
	spare   []byte    // the buffer of the last write, reused
	writing bool      // the goroutine holds or is about to take pending
	closed  bool
	wake    chan struct{}
	done    chan struct{}
}

// NewWriter returns a Writer to out and starts its goroutine.
func NewWriter(out io.Writer) *Writer {
	w := &Writer{out: out, wake: make(chan struct{}, 1), done: make(chan struct{})}
	w.idle.L = &w.mu
	go w.run()
	return w
}

// Write queues p (a whole line, as slog's handlers write) for the
// output. After Close it writes p itself.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	for {
		if w.closed {
			defer w.mu.Unlock()
			return w.out.Write(p)
		}
		if len(w.pending) == 0 || len(w.pending)+len(p) <= maxPending {
			break
		}
		w.idle.Wait()
	}
	w.pending = append(w.pending, p...)
	start := !w.writing
	w.writing = true
	w.mu.Unlock()
	if start {
		w.wake <- struct{}{} // never blocks: only the one who set writing sends
	}
	return len(p), nil
}

// run writes the queued lines, all that have come, until none are left;
// then it waits for the next Write. A failed write is dropped, as
// slog.Logger drops a handler's error.
func (w *Writer) run() {
	defer close(w.done)
	for range w.wake {
		w.mu.Lock()
		for len(w.pending) > 0 {
			buf := w.pending
			w.pending = w.spare[:0]
			w.mu.Unlock()
			_, _ = w.out.Write(buf)
			w.mu.Lock()
			w.spare = buf
			if cap(w.spare) > maxPending {
				w.spare = nil // a burst's buffer is not kept
			}
			w.idle.Broadcast()
		}
		w.writing = false
		w.idle.Broadcast()
		w.mu.Unlock()
	}
}

// Close writes the queued lines and stops the goroutine; later Writes go
// straight to the output. It returns after the last queued line is
// written.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	for w.writing {
		w.idle.Wait()
	}
	w.closed = true
	w.mu.Unlock()
	close(w.wake)
	<-w.done
	return nil
}
