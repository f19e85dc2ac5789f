// Command outbound measures youju's outbound queue: it enqueues -messages
// messages for -domains destination domains, then lets the queue deliver
// them to a local SMTP sink that plays every domain's MX (a fake DNS maps
// each domain to it; no real DNS, loopback only). It reports the Enqueue
// rate (each message fsynced before Enqueue returns, -writers goroutines,
// as concurrent SMTP sessions would) and the delivery rate.
//
//	go run ./bench/outbound -messages 5000 -domains 20 -size 4096 -sign
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/delivery/queue"
	"github.com/youju/youju/internal/dkimkeys"
	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/tlsconf"
)

func main() { os.Exit(run()) }

func run() int {
	messages := flag.Int("messages", 2000, "messages to send")
	domains := flag.Int("domains", 20, "destination domains")
	size := flag.Int("size", 4096, "message body size in bytes")
	writers := flag.Int("writers", 8, "goroutines calling Enqueue")
	sign := flag.Bool("sign", false, "DKIM-sign (Ed25519 + RSA-2048) at Enqueue")
	starttls := flag.Bool("starttls", true, "the sink offers STARTTLS")
	perDomain := flag.Int("per-domain", 4, "connections per domain")
	concurrent := flag.Int("concurrent", 20, "messages in delivery at once")
	flag.Parse()

	dir, err := os.MkdirTemp("", "youju-outbound-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	sinkAddr, count, stop, err := startSink(*starttls)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()

	dns := &dnsresolver.Fake{MX: map[string][]*net.MX{}, IP: map[string][]net.IPAddr{}}
	for i := range *domains {
		d := fmt.Sprintf("d%02d.bench.test", i)
		dns.MX[d] = []*net.MX{{Host: "mx." + d + ".", Pref: 10}}
		dns.IP["mx."+d] = []net.IPAddr{{IP: net.IPv4(127, 0, 0, 1)}}
	}
	var dialer net.Dialer
	opt := queue.Options{
		Dir: dir + "/queue", Hostname: "bench.youju.test", Resolver: dns,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, sinkAddr) // every MX is the sink
		},
		MaxPerDomain: *perDomain, MaxConcurrent: *concurrent,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if *sign {
		if err := dkimkeys.Generate(dir, "youju.test"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		opt.DataDir = dir
	}
	q, err := queue.Open(opt)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	body := makeBody(*size)

	start := time.Now()
	failed := enqueueAll(q, *messages, *domains, *writers, body)
	enq := time.Since(start)

	start = time.Now()
	q.Start(context.Background())
	for count.Load() < int64(*messages)-failed || q.Len() > 0 {
		time.Sleep(time.Millisecond)
	}
	del := time.Since(start)
	q.Shutdown(context.Background())
	fmt.Printf("messages %d, domains %d, size %d, sign %v, starttls %v, enqueue failures %d\n",
		*messages, *domains, *size, *sign, *starttls, failed)
	fmt.Printf("enqueue:  %8.0f msgs/s (%v, %d writers, fsync per message)\n", float64(*messages)/enq.Seconds(), enq.Round(time.Millisecond), *writers)
	fmt.Printf("delivery: %8.0f msgs/s (%v)\n", float64(*messages)/del.Seconds(), del.Round(time.Millisecond))
	return 0
}

// enqueueAll enqueues n messages round-robin over the domains from
// writers goroutines and returns how many failed.
func enqueueAll(q *queue.Queue, n, domains, writers int, body []byte) int64 {
	var wg sync.WaitGroup
	var failed atomic.Int64
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += writers {
				to := fmt.Sprintf("user%d@d%02d.bench.test", i, i%domains)
				msg := fmt.Appendf(nil, "From: <alice@youju.test>\r\nTo: <%s>\r\nSubject: m%d\r\nMessage-ID: <m%d@youju.test>\r\n\r\n", to, i, i)
				if err := q.Enqueue(context.Background(), "alice@youju.test", []string{to}, append(msg, body...), delivery.DSN{}); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return failed.Load()
}

func makeBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
		if i%78 == 77 {
			b[i-1], b[i] = '\r', '\n'
		}
	}
	return b
}

// startSink runs an SMTP server on loopback that accepts and discards.
func startSink(withTLS bool) (string, *atomic.Int64, func(), error) {
	var n atomic.Int64
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{n: &n}, nil }))
	srv.Domain = "sink.bench.test"
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	if withTLS {
		c, err := tlsconf.SelfSigned([]string{"localhost"})
		if err != nil {
			return "", nil, nil, err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*c}}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, nil, err
	}
	go srv.Serve(l)
	return l.Addr().String(), &n, func() { srv.Close() }, nil
}

type sinkSession struct{ n *atomic.Int64 }

func (s *sinkSession) Reset()                               {}
func (s *sinkSession) Logout() error                        { return nil }
func (s *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *sinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.n.Add(1)
	return nil
}
