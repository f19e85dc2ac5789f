// Command compare measures youju and Debian's Postfix+Dovecot side by
// side on this machine, with the same load tools, and prints one table
// (issue 12's figures):
//
//	sudo go run ./bench/compare            # the full run (about 15 minutes)
//	sudo go run ./bench/compare -quick     # a smoke test (about a minute)
//
// It builds youju from this repository and runs the binary as a user
// does (youju init, user add, serve) on a throwaway data directory with a
// port offset; it sets up a throwaway Postfix (smtpd on loopback,
// relaying the domain over LMTP) and Dovecot 2.3 (IMAP, IMAPS, LMTP;
// passwd-file users, Maildir). Everything lives in one temporary
// directory that is removed at the end, with every process started,
// also on ^C. See README.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/youju/youju/bench/internal/imapc"
	"github.com/youju/youju/bench/internal/mta"
	"github.com/youju/youju/internal/tlsconf"
)

type options struct {
	smtpMessages, conns, size int
	messages, runs, idle      int
	offset                    int
	only                      map[string]bool
	servers                   map[string]bool
	keep                      bool
	youjuBin                  string // a built youju to measure instead of building this repository's
	profileDir                string // where youju serve writes the SMTP burst's profiles
}

// Ports of the Debian side (youju's are its standard ports + -port-offset).
const (
	postfixPort = 31025
	lmtpPort    = 31024
	dovecotIMAP = 31143
	dovecotTLS  = 31993
)

var steps = []string{"smtp", "fill", "mailbox", "idle"}

func main() { os.Exit(run()) }

func run() int {
	o := &options{}
	flag.IntVar(&o.smtpMessages, "smtp-messages", 20000, "messages sent over SMTP")
	flag.IntVar(&o.conns, "conns", 20, "SMTP connections")
	flag.IntVar(&o.size, "size", 10240, "SMTP message size in bytes")
	flag.IntVar(&o.messages, "messages", 100_000, "messages APPENDed into the INBOX that is then SELECTed and searched")
	flag.IntVar(&o.runs, "runs", 3, "timed runs of SELECT and SEARCH (after one warm-up); the median is printed")
	flag.IntVar(&o.idle, "idle", 2000, "TLS IMAP sessions in IDLE for the memory figure")
	flag.IntVar(&o.offset, "port-offset", 20000, "youju's port offset (25 -> 20025, 143 -> 20143, 993 -> 20993)")
	quick := flag.Bool("quick", false, "a smoke test: 2,000 SMTP messages, 5,000 in the INBOX, 200 idle sessions, 1 run")
	only := flag.String("only", strings.Join(steps, ","), "measurements to make; without fill, mailbox fills the INBOX untimed first")
	servers := flag.String("servers", "youju,dovecot", "sides to measure")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs, mail) for a look afterwards")
	flag.StringVar(&o.youjuBin, "youju-bin", "", "measure this youju binary instead of building ./cmd/youju (to compare builds)")
	flag.StringVar(&o.profileDir, "profile", "", "directory where youju serve writes a CPU profile, an execution trace and block/mutex profiles of the SMTP burst")
	flag.Parse()
	if *quick {
		o.smtpMessages, o.messages, o.idle, o.runs = 2000, 5000, 200, 1
	}
	o.only, o.servers = set(*only), set(*servers)
	if err := preflight(o); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		return 2
	}
	base, err := os.MkdirTemp("", "youju-compare-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		return 1
	}
	// Postfix and Dovecot run parts as their own users, which must reach
	// their directories inside.
	os.Chmod(base, 0o755)
	var cl cleanups
	cl.add(func() {
		if o.keep {
			fmt.Fprintln(os.Stderr, "kept", base)
			return
		}
		os.RemoveAll(base)
	})
	defer cl.run()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		<-sig
		fmt.Fprintln(os.Stderr, "compare: interrupted, cleaning up")
		cl.run()
		os.Exit(130)
	}()
	names, results, err := measureAll(o, base, &cl)
	if len(results) > 0 {
		printReport(o, names, results)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		return 1
	}
	return 0
}

