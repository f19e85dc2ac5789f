//go:build !unix

package web

import "errors"

// diskSpace is not implemented off Unix.
func diskSpace(string) (free, total uint64, err error) {
	return 0, 0, errors.New("not available on this system")
}
