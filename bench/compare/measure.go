package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/youju/youju/bench/internal/imapc"
	"github.com/youju/youju/bench/internal/mta"
	"github.com/youju/youju/bench/smtp/load"
)

// side is one of the compared servers, as the measurements see it.
type side struct {
	name              string
	smtp, imap, imaps string            // loopback addresses
	restart           func() error      // stop and start the server (IMAP side)
	prefill           func(n int) error // fill the fill user's INBOX the fastest way, untimed
	pids              func() []int      // the processes whose memory counts
	// settled waits until the server's background work on the filled
	// mailbox is done (youju: its text index has caught up), so that
	// SELECT and SEARCH are timed against the finished index; nil: none.
	settled func() error
	// window, when set, opens and then closes the server's profile
	// window around the SMTP burst, and around the warm SELECTs whose
	// CPU is measured.
	window func()
	// storeStats, when set, starts a reading of the server's group-commit
	// figures; the function it returns describes them since.
	storeStats func() func() string
}

// result holds one side's figures; a zero value was not measured.
type result struct {
	smtpRate, acceptRate       float64 // msg/s end to end, and of the 250s
	dataP50, dataP90           time.Duration
	smtpServerCPU, smtpLoadCPU time.Duration // CPU per message, of the server and of this process (the load)
	fillRate                   float64       // msg/s
	selectWarm, selectFirst    time.Duration
	selectCPU                  time.Duration // server CPU per warm SELECT
	searchSubject, searchBody  time.Duration
	idleKiB                    float64 // PSS per idle session
}

const (
	domain    = "bench.test"
	smtpUser  = "smtp@" + domain // receives the SMTP load
	fillUser  = "fill@" + domain // its INBOX is APPEND-filled, SELECTed and searched
	idleUser  = "idle@" + domain // the idle sessions' (empty) INBOX
	benchPass = "bench-password-1"
)

var users = []string{smtpUser, fillUser, idleUser}

// measureSMTP sends o.smtpMessages messages of o.size bytes over o.conns
// connections and waits until STATUS INBOX counts them all: the rate is
// end to end, durable in the mailbox and visible to an IMAP client.
func measureSMTP(s *side, o *options, r *result) error {
	c, err := login(s.imap, smtpUser)
	if err != nil {
		return err
	}
	defer c.Close()
	before, err := c.Messages("INBOX")
	if err != nil {
		return err
	}
	if s.window != nil {
		s.window()
		defer s.window()
	}
	var stats func() string
	if s.storeStats != nil {
		stats = s.storeStats()
	}
	cpu0, self0 := mta.CPUTime(s.pids()), selfCPU()
	t0 := time.Now()
	res, err := load.Run(load.Config{Addr: s.smtp, From: "load@bench.invalid", To: smtpUser,
		Conns: o.conns, Messages: o.smtpMessages, Size: o.size})
	if err != nil {
		return fmt.Errorf("SMTP load: %w", err)
	}
	for {
		n, err := c.Messages("INBOX")
		if err != nil {
			return err
		}
		if n >= before+o.smtpMessages {
			break
		}
		if time.Since(t0) > 30*time.Minute {
			return fmt.Errorf("after 30 minutes only %d of %d messages are in the INBOX", n-before, o.smtpMessages)
		}
		time.Sleep(50 * time.Millisecond)
	}
	e2e := time.Since(t0)
	r.smtpServerCPU = (mta.CPUTime(s.pids()) - cpu0) / time.Duration(o.smtpMessages)
	r.smtpLoadCPU = (selfCPU() - self0) / time.Duration(o.smtpMessages)
	r.smtpRate = float64(o.smtpMessages) / e2e.Seconds()
	r.acceptRate = res.Rate()
	r.dataP50, r.dataP90 = res.P(0.5), res.P(0.9)
	logf("%s: SMTP %d messages: 250s in %v (p50 %v, p90 %v), all in the INBOX after %v; CPU per message: server %v, load %v",
		s.name, o.smtpMessages, res.Elapsed.Round(time.Millisecond), r.dataP50.Round(time.Microsecond),
		r.dataP90.Round(time.Microsecond), e2e.Round(time.Millisecond), r.smtpServerCPU, r.smtpLoadCPU)
	if stats != nil {
		logf("%s: group commit: %s", s.name, stats())
	}
	return nil
}

