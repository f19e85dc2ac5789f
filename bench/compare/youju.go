package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/youju/youju/bench/internal/mta"
)

// youju is a real youju binary serving a throwaway data directory, as a
// user runs it (youju init, youju user add, youju serve): the figures
// then include what the in-process benchmarks leave out (the MX path's
// SPF/DKIM/DMARC checks and Authentication-Results, logging, metrics,
// every listener of serve).
type youju struct {
	bin, data string
	offset    int
	mu        sync.Mutex // guards cmd and logf: stop may come from the signal handler
	cmd       *exec.Cmd
	logf      *os.File
}

// buildYouju builds cmd/youju of the module in repo into bin.
func buildYouju(repo, bin string) error {
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/youju")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/youju: %v\n%s", err, out)
	}
	return nil
}

// addr is youju's loopback address for a standard port (25, 143, 993).
func (y *youju) addr(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port+y.offset))
}

// setup runs youju init for domain, lifts the limits that the idle
// measurement would hit (maxConns sessions from one address) and allows
// plaintext LOGIN on loopback, then adds the users.
func (y *youju) setup(domain string, users []string, pass string, maxConns int) error {
	if _, err := y.run("", "init", "--data", y.data, "--domain", domain, "--listen", "127.0.0.1",
		"--port-offset", strconv.Itoa(y.offset)); err != nil {
		return err
	}
	path := filepath.Join(y.data, "youju.toml")
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	conf, err := patchConfig(string(b), maxConns)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return err
	}
	if _, err := y.run("", "config", "check", "--data", y.data); err != nil {
		return err
	}
	for _, u := range users {
		if _, err := y.run(pass+"\n", "user", "add", "--data", y.data, "--password-stdin", u); err != nil {
			return err
		}
	}
	return nil
}

// patchConfig adds settings to the youju.toml that init wrote, under
// its [limits] and [auth] tables.
func patchConfig(conf string, maxConns int) (string, error) {
	n := strconv.Itoa(maxConns + 100)
	for _, p := range [][2]string{
		{"\n[limits]\n", "max_connections = " + n + "\nmax_connections_ip = " + n + "\n"},
		{"\n[auth]\n", "allow_plaintext_loopback = true\n"},
	} {
		if !strings.Contains(conf, p[0]) {
			return "", fmt.Errorf("youju.toml has no %s table", strings.TrimSpace(p[0]))
		}
		conf = strings.Replace(conf, p[0], p[0]+p[1], 1)
	}
	return conf, nil
}

func (y *youju) run(stdin string, args ...string) (string, error) {
	cmd := exec.Command(y.bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("youju %s: %v\n%s", args[0], err, out)
	}
	return string(out), nil
}

// start runs youju serve, its log going to serve.log, and returns once
// IMAP accepts connections.
func (y *youju) start() error {
	cmd, logf, err := mta.StartLogged(filepath.Join(filepath.Dir(y.data), "youju-serve.log"), y.bin, "serve", "--data", y.data)
	if err != nil {
		return err
	}
	y.mu.Lock()
	y.cmd, y.logf = cmd, logf
	y.mu.Unlock()
	if err := mta.WaitListening(y.addr(143), 30*time.Second); err != nil {
		y.stop()
		return fmt.Errorf("youju serve did not start (see %s): %w", logf.Name(), err)
	}
	return nil
}

// stop ends youju serve with SIGTERM (a graceful shutdown) and waits.
func (y *youju) stop() {
	y.mu.Lock()
	defer y.mu.Unlock()
	if y.cmd == nil {
		return
	}
	mta.StopProcess(y.cmd, time.Minute)
	y.logf.Close()
	y.cmd, y.logf = nil, nil
}

// storeMetrics are the group-commit sums of youju's /metrics (admin
// listener): commits, requests in them, seconds committing and seconds
// in the durable write (record + fsync).
type storeMetrics struct{ commits, requests, commitSec, syncSec float64 }

// storeMetrics reads them; zero when the admin listener does not answer.
func (y *youju) storeMetrics() storeMetrics {
	resp, err := http.Get("http://" + y.addr(9100) + "/metrics")
	if err != nil {
		return storeMetrics{}
	}
	defer resp.Body.Close()
	var m storeMetrics
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "youju_store_batch_requests_count":
			m.commits = v
		case "youju_store_batch_requests_sum":
			m.requests = v
		case "youju_store_commit_seconds_sum":
			m.commitSec = v
		case "youju_store_blob_append_seconds_sum":
			m.syncSec = v
		}
	}
	return m
}

// String says what a difference of two readings shows: requests per
// commit, and the mean commit and durable-write times.
func (m storeMetrics) String() string {
	if m.commits == 0 {
		return "no store metrics"
	}
	return fmt.Sprintf("%d commits, %.1f requests each, %.2f ms per commit, %.2f ms of it the durable write",
		int(m.commits), m.requests/m.commits, 1000*m.commitSec/m.commits, 1000*m.syncSec/m.commits)
}

func (m storeMetrics) sub(o storeMetrics) storeMetrics {
	return storeMetrics{m.commits - o.commits, m.requests - o.requests, m.commitSec - o.commitSec, m.syncSec - o.syncSec}
}

// signalWindow opens or closes youju serve's profile window (SIGUSR1,
// with YOUJU_PROFILE_DIR set).
func (y *youju) signalWindow() {
	y.mu.Lock()
	defer y.mu.Unlock()
	if y.cmd != nil {
		y.cmd.Process.Signal(syscall.SIGUSR1)
	}
}

func (y *youju) restart() error {
	y.stop()
	return y.start()
}

func (y *youju) pids() []int {
	y.mu.Lock()
	defer y.mu.Unlock()
	if y.cmd == nil {
		return nil
	}
	return []int{y.cmd.Process.Pid}
}

// indexWait bounds the wait for youju's text index after a fill (100k
// messages take a few minutes on a small machine).
const indexWait = 30 * time.Minute

// waitIndexed polls `youju index status` (through the running server's
// control socket) until no message waits for the text index.
func (y *youju) waitIndexed(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	lastLog := time.Now()
	for {
		out, err := y.run("", "index", "status", "--data", y.data)
		if err != nil {
			return err
		}
		n, err := parsePending(out)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("text index: %d messages still pending after %v", n, limit)
		}
		if time.Since(lastLog) > 10*time.Second {
			logf("youju: %d messages waiting for the text index", n)
			lastLog = time.Now()
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// parsePending reads the count `youju index status` prints first.
func parsePending(out string) (int64, error) {
	f := strings.Fields(out)
	if len(f) == 0 {
		return 0, fmt.Errorf("youju index status: no output")
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("youju index status: %q", strings.TrimSpace(out))
	}
	return n, nil
}
