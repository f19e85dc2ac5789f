package testutil

import (
	"bufio"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// EMFILEListener fails its first Accepts the way accept(2) does when the
// process is out of file descriptors, then accepts normally.
type EMFILEListener struct {
	net.Listener
	left   atomic.Int32
	failed atomic.Int32
}

// NewEMFILEListener makes the first n Accepts of l fail with EMFILE.
func NewEMFILEListener(l net.Listener, n int) *EMFILEListener {
	e := &EMFILEListener{Listener: l}
	e.left.Store(int32(n))
	return e
}

// Accept fails with an error wrapping syscall.EMFILE while failures are
// left.
func (l *EMFILEListener) Accept() (net.Conn, error) {
	if l.left.Add(-1) >= 0 {
		l.failed.Add(1)
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// Failed is how many Accepts failed so far.
func (l *EMFILEListener) Failed() int { return int(l.failed.Load()) }

// DialFrom connects to addr from the loopback address src ("127.0.0.7":
// all of 127.0.0.0/8 is loopback), so that a test can be many clients.
func DialFrom(t testing.TB, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Dribble writes line to c one byte every interval until the peer closes
// the connection (it returns the bytes written) or the whole line is out
// (it returns -1). A server with a deadline per command line cuts it off;
// one with a deadline per read does not.
func Dribble(c net.Conn, line string, interval time.Duration) int {
	for i := range len(line) {
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte{line[i]}); err != nil {
			return i
		}
		time.Sleep(interval)
	}
	return -1
}

// ReadUntilClosed reads c until the peer closes it or 10 seconds pass,
// and returns what came and whether it was closed.
func ReadUntilClosed(c net.Conn) (got string, closed bool) {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(bufio.NewReader(c))
	if err == nil {
		return string(b), true
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return string(b), false
	}
	return string(b), true // reset: closed too
}

// ServesThroughEMFILE starts serve on a loopback listener whose first
// three Accepts fail with EMFILE, then runs use against its address: the
// server must answer there, and Serve must still be running.
func ServesThroughEMFILE(t testing.TB, serve func(net.Listener) error, use func(addr string)) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewEMFILEListener(inner, 3)
	done := make(chan error, 1)
	go func() { done <- serve(l) }()
	use(l.Addr().String())
	if l.Failed() != 3 {
		t.Fatalf("%d accepts failed, want 3", l.Failed())
	}
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v", err)
	default:
	}
}
