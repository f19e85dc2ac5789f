package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/netserver"
	"github.com/youju/youju/internal/store"
)

// state is the connection state of RFC 9051 §3.
type state int

const (
	stateNotAuth state = iota
	stateAuth
	stateSelected
	stateLogout
)

// conn is one client connection and its session.
type conn struct {
	srv *Server
	nc  net.Conn
	// raw is the TCP connection as accepted (nil in fuzzing). Unlike nc
	// (replaced by TLS), it never changes, and it keeps the command
	// deadlines (netserver.Conn.Await).
	raw         *netserver.Conn
	implicitTLS bool
	tls         bool
	id          uint64
	remote      netip.Addr
	log         *slog.Logger // see logger
	closing     atomic.Bool
	quit        chan struct{} // closed by shutdown

	// br and bw are pooled, nil while the session waits parked
	// (park.go); in is the source under br.
	br    *bufio.Reader
	bw    *bufio.Writer
	in    input
	out   io.Writer // what bw writes to: the connection or the compressor
	r     *wire.Reader
	w     *wire.Writer
	waker waker // interrupts a wait in IDLE (park.go)

	state   state
	acct    store.Account
	enabled map[string]bool // ENABLEd extensions (RFC 5161)
	rev2    bool            // IMAP4rev2 enabled
	// condstore is set once the client used CONDSTORE (RFC 7162 §3.1):
	// ENABLE, SELECT (CONDSTORE) or a command with a MODSEQ item.
	condstore bool
	qresync   bool      // ENABLE QRESYNC (RFC 7162 §3.2.3)
	bad       int       // protocol errors so far
	sel       *selected // the selected mailbox, nil unless stateSelected
	events    <-chan store.Event
	unsub     func()
	okCode    string      // response code of the tagged OK of the current command
	zw        *compressor // the compressor while COMPRESS=DEFLATE is active
	ctx       context.Context

	// updates are the SEARCH/SORT RETURN (UPDATE) contexts (context.go).
	updates updateContexts

	// idle is the IDLE command in progress, until idleUntil (idle.go).
	idle      *wire.Command
	idleUntil time.Time
}

// shutdown is the netserver hook: the session says BYE at its next
// command boundary (netserver ends a wait for a command at once), and
// IDLE ends now.
func (c *conn) shutdown() {
	if c.closing.CompareAndSwap(false, true) {
		close(c.quit)
		c.waker.wake()
	}
}

// serve runs the session. It stays small: the goroutine waits for the
// client below it (waitInput), and Go's stack shrinking keeps a 4 KiB
// stack only while less than a quarter of it is in use.
func (c *conn) serve() {
	defer c.end()
	if !c.begin() {
		return
	}
	for c.state != stateLogout {
		if !c.next() {
			return
		}
	}
}

// begin sets the session up: TLS on an implicit-TLS port, buffers, and
// the greeting. False ends the connection.
//
//go:noinline
func (c *conn) begin() bool {
	c.waker.set = c.setReadDeadline
	if c.ctx == nil { // conns made by hand (fuzzing) have no netserver.Conn
		c.ctx = context.Background()
	}
	if !c.remote.IsValid() {
		c.remote = remoteIP(c.nc)
	}
	if c.implicitTLS {
		tc := tls.Server(c.nc, c.srv.TLSConfig)
		tc.SetDeadline(time.Now().Add(orDur(c.srv.HandshakeTimeout, DefaultHandshakeTimeout)))
		if err := tc.Handshake(); err != nil {
			c.logger().Debug("TLS handshake failed", "err", err)
			return false
		}
		tc.SetDeadline(time.Time{})
		c.nc, c.tls = tc, true
	}
	c.setupIO()
	c.w.Raw("* OK [CAPABILITY ").Raw(c.capabilities()).Raw("] ").Raw(c.hostname()).Raw(" youju IMAP ready").CRLF()
	return c.flush() == nil
}

// logger is the session's logger, made on first use: its attributes cost
// memory (hundreds of bytes with a text or JSON handler) that most
// sessions never log with.
func (c *conn) logger() *slog.Logger {
	if c.log == nil {
		c.log = c.srv.logger().With("proto", "imap", "conn", c.id, "remote", c.nc.RemoteAddr().String())
		if c.state != stateNotAuth {
			c.log = c.log.With("user", c.acct.Address)
		}
	}
	return c.log
}

