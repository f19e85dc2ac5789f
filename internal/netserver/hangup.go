package netserver

import (
	"sync"
	"syscall"
	"time"
)

// Noticing a client that hung up while its command runs. A session learns
// that its client went away only when it next reads or writes; a long
// store call (a SEARCH of a big mailbox, a delivery waiting for a
// database) would run to its end for nobody. Busy watches the socket
// while a command runs, and a client that closes the connection or resets
// it has its context cancelled: the store calls made with it stop, and
// the session ends at its next read or write.
//
// The watch starts only after HangupDelay, so that the usual short
// command costs one timer and no goroutine. It peeks at the socket
// without taking a byte; input the client pipelined (or a TLS
// close_notify alert before the FIN) ends the watch without a verdict,
// since only an end of stream or a reset says for sure that nobody
// waits for the answer.

// HangupDelay is how long a command runs before Busy watches for a
// hangup. A variable for tests.
var HangupDelay = 100 * time.Millisecond

// Watch is one Busy call; Done ends it.
type Watch struct {
	c      *Conn
	rc     syscall.RawConn
	t      *time.Timer
	mu     sync.Mutex
	state  int // 0 waiting for the timer, 1 watching, 2 done
	exited chan struct{}
}

// watchPool keeps Watches with their timers: a command costs no
// allocation of them in the steady state.
var watchPool = sync.Pool{New: func() any {
	w := &Watch{}
	w.t = time.AfterFunc(time.Hour, w.watch)
	w.t.Stop()
	return w
}}

// noWatch is what Busy returns for a connection it cannot watch.
var noWatch = &Watch{state: 2}

// Busy marks the start of a command that does not read from the client
// until it ends; call Done when it ends, before the connection is read
// again. While it runs longer than HangupDelay, a hangup of the client
// cancels the connection's context. A connection that is not a socket (a
// pipe in tests) is not watched.
func (c *Conn) Busy() *Watch {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return noWatch
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return noWatch
	}
	w := watchPool.Get().(*Watch)
	w.c, w.rc, w.state = c, rc, 0
	w.t.Reset(HangupDelay)
	return w
}

func (w *Watch) watch() {
	w.mu.Lock()
	if w.state != 0 {
		w.mu.Unlock()
		return
	}
	w.state = 1
	w.exited = make(chan struct{})
	w.mu.Unlock()
	defer close(w.exited)
	if hungUp(w.rc) {
		w.c.srv.logger().Debug("client hung up during a command; cancelling its work", "proto", w.c.srv.Proto, "conn", w.c.ID)
		w.c.cancel()
	}
}

// Done ends the watch. A watcher waiting in the poller is woken by a read
// deadline in the past, and the connection's deadline is put back.
func (w *Watch) Done() {
	if w == noWatch {
		return
	}
	stopped := w.t.Stop()
	w.mu.Lock()
	watching := w.state == 1
	w.state = 2
	w.mu.Unlock()
	if watching {
		c := w.c
		c.dmu.Lock()
		_ = c.Conn.SetReadDeadline(time.Unix(1, 0))
		<-w.exited
		_ = c.Conn.SetReadDeadline(c.deadline)
		c.dmu.Unlock()
	} else if !stopped {
		// The timer fired and its goroutine has yet to see state 2: it
		// still holds w, which must not be reused.
		return
	}
	w.c, w.rc, w.exited = nil, nil, nil
	watchPool.Put(w)
}
