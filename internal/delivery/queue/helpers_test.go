package queue

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/tlsconf"
)

// received is one message a sink accepted.
type received struct {
	from  string
	rcpts []string
	data  string
	tls   bool
	user  string
}

// errClose makes a sink drop the connection.
var errClose = errors.New("close")

// sink is a local SMTP server playing a remote domain's MX. behave is
// asked at each stage ("mail", "rcpt", "data") and may return an
// *smtp.SMTPError, errClose, or nil to accept.
type sink struct {
	t      testing.TB
	addr   string
	srv    *smtp.Server
	mu     sync.Mutex
	got    []received
	conns  atomic.Int32
	behave atomic.Pointer[func(stage, arg string) error]
	users  map[string]string // AUTH PLAIN users; nil: no AUTH
}

func (s *sink) setBehave(f func(stage, arg string) error) { s.behave.Store(&f) }

func (s *sink) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

var (
	testCertOnce sync.Once
	testCert     *tls.Certificate
	testPool     *x509.CertPool
)

func cert(t testing.TB) (*tls.Certificate, *x509.CertPool) {
	testCertOnce.Do(func() {
		c, err := tlsconf.SelfSigned([]string{"localhost", "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		testCert = c
		testPool = x509.NewCertPool()
		testPool.AddCert(c.Leaf)
	})
	return testCert, testPool
}

// newSink starts a sink; withTLS offers STARTTLS (or implicit TLS).
func newSink(t testing.TB, withTLS, implicit bool) *sink {
	var c *tls.Certificate
	if withTLS {
		c, _ = cert(t)
	}
	return newSinkCert(t, c, implicit)
}

// newSinkCert starts a sink with certificate c (nil: no TLS).
func newSinkCert(t testing.TB, c *tls.Certificate, implicit bool) *sink {
	s := &sink{t: t}
	s.setBehave(func(string, string) error { return nil })
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.conns.Add(1)
		return &sinkSession{s: s, c: c}, nil
	}))
	s.srv.Domain = "sink.test"
	s.srv.AllowInsecureAuth = true
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	s.srv.EnableDSN = true
	var l net.Listener
	var err error
	if c != nil {
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*c}}
	}
	if implicit {
		l, err = tls.Listen("tcp", "127.0.0.1:0", s.srv.TLSConfig)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	go s.srv.Serve(l)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

type sinkSession struct {
	s     *sink
	c     *smtp.Conn
	from  string
	rcpts []string
	user  string
}

func (x *sinkSession) act(stage, arg string) error {
	err := (*x.s.behave.Load())(stage, arg)
	if errors.Is(err, errClose) {
		x.c.Conn().Close()
		return &smtp.SMTPError{Code: 421, Message: "closing"}
	}
	return err
}

func (x *sinkSession) Reset()        { x.from, x.rcpts = "", nil }
func (x *sinkSession) Logout() error { return nil }
func (x *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.users != nil && x.user == "" {
		return smtp.ErrAuthRequired
	}
	x.from = from
	return x.act("mail", from)
}
func (x *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := x.act("rcpt", to); err != nil {
		return err
	}
	x.rcpts = append(x.rcpts, to)
	return nil
}
func (x *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := x.act("data", string(b)); err != nil {
		return err
	}
	_, isTLS := x.c.TLSConnectionState()
	x.s.mu.Lock()
	x.s.got = append(x.s.got, received{x.from, x.rcpts, string(b), isTLS, x.user})
	x.s.mu.Unlock()
	return nil
}
func (x *sinkSession) AuthMechanisms() []string {
	if x.s.users == nil {
		return nil
	}
	return []string{sasl.Plain}
}
func (x *sinkSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if x.s.users[user] != pass || pass == "" {
			return smtp.ErrAuthFailed
		}
		x.user = user
		return nil
	}), nil
}

// world is the fake Internet of a test: DNS plus a dial hook that sends
// 127.0.0.N:25 to the sink registered for that address.
type world struct {
	dns   *dnsresolver.Fake
	mu    sync.Mutex
	sinks map[string]string // "127.0.0.N:25" -> sink address
	next  int
}

func newWorld() *world {
	return &world{dns: &dnsresolver.Fake{MX: map[string][]*net.MX{}, IP: map[string][]net.IPAddr{},
		TXT: map[string][]string{}}, sinks: map[string]string{}, next: 2}
}

// host registers a mail host name on a fresh loopback address served by
// sinkAddr ("" = nothing listening).
func (w *world) host(name, sinkAddr string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ip := net.IPv4(127, 0, 0, byte(w.next))
	w.next++
	w.dns.IP[name] = []net.IPAddr{{IP: ip}}
	w.sinks[net.JoinHostPort(ip.String(), "25")] = sinkAddr
}

// hostAt registers name on a fresh loopback address whose port serves
// addr (an HTTPS server for MTA-STS policies, say).
func (w *world) hostAt(name, port, addr string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ip := net.IPv4(127, 0, 0, byte(w.next))
	w.next++
	w.dns.IP[name] = []net.IPAddr{{IP: ip}}
	w.sinks[net.JoinHostPort(ip.String(), port)] = addr
}

func (w *world) mx(domain string, hosts ...string) {
	for i, h := range hosts {
		w.dns.MX[domain] = append(w.dns.MX[domain], &net.MX{Host: h + ".", Pref: uint16(10 * (i + 1))})
	}
}

func (w *world) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	w.mu.Lock()
	to, ok := w.sinks[addr]
	w.mu.Unlock()
	if !ok {
		if strings.HasPrefix(addr, "127.0.0.1:") { // a route with a real port
			to = addr
		} else {
			return nil, fmt.Errorf("test dial: no route to %s", addr)
		}
	}
	if to == "" {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, to)
}

// clock is a test clock that can jump ahead.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time      { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) add(d time.Duration) { c.off.Add(int64(d)) }

func testOptions(t testing.TB, w *world) Options {
	_, pool := cert(t)
	return Options{
		Dir:            t.TempDir(),
		Hostname:       "mx.youju.test",
		Resolver:       w.dns,
		Dial:           w.dial,
		TLSConfig:      &tls.Config{RootCAs: pool},
		RetryMin:       20 * time.Millisecond,
		RetryMax:       50 * time.Millisecond,
		CommandTimeout: 5 * time.Second,
		ConnectTimeout: 5 * time.Second,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func openQueue(t testing.TB, opt Options) *Queue {
	q, err := Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	q.Start(context.Background())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		q.Shutdown(ctx)
	})
	return q
}

// waitFor polls cond until it holds or 20 s pass (a generous bound for a
// loaded machine; it is not a timing assertion).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testMessage(from, to, subject string) []byte {
	return []byte("From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: " + subject +
		"\r\nDate: Wed, 25 Nov 2026 20:00:00 +0000\r\nMessage-ID: <" + subject + "@youju.test>\r\n\r\nHello " + subject + ".\r\n")
}