// end releases what the session holds.
func (c *conn) end() {
	c.releaseBuffers()
	if c.unsub != nil {
		c.unsub()
	}
	c.nc.Close()
}

func (c *conn) hostname() string {
	if c.srv.Hostname != "" {
		return c.srv.Hostname
	}
	return "localhost"
}

// setupIO (re)creates the buffered reader and writer, at start and after
// STARTTLS.
func (c *conn) setupIO() { c.setupStreams(c.nc, deadlineWriter{c}) }

// deadlineWriter writes to the connection with a write deadline counted
// from each write: a response is allowed WriteTimeout per buffer written,
// however long the session was idle before and however long the whole
// response takes (FETCH 1:* of a big mailbox to a slow client).
type deadlineWriter struct{ c *conn }

func (d deadlineWriter) Write(p []byte) (int, error) {
	d.c.nc.SetWriteDeadline(time.Now().Add(orDur(d.c.srv.WriteTimeout, DefaultWriteTimeout)))
	return d.c.nc.Write(p)
}

// setupStreams builds the reader and writer on rd and wr, keeping the
// session's UTF-8 settings (also used by COMPRESS).
func (c *conn) setupStreams(rd io.Reader, wr io.Writer) {
	utf8In := c.r != nil && c.r.UTF8
	if c.br == nil {
		c.br = readerPool.Get().(*bufio.Reader)
		c.bw = writerPool.Get().(*bufio.Writer)
	}
	c.in = input{rd: rd}
	c.br.Reset(&c.in)
	c.bw.Reset(wr)
	c.out = wr
	c.r = wire.NewReader(c.br)
	c.r.UTF8 = utf8In
	c.r.MaxLine = c.srv.MaxLine
	if c.r.MaxLine == 0 {
		c.r.MaxLine = DefaultMaxLine
	}
	c.r.MaxLiteral = c.srv.maxLiteral()
	c.r.LiteralPlus = true
	c.r.Continue = func() error {
		c.w.Raw("+ Ready for literal data").CRLF()
		return c.flush()
	}
	utf8 := false
	if c.w != nil {
		utf8 = c.w.UTF8
	}
	c.w = wire.NewWriter(c.bw)
	c.w.UTF8 = utf8
}

func (c *conn) flush() error {
	if err := c.w.Flush(); err != nil {
		return err
	}
	if c.zw != nil && c.zw.pending {
		// RFC 4978 §4: every response is flushed through the compressor
		// so that the client can act on it. Nothing is sent when nothing
		// was written: an empty flush right after "OK DEFLATE active"
		// can reach the client in the same read as that line, before it
		// has switched its decompressor on (isync then fails).
		c.zw.pending = false
		return c.zw.Flush()
	}
	return nil
}

// bulkBufSize is the output buffer of a response to many messages.
const bulkBufSize = 64 << 10

// bulkBufs are shared by the sessions writing long responses, so that an
// idle session keeps only its 4 KiB buffer.
var bulkBufs = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bulkBufSize) }}

// bulkOutput puts a large pooled buffer under the writer for a response
// to many messages (FETCH 1:*), so that it takes few write system calls
// and full TLS records; the returned function flushes it and puts the
// session's own buffer back.
func (c *conn) bulkOutput() (restore func()) {
	if c.w.Flush() != nil {
		return func() {}
	}
	big := bulkBufs.Get().(*bufio.Writer)
	big.Reset(c.out)
	old := c.w.SetBuffer(big)
	return func() {
		c.w.Flush()
		c.w.SetBuffer(old)
		big.Reset(nil)
		bulkBufs.Put(big)
	}
}

// next reads and runs one command; false ends the connection.
func (c *conn) next() bool {
	if c.idle != nil {
		return c.idleWait()
	}
	if c.closing.Load() {
		c.bye("server shutting down")
		return false
	}
	c.await()
	if err := c.waitInput(false); err != nil {
		return c.readError(err)
	}
	cmd, err := c.r.ReadCommand()
	if err == nil && c.batchableAppend(cmd) {
		// Pipelined APPENDs are stored together (appendbatch.go); the
		// command that ended the batch, if any, runs next.
		cmd, err = c.appendBatch(cmd)
		if c.state == stateLogout {
			c.flush()
			return false
		}
		if cmd == nil && err == nil {
			return c.flush() == nil
		}
	}
	if err != nil {
		return c.readError(err)
	}
	c.run(cmd)
	if c.state != stateNotAuth && c.raw != nil {
		c.raw.Authenticated() // leaves the pre-login share of the limits
	}
	return c.flush() == nil
}

