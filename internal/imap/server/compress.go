package server

import (
	"bytes"
	"compress/flate"
	"io"

	"github.com/youju/youju/internal/imap/inflate"
	"github.com/youju/youju/internal/imap/wire"
)

// cmdCompress starts DEFLATE compression of both directions (RFC 4978).
// The compressor and decompressor are allocated here, only for sessions
// that ask: idle sessions without it stay small.
//
// Client data is decoded by internal/imap/inflate, not compress/flate:
// the latter hands out data only at a sync flush, and clients that end
// each command with Z_PARTIAL_FLUSH (isync/mbsync) would wait forever for
// the answer to a command the server has not seen.
func cmdCompress(c *conn, cmd *wire.Command) error {
	if cmd.Args.(*wire.CompressArgs).Mechanism != "DEFLATE" {
		return bad("", "unknown compression mechanism")
	}
	if c.zw != nil {
		return no("COMPRESSIONACTIVE", "compression is already active") // RFC 4978 §3
	}
	c.w.Raw(cmd.Tag).Raw(" OK DEFLATE active").CRLF()
	if err := c.flush(); err != nil {
		c.state = stateLogout
		return errStartTLSDone
	}
	// Bytes already read past the command are compressed data.
	in := io.MultiReader(bytes.NewReader(c.pendingInput()), c.nc)
	zw, err := flate.NewWriter(deadlineWriter{c}, flate.BestSpeed)
	if err != nil {
		return err
	}
	c.zw = &compressor{Writer: zw}
	c.logger().Debug("COMPRESS=DEFLATE active")
	c.setupStreams(inflate.NewReader(in), c.zw)
	return errStartTLSDone
}

// compressor is the session's DEFLATE writer; pending says something was
// written since the last flush.
type compressor struct {
	*flate.Writer
	pending bool
}

func (z *compressor) Write(p []byte) (int, error) {
	z.pending = true
	return z.Writer.Write(p)
}