// measureAll sets up each side in turn, measures it and stops it.
func measureAll(o *options, base string, cl *cleanups) ([]string, []*result, error) {
	var names []string
	var results []*result
	for _, sd := range []struct {
		key, name string
		setup     func(*options, string) (*side, func(), error)
	}{
		{"youju", "youju", setupYouju},
		{"dovecot", "Dovecot " + mta.DovecotVersion() + " (+Postfix " + postfixVersion() + ")", setupDebian},
	} {
		if !o.servers[sd.key] {
			continue
		}
		s, stop, err := sd.setup(o, base)
		if stop != nil {
			cl.add(stop)
		}
		if err != nil {
			return names, results, fmt.Errorf("%s: %w", sd.key, err)
		}
		r := &result{}
		names, results = append(names, sd.name), append(results, r)
		err = measureSide(s, o, r)
		stop()
		if err != nil {
			return names, results, fmt.Errorf("%s: %w", sd.key, err)
		}
	}
	return names, results, nil
}

// measureSide runs the chosen measurements on one side, in an order where
// each leaves the state the next needs (the filled INBOX) and the memory
// figure comes from a freshly started server.
func measureSide(s *side, o *options, r *result) error {
	for _, m := range []struct {
		name string
		f    func(*side, *options, *result) error
	}{{"smtp", measureSMTP}, {"fill", measureFill}, {"mailbox", measureMailbox}, {"idle", measureIdle}} {
		if !o.only[m.name] {
			continue
		}
		logf("%s: measuring %s", s.name, m.name)
		if err := m.f(s, o, r); err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
	}
	return nil
}

// setupYouju builds youju, initialises a data directory and serves it.
func setupYouju(o *options, base string) (*side, func(), error) {
	y := &youju{bin: filepath.Join(base, "youju"), data: filepath.Join(base, "youju-data"), offset: o.offset}
	if o.youjuBin != "" {
		y.bin = o.youjuBin
	} else {
		repo, err := moduleDir()
		if err != nil {
			return nil, nil, err
		}
		logf("youju: building %s/cmd/youju", repo)
		if err := buildYouju(repo, y.bin); err != nil {
			return nil, nil, err
		}
	}
	if o.profileDir != "" {
		// youju serve inherits it: SIGUSR1 opens and closes a window.
		os.Setenv("YOUJU_PROFILE_DIR", o.profileDir)
	}
	if err := y.setup(domain, users, benchPass, o.idle); err != nil {
		return nil, nil, err
	}
	if err := y.start(); err != nil {
		return nil, nil, err
	}
	s := &side{name: "youju", smtp: y.addr(25), imap: y.addr(143), imaps: y.addr(993), restart: y.restart, pids: y.pids,
		settled: func() error { return y.waitIndexed(indexWait) }}
	if o.profileDir != "" {
		s.window = y.signalWindow
	}
	s.storeStats = func() func() string {
		m0 := y.storeMetrics()
		return func() string { return y.storeMetrics().sub(m0).String() }
	}
	s.prefill = func(n int) error {
		_, _, err := imapc.Fill(s.imap, fillUser, benchPass, n)
		return err
	}
	return s, y.stop, nil
}

// setupDebian starts Dovecot (IMAP, IMAPS with youju's kind of
// self-signed certificate, LMTP) and Postfix relaying to it.
func setupDebian(o *options, base string) (*side, func(), error) {
	dir := filepath.Join(base, "debian")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, nil, err
	}
	cert, key, err := selfSigned(filepath.Join(dir, "tls"))
	if err != nil {
		return nil, nil, err
	}
	d := &mta.Dovecot{Dir: filepath.Join(dir, "dovecot"), Users: users, Password: benchPass,
		IMAP: dovecotIMAP, IMAPS: dovecotTLS, LMTP: lmtpPort, Cert: cert, Key: key, MaxConns: o.idle}
	p := &mta.Postfix{Dir: filepath.Join(dir, "postfix"), Port: postfixPort, Domain: domain, Users: users,
		LMTP: fmt.Sprintf("127.0.0.1:%d", lmtpPort)}
	stop := func() { p.Stop(); d.Stop() }
	if err := d.Start(); err != nil {
		return nil, nil, err
	}
	if err := p.Start(); err != nil {
		d.Stop()
		return nil, nil, err
	}
	s := &side{name: "dovecot", smtp: fmt.Sprintf("127.0.0.1:%d", postfixPort), imap: fmt.Sprintf("127.0.0.1:%d", dovecotIMAP),
		imaps: fmt.Sprintf("127.0.0.1:%d", dovecotTLS), restart: d.Restart,
		pids: func() []int { return mta.Children(d.Pid(), "imap", "imap-login") },
		// Writing the Maildir is much faster than APPEND; the restart
		// gives the files to Dovecot's user.
		prefill: func(n int) error {
			if err := imapc.WriteMaildir(filepath.Join(d.Home(fillUser), "Maildir"), n); err != nil {
				return err
			}
			return d.Restart()
		}}
	return s, stop, nil
}

