package server

import (
	"bufio"
	"compress/flate"
	"io"
	"net"
	"strings"
	"testing"
)

// deflateConn is the client side of COMPRESS=DEFLATE.
type deflateConn struct {
	net.Conn
	r  io.Reader
	zw *flate.Writer
}

func (d *deflateConn) Read(p []byte) (int, error) { return d.r.Read(p) }
func (d *deflateConn) Write(p []byte) (int, error) {
	n, err := d.zw.Write(p)
	if err == nil {
		err = d.zw.Flush()
	}
	return n, err
}

func TestCompressDeflate(t *testing.T) {
	ts := startServer(t, nil)
	ts.deliver(t, "INBOX", simpleMsg, 0)
	c := ts.login(t)
	c.ok("SELECT INBOX")
	c.ok("COMPRESS DEFLATE")
	// The server's OK was sent before compression; the client's reader
	// must not have buffered compressed bytes yet (nothing was sent).
	zw, _ := flate.NewWriter(c.conn, flate.DefaultCompression)
	dc := &deflateConn{Conn: c.conn, r: flate.NewReader(io.MultiReader(c.r, c.conn)), zw: zw}
	c.conn, c.r = dc, bufio.NewReader(dc)
	u := c.ok("FETCH 1 (BODY.PEEK[])")
	if len(u) != 1 || !strings.Contains(u[0], "how are you?") {
		t.Fatalf("%q", u)
	}
	if _, done := c.do("COMPRESS DEFLATE"); !strings.HasPrefix(done, "NO [COMPRESSIONACTIVE]") {
		t.Fatal(done)
	}
	c.ok("NOOP")
}
