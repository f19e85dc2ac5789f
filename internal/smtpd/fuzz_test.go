package smtpd

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/delivery/deliverytest"
	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/netserver"
	"github.com/youju/youju/internal/store"
)

// FuzzHeaderFrom: the bounded header parse and the From: extraction never
// panic, and return only parsed addresses.
func FuzzHeaderFrom(f *testing.F) {
	for _, s := range []string{
		"From: a@b.c\r\n\r\nbody",
		"From: =?GBK?B?1tDOxA==?= <a@b.c>\r\n\r\n",
		"From: a@b.c\r\nFrom: d@e.f\r\n\r\n",
		"From: \"x\" <a@b.c>, y@z.w\r\n",
		"Subject: none\r\n\r\n",
		"From:\r\n continued@b.c\r\n\r\n",
		"\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := readHeader(b)
		if err != nil {
			return
		}
		if checkSubmittedSyntax(h) != nil {
			return
		}
		addrs, err := headerFrom(h)
		if err == nil {
			for _, a := range addrs {
				if !strings.Contains(a, "@") {
					t.Fatalf("non-address %q", a)
				}
			}
		}
	})
}

// chanListener hands out connections given to it.
type chanListener struct {
	ch     chan net.Conn
	closed chan struct{}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}
func (l *chanListener) Close() error   { close(l.closed); return nil }
func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// pipeConn is one end of net.Pipe with a loopback remote address, so that
// AllowPlaintextLoopback lets the fuzzer reach AUTH.
type pipeConn struct{ net.Conn }

func (pipeConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// panicWatch is a slog handler that counts panics logged by go-smtp's
// recovery (which would otherwise hide them from the fuzzer).
type panicWatch struct{ n *atomic.Int64 }

func (p panicWatch) Enabled(context.Context, slog.Level) bool { return true }
func (p panicWatch) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		p.n.Add(1)
	}
	return nil
}
func (p panicWatch) WithAttrs([]slog.Attr) slog.Handler { return p }
func (p panicWatch) WithGroup(string) slog.Handler      { return p }

// FuzzSession feeds arbitrary client input to a whole server session over
// net.Pipe (commands, AUTH, DATA, BDAT): no panic, no hang.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"EHLO x\r\nMAIL FROM:<a@remote.net>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n",
		"EHLO x\r\nMAIL FROM:<a@remote.net> SIZE=10 BODY=8BITMIME\r\nRCPT TO:<alice+t@example.com> NOTIFY=SUCCESS\r\nBDAT 5 LAST\r\nhello",
		"EHLO x\r\nAUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHB3\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<far@remote.net>\r\nDATA\r\nFrom: alice@example.com\r\n\r\n.\r\n",
		"EHLO x\r\nAUTH LOGIN\r\nYWxpY2U=\r\ncHc=\r\n",
		"HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<team@example.com>\r\nDATA\r\nx\n.\nMAIL FROM:<y@z>\r\n.\r\n",
		"EHLO x\r\nSTARTTLS\r\nRSET\r\nVRFY a\r\nNOOP\r\nBDAT 0\r\nBDAT x\r\n",
		"\x00\xff\r\n\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	ctx := context.Background()
	st := deliverytest.New()
	st.AddDomain(ctx, "example.com")
	h, _ := auth.HashPassword("pw")
	st.CreateAccount(ctx, store.Account{Address: "alice@example.com", PasswordHash: h, AllowSMTP: true})
	st.SetAlias(ctx, store.Alias{Address: "team@example.com", Targets: []string{"alice@example.com", "x@remote.net"}})
	q := &deliverytest.Queue[delivery.DSN]{}
	var panics atomic.Int64
	srv := &Server{Mode: Inbound, Deliverer: delivery.New(st, q, "", nil), Auth: auth.New(st, auth.Options{}),
		AllowPlaintextLoopback: true, MaxMessageBytes: 1 << 16, ReadTimeout: 2 * time.Second,
		Limits: netserver.Limits{MaxPerIP: -1}, Logger: slog.New(panicWatch{&panics})}
	l := &chanListener{ch: make(chan net.Conn), closed: make(chan struct{})}
	go srv.Serve(l)
	f.Cleanup(func() { srv.Shutdown(ctx) })
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		l.ch <- pipeConn{server}
		drained := make(chan struct{})
		go func() {
			io.Copy(io.Discard, client)
			close(drained)
		}()
		client.SetWriteDeadline(time.Now().Add(5 * time.Second))
		client.Write(in)
		client.Close()
		select {
		case <-drained:
		case <-time.After(10 * time.Second):
			t.Fatalf("session hangs on %q", in)
		}
		if panics.Load() != 0 {
			t.Fatalf("panic on %q", in)
		}
	})
}

// FuzzHeaderWatch: however a message is cut into reads, headerWatch
// reports the fields message.ReadHeader finds (on the CRLF form) and the
// same header length, and never reads past what it was given.
func FuzzHeaderWatch(f *testing.F) {
	f.Add([]byte("From: a@b\r\nSubject: x\r\n y\r\n\r\nbody"), 3)
	f.Add([]byte("\r\nbody"), 1)
	f.Add([]byte("A: 1\r\n\tB\r\nC:2\r\n"), 7)
	f.Add([]byte("DKIM-Signature: v=1; d=a.test;\r\n s=x\r\nFrom: <a@a.test>\r\n\r\n"), 33)
	f.Fuzz(func(t *testing.T, msg []byte, step int) {
		if !bytes.Equal(message.NormalizeCRLF(msg), msg) {
			return // ReadHeader's input is CRLF; headerWatch need only agree there
		}
		step = 1 + abs(step)%64
		var got [][]byte
		w := &headerWatch{field: func(raw []byte) { got = append(got, raw) }}
		end := 0
		for n := 0; n < len(msg) && end == 0; {
			n = min(len(msg), n+step)
			end = w.scan(msg[:n])
		}
		h, err := message.ReadHeader(msg, message.HeaderLimits{MaxBytes: len(msg) + 1})
		if err != nil {
			return
		}
		if end > 0 && end != h.Size {
			t.Fatalf("header ends at %d, ReadHeader says %d", end, h.Size)
		}
		if end == 0 {
			// No blank line: the last field may be unreported.
			if len(got) < len(h.Fields)-1 {
				t.Fatalf("reported %d fields of %d", len(got), len(h.Fields))
			}
		} else if len(got) != len(h.Fields) {
			t.Fatalf("reported %d fields, ReadHeader found %d", len(got), len(h.Fields))
		}
		for i := range got {
			if !bytes.Equal(got[i], h.Fields[i].Raw) {
				t.Fatalf("field %d: %q, ReadHeader: %q", i, got[i], h.Fields[i].Raw)
			}
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
