package server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/youju/youju/internal/netserver"
	"github.com/youju/youju/internal/notify"
	"github.com/youju/youju/internal/store"
)

// A session waiting for its client (between commands, and in IDLE) holds
// no I/O buffer: it parks, giving its 4 KiB reader and writer back to
// pools, and waits by reading at most preRead bytes into its conn struct.
// A client's command usually fits there, so on a plaintext connection
// the wait costs no extra read system call; under TLS the record stays in
// crypto/tls's own buffer. Issue 12: an idle TLS session ≤ 32 KiB.
const (
	ioBufSize = 4096
	preRead   = 128
)

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, ioBufSize) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, ioBufSize) }}
)

// input is the source under the session's reader: it returns what the
// last wait read first, then reads rd.
type input struct {
	rd     io.Reader // the connection, or the decompressor of COMPRESS
	pre    [preRead]byte
	lo, hi int
}

func (in *input) Read(p []byte) (int, error) {
	if in.lo < in.hi {
		n := copy(p, in.pre[in.lo:in.hi])
		in.lo += n
		return n, nil
	}
	return in.rd.Read(p)
}

// buffered is what a wait read and the reader did not take yet.
func (in *input) buffered() []byte { return in.pre[in.lo:in.hi] }

// wait blocks until rd has input and keeps its first bytes. A read
// deadline ends it with the timeout error, which neither net nor
// crypto/tls keep: the connection stays usable (IDLE relies on this).
func (in *input) wait() error {
	if in.lo < in.hi {
		return nil
	}
	for range 100 {
		n, err := in.rd.Read(in.pre[:])
		in.lo, in.hi = 0, n
		if n > 0 {
			return nil // an error comes again from the next read
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// park returns the session's buffers to the pools if nothing is left in
// them: the writer is flushed and the reader has nothing read ahead (a
// pipelining client's next command is read at once instead). Sessions
// with COMPRESS keep theirs: the decompressor may hold input already.
func (c *conn) park() bool {
	if c.br == nil || c.br.Buffered() > 0 || len(c.in.buffered()) > 0 || c.bw.Buffered() > 0 || c.zw != nil {
		return false
	}
	c.br.Reset(nil)
	readerPool.Put(c.br)
	c.bw.Reset(nil)
	writerPool.Put(c.bw)
	c.br, c.bw = nil, nil
	return true
}

// unpark takes buffers for the session again after park.
func (c *conn) unpark() {
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(&c.in)
	c.r.SetBuffer(c.br)
	c.bw = writerPool.Get().(*bufio.Writer)
	c.bw.Reset(c.out)
	c.w.SetBuffer(c.bw)
}

// waitInput waits, parked, for the client's next bytes. A long wait
// (IDLE) waits under TLS on the socket (waitTLS): a smaller stack for a
// system call more per wait, which a client that waits for each answer
// would pay on every command.
func (c *conn) waitInput(long bool) error {
	if !c.park() {
		return nil
	}
	defer c.unpark()
	if long && c.tls && c.raw != nil {
		if err := c.waitTLS(); !errors.Is(err, errors.ErrUnsupported) {
			return err
		}
	}
	return c.in.wait()
}

// waitTLS waits for input under TLS on the socket itself, below
// crypto/tls, whose read path is deep: a goroutine blocked in it keeps an
// 8 KiB stack, blocked here a 4 KiB one (Go halves a stack at GC only
// while less than a quarter is in use). What crypto/tls holds already (a
// record read ahead) is taken first, without waiting.
func (c *conn) waitTLS() error {
	n, err := c.raw.ReadNoWait(func() (int, error) { return c.in.rd.Read(c.in.pre[:]) })
	if n > 0 {
		c.in.lo, c.in.hi = 0, n
		return nil
	}
	if !errors.Is(err, netserver.ErrWouldBlock) {
		return err
	}
	return c.raw.WaitReadable()
}

// releaseBuffers gives the buffers back when the session ends.
func (c *conn) releaseBuffers() {
	if c.br != nil {
		c.br.Reset(nil)
		readerPool.Put(c.br)
	}
	if c.bw != nil {
		c.bw.Reset(nil)
		writerPool.Put(c.bw)
	}
	c.br, c.bw = nil, nil
}

// pendingInput is what the client sent that was read but not yet used:
// the reader's buffer, then what a wait read.
func (c *conn) pendingInput() []byte {
	buf, _ := c.br.Peek(c.br.Buffered())
	return append(bytes.Clone(buf), c.in.buffered()...)
}

// wakeNotifier is a store.Notifier that calls a function for each event
// (internal/notify.Hub): a session in IDLE then waits for its client
// alone, and an event interrupts that wait.
type wakeNotifier interface {
	SubscribeWake(acct store.AccountID, wake func()) (<-chan store.Event, func())
}

// subscribe subscribes the session to its account's events. With a
// notifier that cannot wake the session, a goroutine forwards them and
// wakes it.
func (c *conn) subscribe(acct store.AccountID) {
	n := c.srv.Store.Notifier()
	if wn, ok := n.(wakeNotifier); ok {
		c.events, c.unsub = wn.SubscribeWake(acct, c.waker.wake)
		return
	}
	src, unsub := n.Subscribe(acct)
	c.events, c.unsub = notify.Forward(src, unsub, c.waker.wake)
}

// waker interrupts the wait of a session in IDLE for a store event or
// Shutdown, by setting the connection's read deadline to now.
type waker struct {
	mu      sync.Mutex
	woken   bool
	waiting bool
	set     func(time.Time) error // the connection's SetReadDeadline
}

// wake notes the call and ends the wait in progress, if any.
func (w *waker) wake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.woken = true
	if w.waiting {
		w.set(time.Now())
	}
}

// arm begins a wait that ends at deadline, or reports false if wake was
// called since the last wait (the caller looks at why first).
func (w *waker) arm(deadline time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.woken {
		w.woken = false
		return false
	}
	w.waiting = true
	w.set(deadline)
	return true
}

// disarm ends a wait: after it, wake leaves the deadline alone. It
// reports whether wake was called during the wait.
func (w *waker) disarm() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waiting = false
	woken := w.woken
	w.woken = false
	return woken
}