// login opens a plaintext IMAP session on loopback for user.
func login(addr, user string) (*imapc.Client, error) {
	c, err := imapc.Dial(addr)
	if err != nil {
		return nil, err
	}
	if err := c.Login(user, benchPass); err != nil {
		c.Conn.Close()
		return nil, err
	}
	return c, nil
}

// measureFill APPENDs the benchmark mailbox into the fill user's INBOX.
func measureFill(s *side, o *options, r *result) error {
	added, d, err := imapc.Fill(s.imap, fillUser, benchPass, o.messages)
	if err != nil {
		return fmt.Errorf("APPEND fill: %w", err)
	}
	r.fillRate = float64(added) / d.Seconds()
	logf("%s: APPEND fill: %d messages in %v", s.name, added, d.Round(time.Millisecond))
	return nil
}

// measureMailbox restarts the server, times the first SELECT of the
// filled INBOX, then warm SELECTs and SEARCH SUBJECT / BODY (each run
// once to warm up, then o.runs times, median). Every run searches for
// another message so that no result cache answers.
func measureMailbox(s *side, o *options, r *result) error {
	if !o.only["fill"] {
		logf("%s: filling the INBOX (untimed)", s.name)
		if err := s.prefill(o.messages); err != nil {
			return fmt.Errorf("filling the INBOX: %w", err)
		}
	}
	// One SELECT before the restart, so that the first after it finds the
	// server's index (Dovecot builds it on the first SELECT of a Maildir).
	c, err := login(s.imap, fillUser)
	if err != nil {
		return err
	}
	_, err = c.Select("INBOX")
	c.Close()
	if err != nil {
		return err
	}
	if s.settled != nil {
		t0 := time.Now()
		if err := s.settled(); err != nil {
			return err
		}
		logf("%s: background indexing done %v after the fill", s.name, time.Since(t0).Round(time.Millisecond))
	}
	if err := s.restart(); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	c, err = login(s.imap, fillUser)
	if err != nil {
		return err
	}
	defer c.Close()
	t0 := time.Now()
	n, err := c.Select("INBOX")
	r.selectFirst = time.Since(t0)
	if err != nil {
		return err
	}
	if n != o.messages {
		return fmt.Errorf("SELECT INBOX: %d messages, want %d", n, o.messages)
	}
	// Warm is the state a client's next SELECT finds: youju loads the
	// mailbox's flag cache in the background after the first SELECT
	// (0.3-0.7 s for 100k messages on this machine), and SELECTs timed
	// during that load measured the load's competition for the CPU.
	time.Sleep(warmPause)
	if r.selectWarm, err = timeRuns(o.runs, func(int) error {
		_, err := c.Select("INBOX")
		return err
	}); err != nil {
		return err
	}
	if r.selectCPU, err = selectCPU(s, c); err != nil {
		return err
	}
	if s.settled != nil { // nothing left after the restart either
		if err := s.settled(); err != nil {
			return err
		}
	}
	k := searchTarget(o.messages)
	if r.searchSubject, err = timeRuns(o.runs, func(i int) error {
		return search(c, fmt.Sprintf(`SEARCH SUBJECT "message %d"`, k+i), subjectMatches(k+i, o.messages))
	}); err != nil {
		return err
	}
	if r.searchBody, err = timeRuns(o.runs, func(i int) error {
		return search(c, fmt.Sprintf(`SEARCH BODY "is message %d."`, k+i), 1)
	}); err != nil {
		return err
	}
	logf("%s: SELECT first %v, warm %v (server CPU %v); SEARCH SUBJECT %v, BODY %v", s.name, r.selectFirst.Round(time.Microsecond),
		r.selectWarm.Round(time.Microsecond), r.selectCPU, r.searchSubject.Round(time.Microsecond), r.searchBody.Round(time.Microsecond))
	return nil
}

// searchTarget is the message searched for first; runs search the next ones.
func searchTarget(messages int) int {
	if messages > 4242+100 {
		return 4242
	}
	return messages / 3
}

// subjectMatches counts the benchmark messages below n whose subject
// ("benchmark message I") contains "message K": those whose number
// begins with K's digits.
func subjectMatches(k, n int) int {
	p, count := strconv.Itoa(k), 0
	for i := range n {
		if strings.HasPrefix(strconv.Itoa(i), p) {
			count++
		}
	}
	return count
}

