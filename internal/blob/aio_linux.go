//go:build linux && (amd64 || arm64)

package blob

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Asynchronous fdatasync through Linux AIO (io_submit(2) with
// IOCB_CMD_FDSYNC, Linux 4.18). The kernel runs the sync in a worker of
// its own while the caller goes on, so that the index's committer
// overlaps it with its row inserts without a goroutine: a goroutine that
// blocks in fdatasync(2) holds its P until the runtime's monitor takes
// it back (at least two of its ticks; in an execution trace of the SMTP
// burst the committer, queued behind such a P, waited 270 µs at the
// median for a 1 ms commit), and one started for the sync waits for a
// P while the committer runs.

// iocb is struct iocb of <linux/aio_abi.h> on little-endian machines.
type iocb struct {
	data    uint64
	key     uint32
	rwFlags int32
	opcode  uint16
	reqprio int16
	fildes  uint32
	buf     uint64
	nbytes  uint64
	offset  int64
	_       uint64
	flags   uint32
	resfd   uint32
}

// ioEvent is struct io_event.
type ioEvent struct {
	data, obj uint64
	res, res2 int64
}

const iocbCmdFdsync = 3

// aio is one AIO context with at most one sync in flight: mu is held
// from start to the end of its wait.
type aio struct {
	ctx uintptr
	mu  sync.Mutex
}

// newAIO returns nil where the kernel refuses AIO (too old, a seccomp
// filter, the system's aio-max-nr reached): the caller syncs in a
// goroutine instead.
func newAIO() *aio {
	var ctx uintptr
	if _, _, e := syscall.Syscall(unix.SYS_IO_SETUP, 1, uintptr(unsafe.Pointer(&ctx)), 0); e != 0 {
		return nil
	}
	return &aio{ctx: ctx}
}

// start submits an fdatasync of f and returns the function that waits
// for it (to be called exactly once). An error means nothing was
// submitted (a kernel without IOCB_CMD_FDSYNC says EINVAL).
func (a *aio) start(f *os.File) (func() error, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	var serr error
	if err := rc.Control(func(fd uintptr) {
		// The kernel copies the iocb and holds the file from here on.
		cb := &iocb{opcode: iocbCmdFdsync, fildes: uint32(fd)}
		cbs := [1]*iocb{cb}
		for {
			n, _, e := syscall.Syscall(unix.SYS_IO_SUBMIT, a.ctx, 1, uintptr(unsafe.Pointer(&cbs[0])))
			switch {
			case e == syscall.EINTR:
				continue
			case e != 0:
				serr = e
			case n != 1:
				serr = fmt.Errorf("io_submit took %d of 1", n)
			}
			return
		}
	}); err != nil {
		serr = err
	}
	if serr != nil {
		a.mu.Unlock()
		return nil, serr
	}
	return a.wait, nil
}

// wait waits for the sync in flight and returns its outcome.
func (a *aio) wait() error {
	defer a.mu.Unlock()
	var ev [1]ioEvent
	for {
		n, _, e := syscall.Syscall6(unix.SYS_IO_GETEVENTS, a.ctx, 1, 1, uintptr(unsafe.Pointer(&ev[0])), 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return fmt.Errorf("io_getevents: %w", e)
		}
		if n != 1 {
			continue
		}
		if ev[0].res < 0 {
			return syscall.Errno(-ev[0].res)
		}
		return nil
	}
}

// close ends the context (after the last wait).
func (a *aio) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	syscall.Syscall(unix.SYS_IO_DESTROY, a.ctx, 0, 0)
}