// readError handles a failure to read a command; false ends the
// connection.
func (c *conn) readError(err error) bool {
	var pe *wire.ParseError
	if errors.As(err, &pe) {
		return c.parseError(pe)
	}
	if c.closing.Load() {
		c.bye("server shutting down")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.bye("autologout; idle for too long") // RFC 9051 §5.4
	} else {
		if err != io.EOF {
			c.logger().Debug("read failed", "err", err)
		}
		c.flush() // answers of a batch read before the end
	}
	return false
}

// await sets the deadlines for the next command: the autologout timer
// (RFC 9051 §5.4), shorter before login; then the command timeout from
// the command's first byte.
func (c *conn) await() {
	idle := orDur(c.srv.IdleTimeout, DefaultIdleTimeout)
	if c.raw == nil {
		c.nc.SetReadDeadline(time.Now().Add(idle))
		return
	}
	c.raw.Await(idle)
}

// setReadDeadline sets an explicit read deadline on the connection (the
// TCP connection under TLS, which keeps the deadline rules).
func (c *conn) setReadDeadline(t time.Time) error {
	if c.raw != nil {
		return c.raw.SetReadDeadline(t)
	}
	return c.nc.SetReadDeadline(t)
}

func (c *conn) parseError(pe *wire.ParseError) bool {
	if pe.Code != "TOOBIG" {
		c.bad++
	}
	if pe.Fatal {
		c.bye(pe.Msg)
		return false
	}
	tag := pe.Tag
	if tag == "" {
		tag = "*"
	}
	kind := "BAD"
	if pe.Code == "TOOBIG" {
		kind = "NO" // RFC 7889 §4: NO [TOOBIG] for an APPEND over the limit
	}
	c.w.Raw(tag).SP().Raw(kind).SP()
	if pe.Code != "" {
		c.w.Raw("[").Raw(pe.Code).Raw("] ")
	}
	c.w.Raw(safeText(pe.Msg)).CRLF()
	if c.bad >= orInt(c.srv.MaxBadCommands, DefaultMaxBadCommands) {
		c.bye("too many bad commands")
		return false
	}
	return c.flush() == nil
}

func orInt(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

func (c *conn) bye(text string) {
	c.w.Raw("* BYE ").Raw(safeText(text)).CRLF()
	c.flush()
}

// safeText keeps a response text on one line.
func safeText(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, s)
}

// readsClient are the commands whose handlers read from the client
// (SASL exchanges, IDLE's DONE, a TLS or DEFLATE start, APPEND's further
// messages): the socket is not watched for a hangup while they run.
var readsClient = map[string]bool{"APPEND": true, "AUTHENTICATE": true, "IDLE": true, "STARTTLS": true, "COMPRESS": true}

// run dispatches one command and writes its tagged response.
func (c *conn) run(cmd *wire.Command) {
	h, ok := handlers[cmd.Name]
	if !ok {
		c.tagged(cmd, bad("", "command not supported"))
		return
	}
	if !h.states[c.state] {
		c.tagged(cmd, bad("", fmt.Sprintf("%s not allowed now", cmd.Name)))
		return
	}
	if cmd.NameErr != "" {
		// A well-formed but unacceptable mailbox name (wire.Command.NameErr).
		if cmd.Name == "SELECT" || cmd.Name == "EXAMINE" {
			c.leaveSelected()
		}
		c.tagged(cmd, no("CANNOT", cmd.NameErr))
		return
	}
	if err := c.checkUTF8Accept(cmd); err != nil {
		c.tagged(cmd, err)
		return
	}
	c.okCode = ""
	if c.raw != nil && !readsClient[cmd.Name] {
		// A client that hangs up meanwhile cancels c.ctx, and with it the
		// command's store calls (issue 13 point 5).
		defer c.raw.Busy().Done()
	}
	err := c.guard(cmd.Name, func() error { return h.fn(c, cmd) })
	if err == errStartTLSDone || err == errIdling {
		return
	}
	c.complete(cmd, err)
}

