//go:build !(linux && (amd64 || arm64))

package blob

import (
	"errors"
	"os"
)

// aio: Linux AIO's asynchronous fdatasync is used on linux/amd64 and
// linux/arm64 only (aio_linux.go); elsewhere StartSync uses a goroutine.
type aio struct{}

func newAIO() *aio { return nil }

func (a *aio) start(*os.File) (func() error, error) { return nil, errors.ErrUnsupported }

func (a *aio) close() {}