// preflight says clearly what is missing before anything starts.
func preflight(o *options) error {
	if os.Geteuid() != 0 {
		return errors.New("run as root: Postfix's master and Dovecot run as root and switch to their users")
	}
	var missing []string
	if o.servers["dovecot"] {
		for _, f := range []string{"/usr/sbin/postfix", "/usr/sbin/dovecot", "/usr/lib/dovecot/imap", "/usr/lib/dovecot/lmtp"} {
			if _, err := os.Stat(f); err != nil {
				missing = append(missing, f)
			}
		}
		for _, u := range []string{"postfix", "dovecot", "dovenull"} {
			if _, err := user.Lookup(u); err != nil {
				missing = append(missing, "user "+u)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s; install the packages with\n  apt-get update && apt-get install -y --no-install-recommends postfix dovecot-imapd dovecot-lmtpd",
			strings.Join(missing, ", "))
	}
	if _, err := exec.LookPath("go"); err != nil && o.servers["youju"] {
		return errors.New("the go command is needed to build youju")
	}
	for m := range o.only {
		if !slices.Contains(steps, m) {
			return fmt.Errorf("-only: unknown measurement %q (have %s)", m, strings.Join(steps, ","))
		}
	}
	for s := range o.servers {
		if s != "youju" && s != "dovecot" {
			return fmt.Errorf("-servers: unknown side %q (have youju,dovecot)", s)
		}
	}
	if err := portsFree(o); err != nil {
		return err
	}
	return raiseFileLimit()
}

// portsFree says which port another program (another Dovecot?) holds.
func portsFree(o *options) error {
	var ports []int
	if o.servers["youju"] {
		ports = append(ports, 25+o.offset, 143+o.offset, 993+o.offset)
	}
	if o.servers["dovecot"] {
		ports = append(ports, postfixPort, lmtpPort, dovecotIMAP, dovecotTLS)
	}
	for _, p := range ports {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return fmt.Errorf("port %d is in use: %w", p, err)
		}
		l.Close()
	}
	return nil
}

// raiseFileLimit lets this process, and the servers it starts, hold the
// idle sessions (Go raises its own soft limit but restores the original
// one for children unless the program sets it).
func raiseFileLimit() error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	l.Cur = l.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
}

// printReport prints the table and what it was measured under.
func printReport(o *options, names []string, results []*result) {
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("\n%s, %d cores, load average %s (at the end)\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"),
		runtime.NumCPU(), strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Print(table(o, names, results))
	fmt.Printf("\nSMTP: %d messages, DATA p50/p90 is the time from MAIL to the 250 after the data (pipelined).\n"+
		"SELECT and SEARCH: median of %d runs after one warm-up; \"first after start\" restarts the server, the OS page cache stays warm.\n"+
		"PSS: the growth of the summed PSS of youju's process, of Dovecot's imap and imap-login processes, divided by the sessions.\n",
		o.smtpMessages, o.runs)
}

// cleanups are run once, in reverse order, at the end or on a signal.
type cleanups struct {
	mu   sync.Mutex
	fs   []func()
	done bool
}

func (c *cleanups) add(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fs = append(c.fs, f)
}

func (c *cleanups) run() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	c.done = true
	for i := len(c.fs) - 1; i >= 0; i-- {
		c.fs[i]()
	}
}

func set(list string) map[string]bool {
	m := map[string]bool{}
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			m[s] = true
		}
	}
	return m
}

// moduleDir is the directory of this repository's go.mod.
func moduleDir() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	mod := strings.TrimSpace(string(out))
	if err != nil || mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run from inside the youju repository (go env GOMOD: %q, %v)", mod, err)
	}
	return filepath.Dir(mod), nil
}

func postfixVersion() string {
	out, err := exec.Command("postconf", "-h", "mail_version").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

// selfSigned writes a certificate for Dovecot's IMAPS made as youju init
// makes its own, so that both sides do the same TLS handshakes.
func selfSigned(dir string) (cert, key string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	return cert, key, tlsconf.WriteSelfSigned(cert, key, []string{"localhost", "127.0.0.1"})
}
