//go:build !unix

package netserver

import (
	"errors"
	"syscall"
)

func waitReadable(syscall.RawConn) error { return errors.ErrUnsupported }
