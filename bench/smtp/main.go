// Command smtp is a load generator for SMTP servers: it sends -messages
// messages of -size bytes over -conns concurrent connections (each
// connection sends its share one after another, PIPELINING MAIL/RCPT/DATA
// as RFC 2920 allows when the server offers it) and reports the rate of
// acknowledged messages. It works against any server (youju, Postfix).
//
// With -self it first starts an in-process youju MX on a loopback port,
// with a fresh SQLite store in a temporary directory, so that youju can be
// measured without a configured installation:
//
//	go run ./bench/smtp -self -conns 50 -messages 20000 -size 10240
//	go run ./bench/smtp -self -auth -conns 20 -messages 20000 # SPF, DKIM, DMARC on
//	go run ./bench/smtp -addr 127.0.0.1:2525 -to user@bench.test -conns 50 -messages 20000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/youju/youju/bench/smtp/load"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/maillog"
	"github.com/youju/youju/internal/netserver"
	"github.com/youju/youju/internal/smtpd"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
)

func main() { os.Exit(run()) }

// run is main with deferred cleanups that run before the exit.
func run() int {
	addr := flag.String("addr", "", "server host:port (not with -self)")
	self := flag.Bool("self", false, "start an in-process youju MX with a temporary store and load it")
	dir := flag.String("dir", "", "with -self: store directory (default: a temporary one, removed after)")
	conns := flag.Int("conns", 1, "concurrent connections")
	messages := flag.Int("messages", 1000, "messages to send in total")
	size := flag.Int("size", 10240, "message size in bytes")
	from := flag.String("from", "load@bench.invalid", "envelope sender")
	to := flag.String("to", "user@bench.test", "recipient")
	helo := flag.String("helo", "loadgen.test", "EHLO name")
	noPipe := flag.Bool("nopipelining", false, "do not pipeline MAIL/RCPT/DATA")
	bdat := flag.Bool("bdat", false, "send with BDAT (CHUNKING) instead of DATA when offered")
	auth := flag.Bool("auth", false, "with -self: check SPF, DKIM and DMARC on the MX port (fake DNS) and DKIM-sign the messages")
	dnsDelay := flag.Duration("dnsdelay", 2*time.Millisecond, "with -auth: time each fake DNS answer takes (answers are not cached)")
	cpuprof := flag.String("cpuprofile", "", "write a CPU profile of this process (client, and server with -self)")
	flag.Parse()
	if *self == (*addr != "") {
		fmt.Fprintln(os.Stderr, "smtp: give exactly one of -addr and -self")
		return 2
	}
	if *cpuprof != "" {
		if f, err := os.Create(*cpuprof); err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	cfg := load.Config{Addr: *addr, From: *from, To: *to, Helo: *helo, Conns: *conns, Messages: *messages,
		Size: *size, NoPipe: *noPipe, BDAT: *bdat}
	var dns dnsresolver.Resolver
	if *auth {
		if !*self {
			fmt.Fprintln(os.Stderr, "smtp: -auth needs -self")
			return 2
		}
		cfg.Signed = &load.Signed{Domain: cfg.From[strings.LastIndexByte(cfg.From, '@')+1:], Selector: "load"}
		var err error
		if dns, err = load.AuthDNS(cfg, cfg.Signed, *dnsDelay); err != nil {
			fmt.Fprintln(os.Stderr, "smtp:", err)
			return 1
		}
	}
	if *self {
		a, stop, err := startSelf(*dir, *to, *conns, dns)
		if err != nil {
			fmt.Fprintln(os.Stderr, "smtp:", err)
			return 1
		}
		defer stop()
		cfg.Addr = a
	}
	cpu0 := cpuTime()
	res, err := load.Run(cfg)
	cpu := cpuTime() - cpu0
	fmt.Printf("%d messages of %d bytes over %d connections in %.2fs: %.0f msg/s (p50 %s, p90 %s, p99 %s per message; %.0f cpu-µs/msg)\n",
		res.Sent, *size, *conns, res.Elapsed.Seconds(), res.Rate(),
		res.P(0.50).Round(time.Microsecond), res.P(0.90).Round(time.Microsecond), res.P(0.99).Round(time.Microsecond),
		float64(cpu.Microseconds())/float64(max(res.Sent, 1)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "smtp:", err)
		return 1
	}
	return 0
}

// startSelf starts a youju MX for domain of rcpt, with that account.
// With dns set, the MX checks SPF, DKIM and DMARC through it.
func startSelf(dir, rcpt string, conns int, dns dnsresolver.Resolver) (string, func(), error) {
	ctx := context.Background()
	tmp := dir == ""
	if tmp {
		d, err := os.MkdirTemp("", "youju-bench-")
		if err != nil {
			return "", nil, err
		}
		dir = d
	}
	st, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		return "", nil, err
	}
	domain := rcpt[strings.LastIndexByte(rcpt, '@')+1:]
	if err := st.AddDomain(ctx, domain); err != nil && !errors.Is(err, store.ErrExists) {
		return "", nil, err
	}
	if _, err := st.CreateAccount(ctx, store.Account{Address: rcpt, AllowSMTP: true}); err != nil && !errors.Is(err, store.ErrExists) {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// The mail log's lines are formatted as in production, then dropped:
	// a terminal would slow the run down.
	maillog.SetLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := &smtpd.Server{Mode: smtpd.Inbound, Deliverer: delivery.New(st, nil, "bench.test", logger), Hostname: "bench.test",
		Limits: netserver.Limits{MaxPerIP: conns + 1}, Logger: logger, DNS: dns}
	go srv.Serve(l)
	stop := func() {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		srv.Shutdown(c)
		st.Close()
		if tmp {
			os.RemoveAll(dir)
		}
	}
	return l.Addr().String(), stop, nil
}

// cpuTime is the process's user+system CPU time (client and, with -self,
// server): per message it stays put when other load moves the rate.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
