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
// output idle is written at once (no timer, no delay) by the goroutine
// that logs it, and the lines that arrive meanwhile go out together in
// the next write, which that goroutine makes too before it returns (up
// to leaderBatches of them; then the Writer's own goroutine goes on). The
// MX path writes three lines per message (mail log received and
// delivered, spam verdict), each a write(2) of its own under the log
// handler's lock before the Writer; under load a write carries several.
// No goroutine is woken for a line that finds the output idle: under
// load such a wake made the Writer's goroutine wait ~115 us in the run
// queue once per message, ahead of the SMTP connections it was queued
// with.
//
// A line that finds the output idle is written when Write returns; one
// that finds a write in progress is queued: a process killed (kill -9)
// loses the lines queued in that instant, the ones a write in progress
// had not taken yet. Close writes what is queued; the server calls it
// when it stops. Order is kept.
type Writer struct {
	out io.Writer

	mu      sync.Mutex
	idle    sync.Cond // signalled when a write finishes
	pending []byte    // queued lines, not yet taken by the writer
	spare   []byte    // the buffer of the last write, reused
	writing bool      // a write is in progress, or the goroutine is about to take pending
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

// Write writes p (a whole line, as slog's handlers write) at once when
// the output is idle, from the caller's goroutine: no other is woken for
// it. While a write is in progress it queues p for the next one. After
// Close it writes p itself.
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
	if w.writing {
		w.pending = append(w.pending, p...)
		w.mu.Unlock()
		return len(p), nil
	}
	w.writing = true // pending is empty: p is next in order
	w.mu.Unlock()
	_, err := w.out.Write(p)
	w.mu.Lock()
	for i := 0; i < leaderBatches && len(w.pending) > 0; i++ {
		w.writePending()
	}
	if len(w.pending) > 0 {
		w.wake <- struct{}{} // the rest to the goroutine, writing still set: never blocks
	} else {
		w.writing = false
		w.idle.Broadcast()
	}
	w.mu.Unlock()
	return len(p), err
}

// leaderBatches bounds the batches that came during its own write that
// a caller of Write writes after it, before it hands the rest to the
// Writer's goroutine: a busy log does not hold up one connection.
const leaderBatches = 2

// writePending writes the queued lines in one write; w.mu is held, and
// released during the write.
func (w *Writer) writePending() {
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

// run writes the queued lines, all that have come, until none are left;
// then it waits for the next Write. A failed write is dropped, as
// slog.Logger drops a handler's error.
func (w *Writer) run() {
	defer close(w.done)
	for range w.wake {
		w.mu.Lock()
		for len(w.pending) > 0 {
			w.writePending()
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
