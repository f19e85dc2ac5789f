//go:build !unix

package netserver

import "syscall"

// hungUp cannot peek at a socket here: no watch.
func hungUp(syscall.RawConn) bool { return false }
