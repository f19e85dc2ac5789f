package smtpd

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/youju/youju/internal/message"
)

// The fast DATA reader must read exactly what go-smtp's reader reads:
// the same message, the same errors, and leave the connection at the
// same byte. dataHarness runs go-smtp with a session that reads DATA
// through one or the other, over lineConn in both cases (so that the
// line length limit sees the same chunks), and records what each
// connection saw.

const (
	harnessMaxMsg  = 300
	harnessMaxLine = 64
)

// harnessOpts: lineConn under go-smtp or not, fast DATA or go-smtp's
// reader, go-smtp's line limit.
type harnessOpts struct {
	lineConn, fast bool
	maxLine        int
}

type harnessBackend struct{ opts harnessOpts }

func (b *harnessBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	tc, _ := c.Conn().(*trackedConn)
	return &harnessSession{b: b, tc: tc, log: tc.Conn.(*loggedConn)}, nil
}

type harnessSession struct {
	b   *harnessBackend
	tc  *trackedConn
	log *loggedConn
}

func (s *harnessSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *harnessSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *harnessSession) Reset()                               {}
func (s *harnessSession) Logout() error                        { return nil }

// fastReader does what session.Data does to pick the reader.
func (s *harnessSession) fastReader(r io.Reader) (io.Reader, func()) {
	if _, bdat := r.(*io.PipeReader); !bdat && s.b.opts.fast && s.tc.lc != nil {
		if fr := s.tc.lc.fastData(harnessMaxMsg, s.b.opts.maxLine); fr != nil {
			return fr, fr.finish
		}
	}
	return r, func() {}
}

func (s *harnessSession) Data(r io.Reader) error {
	r, done := s.fastReader(r)
	defer done()
	b, err := io.ReadAll(r)
	if err != nil {
		s.log.printf("[error %v]", err)
		return err
	}
	if fr, ok := r.(*dataReader); ok && fr.crlf() && !message.IsCRLF(b) {
		s.log.printf("[a bare CR or LF not seen]") // go-smtp's side never says this
	}
	s.log.printf("[%q]", b)
	return nil
}

// loggedConn is the server side of a harness connection: what its
// sessions' Data saw, complete once it is closed.
type loggedConn struct {
	net.Conn
	mu     sync.Mutex
	seen   strings.Builder
	closed chan struct{}
	once   sync.Once
}

func (c *loggedConn) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(&c.seen, format, args...)
}

