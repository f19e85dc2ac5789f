// Command imap measures the IMAP operations of issue 5 on a 100,000-message
// INBOX against any IMAP server, and can set up youju and Dovecot side by
// side to measure both in the same run:
//
//	go run ./bench/imap -youju /tmp/ybench -dovecot /tmp/dbench
//	go run ./bench/imap -addr 127.0.0.1:143 -user u -pass p [-fill 100000]
//
// Every operation runs once to warm caches, then -runs times on one
// session; the median is reported. See README.md.
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/youju/youju/bench/internal/imapc"
	"github.com/youju/youju/bench/internal/mta"
)

func main() { os.Exit(run()) }

type target struct {
	name string
	addr string
	stop func()
}

func run() int {
	addr := flag.String("addr", "", "an IMAP server to measure (host:port, plaintext LOGIN)")
	user := flag.String("user", "alice@example.org", "user for -addr and the servers set up here")
	pass := flag.String("pass", "correct horse battery", "password")
	youjuDir := flag.String("youju", "", "run an embedded youju server on a store in this directory")
	dovecotDir := flag.String("dovecot", "", "set up and run Dovecot with a Maildir in this directory")
	dovecotPort := flag.Int("dovecot-port", 14300, "loopback port for Dovecot")
	messages := flag.Int("messages", 100_000, "INBOX size the servers set up here are filled to")
	fill := flag.Int("fill", 0, "APPEND messages (pipelined with LITERAL+) until each INBOX holds this many, and print the rate")
	runs := flag.Int("runs", 5, "timed runs of each operation")
	flag.Parse()

	var targets []target
	defer func() {
		for _, t := range targets {
			if t.stop != nil {
				t.stop()
			}
		}
	}()
	if *addr != "" {
		if *fill > 0 {
			if err := fillByAppend(*addr, *user, *pass, *fill); err != nil {
				fmt.Fprintln(os.Stderr, "fill:", err)
				return 1
			}
		}
		targets = append(targets, target{name: *addr, addr: *addr})
	}
	if *youjuDir != "" {
		a, stop, err := startYouju(*youjuDir, *user, *pass, *messages)
		if err != nil {
			fmt.Fprintln(os.Stderr, "youju:", err)
			return 1
		}
		targets = append(targets, target{name: "youju", addr: a, stop: stop})
		if err := fillTarget(a, *user, *pass, *fill); err != nil {
			fmt.Fprintln(os.Stderr, "youju fill:", err)
			return 1
		}
	}
	if *dovecotDir != "" {
		a, stop, err := startDovecot(*dovecotDir, *dovecotPort, *user, *pass, *messages)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dovecot:", err)
			return 1
		}
		targets = append(targets, target{name: "dovecot " + mta.DovecotVersion(), addr: a, stop: stop})
		if err := fillTarget(a, *user, *pass, *fill); err != nil {
			fmt.Fprintln(os.Stderr, "dovecot fill:", err)
			return 1
		}
	}
	if len(targets) == 0 {
		fmt.Fprintln(os.Stderr, "nothing to measure: give -addr, -youju or -dovecot")
		return 2
	}
	results := make([][]time.Duration, len(targets))
	for i, t := range targets {
		fmt.Fprintf(os.Stderr, "measuring %s at %s\n", t.name, t.addr)
		r, err := measure(t.addr, *user, *pass, *runs)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", t.name, err)
			return 1
		}
		results[i] = r
	}
	printTable(targets, results, *runs)
	return 0
}

// op is one measured operation; cmd gets the message count from SELECT.
type op struct {
	name   string
	target time.Duration
	cmd    func(exists int) string
	min    func(exists int) int // responses expected at least
}

var ops = []op{
	{"SELECT INBOX", 10 * time.Millisecond, func(int) string { return "SELECT INBOX" }, func(int) int { return 0 }},
	{"UID FETCH 1:* (UID FLAGS)", 150 * time.Millisecond, func(int) string { return "UID FETCH 1:* (UID FLAGS)" }, func(n int) int { return n }},
	{"last 50: ENVELOPE BODYSTRUCTURE RFC822.SIZE", 5 * time.Millisecond, func(n int) string {
		return fmt.Sprintf("FETCH %d:* (UID ENVELOPE BODYSTRUCTURE RFC822.SIZE)", max(1, n-49))
	}, func(n int) int { return min(n, 50) }},
	{"UID SEARCH UNSEEN", 10 * time.Millisecond, func(int) string { return "UID SEARCH UNSEEN" }, func(int) int { return 1 }},
	{"UID FETCH 1:* (ENVELOPE)", 600 * time.Millisecond, func(int) string { return "UID FETCH 1:* (ENVELOPE)" }, func(n int) int { return n }},
}

// measure runs every op on one session and returns the medians.
func measure(addr, user, pass string, runs int) ([]time.Duration, error) {
	c, err := imapc.Dial(addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Login(user, pass); err != nil {
		return nil, err
	}
	exists, err := c.Select("INBOX")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "  INBOX has %d messages\n", exists)
	out := make([]time.Duration, len(ops))
	for i, o := range ops {
		cmd := o.cmd(exists)
		times := make([]time.Duration, 0, runs)
		for r := 0; r <= runs; r++ { // run 0 warms the caches
			t0 := time.Now()
			n, err := c.Run(cmd, nil)
			d := time.Since(t0)
			if err != nil {
				return nil, err
			}
			if n < o.min(exists) {
				return nil, fmt.Errorf("%s: %d responses, want at least %d", cmd, n, o.min(exists))
			}
			if r == 0 {
				fmt.Fprintf(os.Stderr, "  %-45s warm-up %v\n", o.name, d.Round(time.Microsecond))
				continue
			}
			times = append(times, d)
		}
		slices.Sort(times)
		out[i] = times[len(times)/2]
	}
	return out, nil
}

func printTable(targets []target, results [][]time.Duration, runs int) {
	fmt.Printf("Median of %d runs, one session, loopback.\n\n", runs)
	fmt.Print("| Operation | Target |")
	for _, t := range targets {
		fmt.Printf(" %s |", t.name)
	}
	fmt.Print("\n|---|---|")
	for range targets {
		fmt.Print("---|")
	}
	fmt.Println()
	for i, o := range ops {
		fmt.Printf("| %s | <= %v |", o.name, o.target)
		for j := range targets {
			fmt.Printf(" %s |", fmtDur(results[j][i]))
		}
		fmt.Println()
	}
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
}

// fillTarget runs fillByAppend when n > 0.
func fillTarget(addr, user, pass string, n int) error {
	if n <= 0 {
		return nil
	}
	return fillByAppend(addr, user, pass, n)
}

// fillByAppend APPENDs benchmark messages until INBOX holds n (see
// imapc.Fill), and prints the rate.
func fillByAppend(addr, user, pass string, n int) error {
	added, d, err := imapc.Fill(addr, user, pass, n)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "APPEND fill: %d messages in %v, %.0f msg/s\n", added, d.Round(time.Millisecond), float64(added)/d.Seconds())
	return nil
}
