// Package load generates SMTP load: messages of a given size over
// concurrent connections, each connection sending its share one after
// another, MAIL/RCPT/DATA (or BDAT) pipelined as RFC 2920 allows when the
// server offers PIPELINING. A message counts when the server acknowledged
// it (250 after the data). Used by bench/smtp and by the Go benchmarks of
// internal/smtpd.
package load

import (
	"bufio"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config says what to send where.
type Config struct {
	Addr     string
	From, To string
	Helo     string
	Conns    int
	Messages int
	Size     int  // bytes per message
	NoPipe   bool // do not pipeline even if offered
	BDAT     bool // use CHUNKING (RFC 3030) instead of DATA when offered
	// Signed, if set, DKIM-signs the messages (see Signed).
	Signed *Signed
}

// Result is the outcome of a run.
type Result struct {
	Sent    int           // acknowledged messages
	Elapsed time.Duration // wall time of the whole run
	Lat     []time.Duration
}

// Rate is acknowledged messages per second.
func (r *Result) Rate() float64 { return float64(r.Sent) / r.Elapsed.Seconds() }

// P returns the q-quantile of the per-message latency.
func (r *Result) P(q float64) time.Duration {
	if len(r.Lat) == 0 {
		return 0
	}
	return r.Lat[int(q*float64(len(r.Lat)-1))]
}

// Run sends cfg.Messages messages over cfg.Conns connections and returns
// what was acknowledged, with the first error if any.
func Run(cfg Config) (*Result, error) {
	if cfg.Conns < 1 {
		cfg.Conns = 1
	}
	if cfg.Helo == "" {
		cfg.Helo = "loadgen.test"
	}
	if cfg.Signed != nil {
		if err := cfg.Signed.prepare(cfg); err != nil {
			return &Result{}, fmt.Errorf("dkim: %w", err)
		}
	}
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < cfg.Conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			l, err := worker(cfg, i, func() (int, bool) {
				n := next.Add(1) - 1
				return int(n), n < int64(cfg.Messages)
			})
			mu.Lock()
			lat = append(lat, l...)
			if err != nil && firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	res := &Result{Sent: len(lat), Elapsed: time.Since(start), Lat: lat}
	sort.Slice(res.Lat, func(i, j int) bool { return res.Lat[i] < res.Lat[j] })
	return res, firstErr
}

// worker is one connection sending messages while take says so.
func worker(cfg Config, id int, take func() (int, bool)) ([]time.Duration, error) {
	c, err := net.Dial("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	cl := &client{c: c, r: bufio.NewReader(c), w: bufio.NewWriterSize(c, 64<<10)}
	if _, err := cl.reply(220); err != nil {
		return nil, err
	}
	ehlo, err := cl.cmd(250, "EHLO "+cfg.Helo)
	if err != nil {
		return nil, err
	}
	cl.pipe = !cfg.NoPipe && strings.Contains(ehlo, "PIPELINING")
	cl.bdat = cfg.BDAT && strings.Contains(ehlo, "CHUNKING")
	var lat []time.Duration
	for {
		n, ok := take()
		if !ok {
			break
		}
		t := time.Now()
		if err := cl.send(cfg, Message(id, n, cfg)); err != nil {
			return lat, fmt.Errorf("message %d: %w", n, err)
		}
		lat = append(lat, time.Since(t))
	}
	cl.cmd(221, "QUIT")
	return lat, nil
}

// Message is a message of exactly cfg.Size bytes (at least its header)
// with a unique Message-ID and no line starting with a dot.
func Message(conn, n int, cfg Config) []byte {
	if cfg.Signed != nil {
		return cfg.Signed.message(conn, n, cfg)
	}
	h := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: load %d\r\nMessage-ID: <%d.%d@loadgen.test>\r\n\r\n", cfg.From, cfg.To, n, conn, n)
	b := make([]byte, 0, cfg.Size+len(h))
	b = append(b, h...)
	return filler(b, cfg.Size-len(h))
}

type client struct {
	c          net.Conn
	r          *bufio.Reader
	w          *bufio.Writer
	pipe, bdat bool
}

func (cl *client) reply(want int) (string, error) {
	cl.c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	var all strings.Builder
	for {
		line, err := cl.r.ReadString('\n')
		all.WriteString(line)
		if err != nil {
			return all.String(), err
		}
		if len(line) < 4 {
			return all.String(), fmt.Errorf("short reply %q", line)
		}
		if line[3] == '-' {
			continue
		}
		if line[:3] != fmt.Sprint(want) {
			return all.String(), fmt.Errorf("got %q, want %d", strings.TrimSpace(all.String()), want)
		}
		return all.String(), nil
	}
}

func (cl *client) cmd(want int, line string) (string, error) {
	cl.w.WriteString(line + "\r\n")
	if err := cl.w.Flush(); err != nil {
		return "", err
	}
	return cl.reply(want)
}

// send runs one transaction.
func (cl *client) send(cfg Config, msg []byte) error {
	type step struct {
		line string
		want int
	}
	steps := []step{{"MAIL FROM:<" + cfg.From + ">", 250}, {"RCPT TO:<" + cfg.To + ">", 250}}
	if !cl.bdat {
		steps = append(steps, step{"DATA", 354})
	}
	if cl.pipe {
		for _, s := range steps {
			cl.w.WriteString(s.line + "\r\n")
		}
		if cl.bdat { // the chunk goes in the same flight (RFC 3030 §4.2)
			fmt.Fprintf(cl.w, "BDAT %d LAST\r\n", len(msg))
			cl.w.Write(msg)
		}
		if err := cl.w.Flush(); err != nil {
			return err
		}
		for _, s := range steps {
			if _, err := cl.reply(s.want); err != nil {
				return err
			}
		}
		if cl.bdat {
			_, err := cl.reply(250)
			return err
		}
	} else {
		for _, s := range steps {
			if _, err := cl.cmd(s.want, s.line); err != nil {
				return err
			}
		}
		if cl.bdat {
			fmt.Fprintf(cl.w, "BDAT %d LAST\r\n", len(msg))
			cl.w.Write(msg)
			if err := cl.w.Flush(); err != nil {
				return err
			}
			_, err := cl.reply(250)
			return err
		}
	}
	cl.w.Write(msg)
	cl.w.WriteString(".\r\n")
	if err := cl.w.Flush(); err != nil {
		return err
	}
	_, err := cl.reply(250)
	return err
}

// Messages returns n messages as Run would send them over one
// connection (signed if cfg.Signed is set).
func Messages(cfg Config, n int) ([][]byte, error) {
	if cfg.Signed != nil {
		if err := cfg.Signed.prepare(cfg); err != nil {
			return nil, err
		}
	}
	out := make([][]byte, n)
	for i := range out {
		out[i] = Message(0, i, cfg)
	}
	return out, nil
}
