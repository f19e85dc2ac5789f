package server

import (
	"bytes"
	"compress/flate"
	"io"

	"github.com/youju/youju/internal/imap/wire"
)

// cmdCompress starts DEFLATE compression of both directions (RFC 4978).
// The compressor and decompressor are allocated here, only for sessions
// that ask: idle sessions without it stay small.
//
// COMPRESS=DEFLATE is NOT advertised: Go's compress/flate inflater hands
// out data only at the end of a stored block (Z_SYNC_FLUSH), and clients
// that flush with Z_PARTIAL_FLUSH (isync/mbsync) stall waiting for our
// answer to a command we never see. It needs an inflater that returns
// data at every block end before it can be offered.
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
	pending, _ := c.br.Peek(c.br.Buffered())
	in := io.MultiReader(bytes.NewReader(bytes.Clone(pending)), c.nc)
	zw, err := flate.NewWriter(deadlineWriter{c}, flate.BestSpeed)
	if err != nil {
		return err
	}
	c.zw = zw
	c.setupStreams(flate.NewReader(in), zw)
	return errStartTLSDone
}
