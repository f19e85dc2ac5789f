//go:build unix

package netserver

import (
	"errors"
	"syscall"
)

// waitReadable peeks at one byte without taking it: the poller wakes the
// goroutine when the socket becomes readable, and the peek tells that
// from a stale wakeup.
func waitReadable(rc syscall.RawConn) error {
	var b [1]byte
	var perr error
	err := rc.Read(func(fd uintptr) bool {
		_, _, perr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return !errors.Is(perr, syscall.EAGAIN)
	})
	if err != nil {
		return err
	}
	if perr != nil && !errors.Is(perr, syscall.EINTR) {
		return perr
	}
	return nil
}