// search runs a SEARCH command and checks the number of hits.
func search(c *imapc.Client, cmd string, want int) error {
	got := -1
	if _, err := c.Run(cmd, func(l string) {
		if f := strings.Fields(l); len(f) >= 2 && f[1] == "SEARCH" {
			got = len(f) - 2
		}
	}); err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s: %d hits, want %d", cmd, got, want)
	}
	return nil
}

// warmPause separates the first SELECT after the restart from the warm
// ones (both sides).
const warmPause = 3 * time.Second

// selectCPURuns warm SELECTs give the server CPU per SELECT (the
// process's CPU time is counted in 10 ms ticks).
const selectCPURuns = 500

// selectCPU is the server's CPU per warm SELECT of the INBOX (0 when its
// processes are not known).
func selectCPU(s *side, c *imapc.Client) (time.Duration, error) {
	if s.pids == nil || len(s.pids()) == 0 {
		return 0, nil
	}
	if s.window != nil { // the profiles of these SELECTs replace the SMTP burst's
		s.window()
		defer s.window()
	}
	cpu0 := mta.CPUTime(s.pids())
	for range selectCPURuns {
		if _, err := c.Select("INBOX"); err != nil {
			return 0, err
		}
	}
	return (mta.CPUTime(s.pids()) - cpu0) / selectCPURuns, nil
}

// selfCPU is the CPU time this process (the load tools) has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timeRuns runs f once to warm up, then runs times, and returns the
// median time.
func timeRuns(runs int, f func(i int) error) (time.Duration, error) {
	times := make([]time.Duration, 0, runs)
	for i := 0; i <= runs; i++ {
		t0 := time.Now()
		if err := f(i); err != nil {
			return 0, err
		}
		if i > 0 {
			times = append(times, time.Since(t0))
		}
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}

// measureIdle restarts the server, then opens o.idle TLS sessions that
// log in, select the (empty) INBOX and IDLE, and divides the growth of
// the server processes' summed PSS by their number.
func measureIdle(s *side, o *options, r *result) error {
	if err := s.restart(); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	time.Sleep(2 * time.Second)
	before := mta.SumPSS(s.pids())
	t0 := time.Now()
	clients, err := openIdle(s.imaps, o.idle)
	defer func() {
		for _, c := range clients {
			c.Conn.Close()
		}
	}()
	if err != nil {
		return err
	}
	logf("%s: %d TLS sessions in IDLE after %v", s.name, o.idle, time.Since(t0).Round(time.Millisecond))
	// The smallest of a few samples, 2 s apart: the server settles (Go's
	// collector and scavenger run, Dovecot's processes finish starting).
	var after int64
	var pids []int
	for i := range 5 {
		time.Sleep(2 * time.Second)
		pids = s.pids()
		if kb := mta.SumPSS(pids); i == 0 || kb < after {
			after = kb
		}
	}
	r.idleKiB = float64(after-before) / float64(o.idle)
	logf("%s: PSS %d KiB before, %d KiB after (%d processes)", s.name, before, after, len(pids))
	return nil
}

// openIdle opens n sessions in IDLE, a few at a time, after a first
// one alone: its login puts the password in youju's verification cache,
// as a mail client's first connection does, so that the others are not
// refused for running too many password checks from one address.
func openIdle(addr string, n int) ([]*imapc.Client, error) {
	c, err := idleSession(addr)
	if err != nil {
		return nil, err
	}
	n--
	var (
		mu      sync.Mutex
		clients = []*imapc.Client{c}
		first   error
		wg      sync.WaitGroup
	)
	next := make(chan struct{})
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				c, err := idleSession(addr)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if c != nil {
					clients = append(clients, c)
				}
				mu.Unlock()
			}
		}()
	}
	for range n {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	return clients, first
}

func idleSession(addr string) (*imapc.Client, error) {
	c, err := imapc.DialTLS(addr)
	if err != nil {
		return nil, err
	}
	c.Conn.SetDeadline(time.Now().Add(2 * time.Minute))
	err = c.Login(idleUser, benchPass)
	if err == nil {
		_, err = c.Select("INBOX")
	}
	if err == nil {
		err = c.Idle()
	}
	c.Conn.SetDeadline(time.Time{})
	if err != nil {
		c.Conn.Close()
		return nil, fmt.Errorf("idle session: %w", err)
	}
	return c, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
