//go:build !(linux || darwin || freebsd)

package web

import "errors"

// diskSpace is not implemented on this system.
func diskSpace(string) (free, total uint64, err error) {
	return 0, 0, errors.New("not available on this system")
}
