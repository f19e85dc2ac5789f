// Command pop3 is a POP3 load tool: N clients log in at once and each
// downloads M messages (STAT, UIDL, RETR 1..M, QUIT), like a room of mail
// clients polling after a holiday. It reports throughput and latencies.
//
// Against any server:
//
//	go run ./bench/pop3 -addr 127.0.0.1:110 -user 'user%d@example.org' -pass secret -clients 20 -messages 1000
//
// "%d" in -user is replaced by the client number (1..N): POP3 locks a
// maildrop per account, so concurrent clients need their own accounts.
//
// Comparison in one run (-compare): the tool fills a youju store and a
// Dovecot maildir (when dovecot is installed) with the same messages, serves
// both on loopback and runs the same load against each.
package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

type target struct {
	name     string
	addr     string
	user     string // may contain %d
	pass     string
	tls      bool // implicit TLS
	insecure bool
}

type result struct {
	name     string
	clients  int
	messages int64
	bytes    int64
	elapsed  time.Duration
	retr     []time.Duration // per RETR
	setup    []time.Duration // connect + login + STAT + UIDL
	errs     []error
}

func main() {
	addr := flag.String("addr", "", "server address host:port")
	user := flag.String("user", "user%d@example.org", "user name; %d is replaced by the client number")
	pass := flag.String("pass", "", "password")
	useTLS := flag.Bool("tls", false, "implicit TLS (port 995)")
	insecure := flag.Bool("insecure", false, "do not verify the TLS certificate")
	clients := flag.Int("clients", 20, "concurrent clients")
	messages := flag.Int("messages", 1000, "messages each client downloads")
	compare := flag.Bool("compare", false, "set up youju and Dovecot on loopback with the same mail and measure both")
	dovecot := flag.String("dovecot", "dovecot", "dovecot binary for -compare (empty: skip Dovecot)")
	keep := flag.Bool("keep", false, "with -compare: keep the temporary directories")
	rounds := flag.Int("rounds", 3, "with -compare: rounds, alternating the servers (the machine's load varies)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile (of this process: the client, and youju under -compare)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pop3 bench:", err)
			os.Exit(1)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "pop3 bench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if *compare {
		if err := runCompare(*clients, *messages, *rounds, *dovecot, *keep); err != nil {
			pprof.StopCPUProfile()
			fmt.Fprintln(os.Stderr, "pop3 bench:", err)
			os.Exit(1)
		}
		return
	}
	if *addr == "" {
		fmt.Fprintln(os.Stderr, "pop3 bench: -addr or -compare is required")
		os.Exit(2)
	}
	t := target{name: *addr, addr: *addr, user: *user, pass: *pass, tls: *useTLS, insecure: *insecure}
	res := load(t, *clients, *messages)
	printResults([]result{res})
	if len(res.errs) > 0 {
		os.Exit(1)
	}
}

// load runs the clients against t and gathers their figures.
func load(t target, clients, messages int) result {
	res := result{name: t.name, clients: clients}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 1; i <= clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := runClient(t, i, messages)
			mu.Lock()
			defer mu.Unlock()
			res.messages += r.messages
			res.bytes += r.bytes
			res.retr = append(res.retr, r.retr...)
			res.setup = append(res.setup, r.setup...)
			res.errs = append(res.errs, r.errs...)
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	res.elapsed = time.Since(t0)
	return res
}

type conn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func (c *conn) cmd(line string) (string, error) {
	c.w.WriteString(line + "\r\n")
	if err := c.w.Flush(); err != nil {
		return "", err
	}
	return c.status()
}

func (c *conn) status() (string, error) {
	l, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	l = strings.TrimRight(l, "\r\n")
	if !strings.HasPrefix(l, "+OK") {
		return l, fmt.Errorf("server said %q", l)
	}
	return l, nil
}

// body reads a multi-line response up to "." and returns its octets.
func (c *conn) body() (int64, error) {
	var n int64
	for {
		l, err := c.r.ReadSlice('\n')
		n += int64(len(l))
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return n, err
		}
		if len(l) == 3 && l[0] == '.' && l[1] == '\r' {
			return n - 3, nil
		}
	}
}

func runClient(t target, i, messages int) (res result) {
	user := t.user
	if strings.Contains(user, "%d") {
		user = fmt.Sprintf(user, i)
	}
	fail := func(err error) result {
		res.errs = append(res.errs, fmt.Errorf("client %d (%s): %w", i, user, err))
		return res
	}
	t0 := time.Now()
	var nc net.Conn
	var err error
	if t.tls {
		nc, err = tls.Dial("tcp", t.addr, &tls.Config{InsecureSkipVerify: t.insecure}) //nolint:gosec // opt-in flag for self-signed test servers
	} else {
		nc, err = net.Dial("tcp", t.addr)
	}
	if err != nil {
		return fail(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Minute))
	c := &conn{c: nc, r: bufio.NewReaderSize(nc, 64<<10), w: bufio.NewWriter(nc)}
	if _, err := c.status(); err != nil {
		return fail(err)
	}
	if _, err := c.cmd("USER " + user); err != nil {
		return fail(err)
	}
	if _, err := c.cmd("PASS " + t.pass); err != nil {
		return fail(err)
	}
	st, err := c.cmd("STAT")
	if err != nil {
		return fail(err)
	}
	f := strings.Fields(st)
	if len(f) < 2 {
		return fail(fmt.Errorf("bad STAT %q", st))
	}
	count, _ := strconv.Atoi(f[1])
	if _, err := c.cmd("UIDL"); err != nil {
		return fail(err)
	}
	if _, err := c.body(); err != nil {
		return fail(err)
	}
	res.setup = append(res.setup, time.Since(t0))
	if count < messages {
		return fail(fmt.Errorf("maildrop has %d messages, want %d", count, messages))
	}
	for k := 1; k <= messages; k++ {
		t1 := time.Now()
		if _, err := c.cmd("RETR " + strconv.Itoa(k)); err != nil {
			return fail(err)
		}
		n, err := c.body()
		if err != nil {
			return fail(err)
		}
		res.retr = append(res.retr, time.Since(t1))
		res.messages++
		res.bytes += n
	}
	if _, err := c.cmd("QUIT"); err != nil && !errors.Is(err, io.EOF) {
		return fail(err)
	}
	return res
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func printResults(rs []result) {
	fmt.Printf("%-8s %7s %8s %9s %9s %8s %10s %10s %12s %12s\n",
		"server", "clients", "msgs", "elapsed", "msgs/s", "MB/s", "retr p50", "retr p99", "login+UIDL50", "login+UIDL99")
	for _, r := range rs {
		secs := r.elapsed.Seconds()
		fmt.Printf("%-8s %7d %8d %9s %9.0f %8.1f %10s %10s %12s %12s\n",
			r.name, r.clients, r.messages, r.elapsed.Round(time.Millisecond),
			float64(r.messages)/secs, float64(r.bytes)/secs/1e6,
			pct(r.retr, 0.5).Round(time.Microsecond), pct(r.retr, 0.99).Round(time.Microsecond),
			pct(r.setup, 0.5).Round(time.Microsecond), pct(r.setup, 0.99).Round(time.Microsecond))
		for i, err := range r.errs {
			if i == 5 {
				fmt.Printf("  ... %d more errors\n", len(r.errs)-5)
				break
			}
			fmt.Println("  error:", err)
		}
	}
}