// complete writes the tagged response of cmd, whose handler returned err.
func (c *conn) complete(cmd *wire.Command, err error) {
	if c.state == stateLogout {
		if err == nil && !c.closing.Load() {
			c.tagged(cmd, nil)
		}
		return
	}
	// RFC 9051 §7.5.1: expunges of other sessions are not reported during
	// FETCH, STORE and SEARCH (and SORT, which answers like SEARCH)
	// without UID, since the client may rely on the sequence numbers it
	// used.
	if c.sel != nil && (cmd.UID || !seqBound[cmd.Name]) {
		c.sendUpdates(false)
	}
	c.tagged(cmd, err)
}

// guard runs a command's handler fn and recovers a panic in it.
func (c *conn) guard(name string, fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			c.logger().Error("panic in IMAP command", "cmd", name, "panic", v, "stack", string(debug.Stack()))
			netserver.CountPanic("imap")
			// The response may be cut in the middle: the stream can
			// not be trusted any more, so the session ends.
			c.w.CRLF()
			c.bye("internal server error")
			c.state = stateLogout
			err = no("SERVERBUG", "internal error")
		}
	}()
	return fn()
}

var seqBound = map[string]bool{"FETCH": true, "STORE": true, "SEARCH": true, "SORT": true}

// tagged writes the tagged completion of cmd.
func (c *conn) tagged(cmd *wire.Command, err error) {
	c.w.Raw(cmd.Tag).SP()
	if err == nil {
		c.w.Raw("OK ")
		if c.okCode != "" {
			c.w.Raw("[").Raw(c.okCode).Raw("] ")
		}
		name := cmd.Name
		if cmd.UID {
			name = "UID " + name
		}
		c.w.Raw(name).Raw(" completed").CRLF()
		return
	}
	var re *respError
	if !errors.As(err, &re) {
		re = storeError(err)
	}
	if re.detail != nil {
		c.logger().Warn("command failed", "cmd", cmd.Name, "err", re.detail)
	}
	if re.kind == "BAD" {
		c.bad++
	}
	c.w.Raw(re.kind).SP()
	if re.code != "" {
		c.w.Raw("[").Raw(re.code).Raw("] ")
	}
	c.w.Raw(safeText(re.text)).CRLF()
	if c.bad >= orInt(c.srv.MaxBadCommands, DefaultMaxBadCommands) {
		c.bye("too many bad commands")
		c.state = stateLogout
	}
}

// respError is a tagged NO or BAD: code and text go to the client, detail
// to the log only.
type respError struct {
	kind, code, text string
	detail           error
}

func (e *respError) Error() string { return e.kind + " " + e.text }

func no(code, text string) error  { return &respError{kind: "NO", code: code, text: text} }
func bad(code, text string) error { return &respError{kind: "BAD", code: code, text: text} }

// storeError maps store errors to response codes (RFC 5530).
func storeError(err error) *respError {
	switch {
	case errors.Is(err, store.ErrExpunged):
		return &respError{kind: "NO", code: "EXPUNGEISSUED", text: "some of the messages no longer exist"}
	case errors.Is(err, store.ErrNotFound):
		return &respError{kind: "NO", code: "NONEXISTENT", text: "no such mailbox or message"}
	case errors.Is(err, store.ErrExists):
		return &respError{kind: "NO", code: "ALREADYEXISTS", text: "mailbox already exists"}
	case errors.Is(err, store.ErrQuotaExceeded):
		return &respError{kind: "NO", code: "OVERQUOTA", text: "quota exceeded"}
	case errors.Is(err, store.ErrInvalidName):
		return &respError{kind: "NO", code: "CANNOT", text: "invalid mailbox name"}
	case errors.Is(err, store.ErrSpecialMailbox):
		return &respError{kind: "NO", code: "CANNOT", text: "not allowed on this mailbox"}
	case errors.Is(err, store.ErrHasChildren):
		return &respError{kind: "NO", code: "INUSE", text: "mailbox has children"}
	case errors.Is(err, store.ErrTooLarge):
		return &respError{kind: "NO", code: "TOOBIG", text: "message too large"}
	}
	return &respError{kind: "NO", code: "UNAVAILABLE", text: "temporary server failure, try again", detail: err}
}