func (c *loggedConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

type harnessListener struct {
	net.Listener
	opts  harnessOpts
	conns chan *loggedConn
}

func (l harnessListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	lc := &loggedConn{Conn: c, closed: make(chan struct{})}
	l.conns <- lc
	tc := &trackedConn{Conn: lc}
	if l.opts.lineConn {
		tc.lc = newLineConn(lc, false, l.opts.maxLine)
	}
	return tc, nil
}

type dataHarness struct {
	addr  string
	conns chan *loggedConn
}

func startHarness(t testing.TB, opts harnessOpts) *dataHarness {
	s := smtp.NewServer(&harnessBackend{opts: opts})
	s.Domain = "harness"
	s.MaxMessageBytes = harnessMaxMsg
	s.MaxLineLength = opts.maxLine
	s.ReadTimeout = 5 * time.Second
	s.WriteTimeout = 5 * time.Second
	s.ErrorLog = errorLog{testLogger(t)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl := harnessListener{Listener: l, opts: opts, conns: make(chan *loggedConn, 1)}
	go s.Serve(hl)
	t.Cleanup(func() { s.Close() })
	return &dataHarness{addr: l.Addr().String(), conns: hl.conns}
}

// run sends stream in one write, closes the sending side, and returns
// the replies and what Data saw.
func (h *dataHarness) run(t testing.TB, stream []byte) (string, string) {
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := <-h.conns
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		c.Write(stream)
		c.(*net.TCPConn).CloseWrite()
	}()
	replies, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-sc.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("session did not end")
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return string(replies), sc.seen.String()
}

func dataStream(body []byte) []byte {
	s := []byte("EHLO client\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
	s = append(s, body...)
	return append(s, "\r\n.\r\nNOOP\r\nMAIL FROM:<c@x.test>\r\nRCPT TO:<d@y.test>\r\nDATA\r\nsecond\r\n.\r\nQUIT\r\n"...)
}

var dataSeeds = []string{
	"Subject: x\r\n\r\nbody",
	"..leading dot\r\n.\r\n",
	"a\n.\nb", "a\r.\rb", "a\n.\r\nb", "a\r\n.\nb", "a\r.\r\nb", "a\r\n.\rb",
	".\rX\r\n", ".\r\r\n", "\r\r\n.\r\n", ".", "\r\n.", "x\r",
	strings.Repeat("y", 70) + "\r\n",
	strings.Repeat("line of text\r\n", 30),
	"BDAT 5 LAST\r\nhello",
	"\r\n.\r\nSTARTTLS\r\n",
}

// FuzzDataReaderMatchesGoSMTP compares the two readers on any body,
// including smuggling attempts, limits and what follows the message.
func FuzzDataReaderMatchesGoSMTP(f *testing.F) {
	for _, s := range dataSeeds {
		f.Add([]byte(s))
	}
	ref := startHarness(f, harnessOpts{lineConn: true, maxLine: harnessMaxLine})
	fast := startHarness(f, harnessOpts{lineConn: true, fast: true, maxLine: harnessMaxLine})
	f.Fuzz(func(t *testing.T, body []byte) {
		stream := dataStream(body)
		r1, s1 := ref.run(t, stream)
		r2, s2 := fast.run(t, stream)
		if r1 != r2 || s1 != s2 {
			t.Fatalf("body %q:\ngo-smtp: %q\n%s\nfast:    %q\n%s", body, s1, r1, s2, r2)
		}
	})
}

// TestFastDataUsed checks that the harness (and so the fuzz target)
// really goes through the fast reader, and large messages in small
// reads.
func TestFastDataUsed(t *testing.T) {
	h := startHarness(t, harnessOpts{lineConn: true, fast: true, maxLine: harnessMaxLine})
	_, seen := h.run(t, dataStream([]byte("hello")))
	if seen != `["hello\r\n"]["second\r\n"]` {
		t.Fatalf("seen %q", seen)
	}
	c1, c2 := net.Pipe()
	defer c1.Close()
	lc := newLineConn(c2, false, 1000)
	go func() {
		c1.Write([]byte("DATA\r\n"))
		msg := bytes.Repeat([]byte("0123456789\r\n..dot\r\n"), 5000)
		for len(msg) > 0 { // many small writes
			n := min(len(msg), 777)
			c1.Write(msg[:n])
			msg = msg[n:]
		}
		c1.Write([]byte(".\r\nNOOP\r\n"))
	}()
	buf := make([]byte, 4096)
	if n, err := lc.Read(buf); err != nil || string(buf[:n]) != "DATA\r\n" {
		t.Fatalf("line %q %v", buf[:n], err)
	}
	fr := lc.fastData(0, 1000)
	if fr == nil {
		t.Fatal("no fast reader after DATA")
	}
	got, err := io.ReadAll(fr)
	if err != nil {
		t.Fatal(err)
	}
	if want := bytes.Repeat([]byte("0123456789\r\n.dot\r\n"), 5000); !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d", len(got), len(want))
	}
	fr.finish()
	if n, _ := lc.Read(buf); string(buf[:n]) != ".\r\n" {
		t.Fatalf("go-smtp's drain gets %q, want the end marker", buf[:n])
	}
	if n, _ := lc.Read(buf); string(buf[:n]) != "NOOP\r\n" {
		t.Fatalf("next command %q", buf[:n])
	}
}

// TestBDATPayloadIsNotCommands: lines of a BDAT chunk that look like
// STARTTLS or DATA are data to lineConn too (it must not drop bytes or
// switch modes), and a real STARTTLS afterwards still works, with a
// fast DATA before it.
func TestBDATPayloadIsNotCommands(t *testing.T) {
	e := newEnv(t)
	r := dialRaw(t, e.start(e.server(Inbound), false))
	r.cmd("EHLO client.test", "250")
	chunk := "Subject: tricky\r\n\r\nSTARTTLS\r\nDATA\r\nBDAT 99\r\nend\r\n"
	r.send("MAIL FROM:<x@remote.net>\r\nRCPT TO:<alice@example.com>\r\n" +
		fmt.Sprintf("BDAT %d LAST\r\n%s", len(chunk), chunk) +
		"MAIL FROM:<y@remote.net>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
	for _, want := range []string{"250", "250", "250", "250", "250", "354"} {
		r.expect(want)
	}
	r.send("Subject: fast\r\n\r\n..dot\r\n.\r\n")
	r.expect("250")
	r.cmd("STARTTLS", "220")
	tc := tls.Client(r.c, e.cTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	tr := &raw{t: t, c: tc, r: bufio.NewReader(tc)}
	tr.cmd("EHLO client.test", "250")
	tr.cmd("MAIL FROM:<z@remote.net>", "250")
	tr.cmd("RCPT TO:<alice@example.com>", "250")
	tr.cmd("DATA", "354")
	tr.send("Subject: under tls\r\n\r\nhi\r\n.\r\n")
	tr.expect("250")
	in := e.inbox(e.alice)
	if len(in) != 2 || !strings.HasSuffix(in[0], chunk[strings.Index(chunk, "\r\n\r\n"):]) || !strings.Contains(in[1], "Subject: under tls") {
		t.Fatalf("alice: %q", in)
	}
	if b := e.inbox(e.bob); len(b) != 1 || !strings.HasSuffix(b[0], "\r\n\r\n.dot\r\n") {
		t.Fatalf("bob: %q", b)
	}
}

// FuzzLineConnMatchesGoSMTP compares whole command streams: go-smtp on
// the bare connection against go-smtp over lineConn with the fast DATA
// reader. Pipelining, BDAT chunks that look like commands, DATA inside
// chunks, STARTTLS without TLS: the replies and the messages must be the
// same. (Lines longer than go-smtp's limit are left out: go-smtp checks
// the limit on whatever it has read, so there the outcome depends on how
// the bytes were split into reads.)
func FuzzLineConnMatchesGoSMTP(f *testing.F) {
	for _, s := range []string{
		"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nhello\r\n.\r\nNOOP\r\n",
		"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 12 LAST\r\nDATA\r\nx\r\n.\r\nRSET\r\n",
		"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 10\r\nSTARTTLS\r\nBDAT 3 LAST\r\nabcDATA\r\n",
		"BDAT 5\r\nDATA\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n.\r\n",
		"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 4 MORE\r\nDATA\r\nbody\r\n.\r\n",
		"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n" + strings.Repeat("z", 400) + "\r\n.\r\nNOOP\r\n",
		"STARTTLS\r\nMAIL FROM:<a@x.test>\r\n",
		"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\na\n.\nb\r\n.\r\n",
	} {
		f.Add([]byte(s))
	}
	ref := startHarness(f, harnessOpts{maxLine: 1000})
	fast := startHarness(f, harnessOpts{lineConn: true, fast: true, maxLine: 1000})
	f.Fuzz(func(t *testing.T, in []byte) {
		stream := append(append([]byte("EHLO client\r\n"), in...), "\r\nQUIT\r\n"...)
		for _, line := range bytes.Split(stream, []byte("\n")) {
			if len(line) > 900 {
				t.Skip("line over the limit")
			}
		}
		r1, s1 := ref.run(t, stream)
		r2, s2 := fast.run(t, stream)
		if r1 != r2 || s1 != s2 {
			t.Fatalf("stream %q:\ngo-smtp: %q\n%s\nlineConn: %q\n%s", in, s1, r1, s2, r2)
		}
	})
}

// readBlock reads a DATA block sent in pieces (cut at the offsets in
// cuts) through lineConn's fast reader.
func readBlock(raw []byte, cuts []int, maxLine int) ([]byte, *dataReader, error) {
	c1, c2 := net.Pipe()
	defer c1.Close()
	go func() {
		defer c2.Close()
		prev := 0
		for _, c := range append(cuts, len(raw)) {
			if c > prev && c <= len(raw) {
				c2.Write(raw[prev:c])
				prev = c
			}
		}
	}()
	l := newLineConn(c1, false, 1000)
	l.data = true
	d := l.fastData(0, maxLine)
	out, err := io.ReadAll(d)
	return out, d, err
}

// TestDataReaderCRLF: the fast reader says a block is in CRLF form when
// it is (dot-stuffed lines included, however the block is cut into
// reads), and never when a bare CR or LF is in what it returned.
func TestDataReaderCRLF(t *testing.T) {
	for _, tc := range []struct {
		body string
		crlf bool
	}{
		{"Subject: x\r\n\r\nbody\r\n", true},
		{"a\r\n..b\r\n.\r\r\nc\r\n", false}, // ".\r\r\n": a CR before CR
		{"a\r\n..\r\n\r\n", true},
		{"", true},
		{"a\nb\r\n", false},
		{"\nb\r\n", false},
		{"a\rb\r\n", false},
		{"a\r\r\n\r\n", false}, // (after "\r\r\n" a dot does not end the block)
		{"a\r\n.\nb\r\n", false},
		{"a\r\n.\rb\r\n", false},
	} {
		raw := []byte(tc.body + ".\r\n")
		for cut := range len(raw) + 1 {
			out, d, err := readBlock(raw, []int{cut}, 100)
			if err != nil {
				t.Fatalf("%q: %v", raw, err)
			}
			if d.crlf() != tc.crlf || d.crlf() && !message.IsCRLF(out) {
				t.Errorf("%q cut at %d: crlf %v, want %v (read %q)", tc.body, cut, d.crlf(), tc.crlf, out)
			}
		}
	}
	if _, d, _ := readBlock([]byte("a\r\n.\r\n"), nil, 0); d.crlf() {
		t.Error("crlf without a line limit: its LFs were not looked at")
	}
}

// FuzzDataReaderCRLF: whatever the block and however it is cut, the fast
// reader never says a block with a bare CR or LF is in CRLF form.
func FuzzDataReaderCRLF(f *testing.F) {
	for _, s := range dataSeeds {
		f.Add([]byte(s), uint16(3), uint16(7))
	}
	f.Fuzz(func(t *testing.T, body []byte, c1, c2 uint16) {
		raw := append(append([]byte{}, body...), "\r\n.\r\n"...)
		out, d, err := readBlock(raw, []int{int(c1) % len(raw), int(c2) % len(raw)}, 1<<20)
		if err == nil && d.crlf() && !message.IsCRLF(out) {
			t.Fatalf("%q: read %q, said CRLF", raw, out)
		}
	})
}
