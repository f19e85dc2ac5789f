//go:build unix

package netserver

import (
	"errors"
	"syscall"
)

// hungUp waits until the socket is readable and reports whether that is
// because the peer closed or reset it. Input, or the end of the wait (a
// deadline), reports false.
func hungUp(rc syscall.RawConn) bool {
	var b [1]byte
	var n int
	var perr error
	err := rc.Read(func(fd uintptr) bool {
		n, _, perr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return !errors.Is(perr, syscall.EAGAIN) && !errors.Is(perr, syscall.EINTR)
	})
	if err != nil {
		return false
	}
	if perr != nil {
		return errors.Is(perr, syscall.ECONNRESET) || errors.Is(perr, syscall.EPIPE) || errors.Is(perr, syscall.ETIMEDOUT)
	}
	return n == 0
}
