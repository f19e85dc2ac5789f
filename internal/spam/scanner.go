package spam

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Scanners: ClamAV's clamd (INSTREAM over its socket) and rspamd (its
// HTTP protocol, /checkv2). Both are optional; when one is configured
// and cannot answer, Config.ScannerTempfail decides between a temporary
// refusal (451: the sender retries, nothing is lost) and delivering
// unscanned (logged).

// ErrScanner is a scanner that could not answer.
var ErrScanner = errors.New("spam: scanner unavailable")

// Clamd scans with clamd. Addr is "unix:/run/clamav/clamd.ctl" or
// "host:port".
type Clamd struct {
	Addr    string
	Timeout time.Duration // default 30s
}

const clamdChunk = 64 << 10

// Scan returns the name of what clamd found ("" if the message is
// clean).
func (c *Clamd) Scan(ctx context.Context, msg []byte) (string, error) {
	network, addr := "tcp", c.Addr
	if p, ok := strings.CutPrefix(c.Addr, "unix:"); ok {
		network, addr = "unix", p
	}
	ctx, cancel := context.WithTimeout(ctx, dflt(c.Timeout, 30*time.Second))
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return "", fmt.Errorf("%w: clamd: %v", ErrScanner, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// "z" commands are NUL-terminated; INSTREAM takes chunks, each
	// preceded by its length (4 bytes, network order), and a zero length.
	w := bytes.NewBuffer(make([]byte, 0, len(msg)+len(msg)/clamdChunk*4+32))
	w.WriteString("zINSTREAM\x00")
	for rest := msg; len(rest) > 0; {
		n := min(len(rest), clamdChunk)
		binary.Write(w, binary.BigEndian, uint32(n))
		w.Write(rest[:n])
		rest = rest[n:]
	}
	w.Write([]byte{0, 0, 0, 0})
	if _, err := conn.Write(w.Bytes()); err != nil {
		return "", fmt.Errorf("%w: clamd: %v", ErrScanner, err)
	}
	reply, err := io.ReadAll(io.LimitReader(conn, 4096))
	if err != nil {
		return "", fmt.Errorf("%w: clamd: %v", ErrScanner, err)
	}
	r := strings.TrimRight(string(reply), "\x00\n")
	switch {
	case strings.HasSuffix(r, " OK"):
		return "", nil
	case strings.HasSuffix(r, " FOUND"):
		r = strings.TrimSuffix(strings.TrimPrefix(r, "stream: "), " FOUND")
		return r, nil
	}
	return "", fmt.Errorf("%w: clamd answered %q", ErrScanner, r)
}

// Rspamd asks rspamd's normal worker (default port 11333).
type Rspamd struct {
	URL     string // e.g. "http://127.0.0.1:11333"
	Timeout time.Duration
	Client  *http.Client
}

// RspamdResult is the part of /checkv2's answer youju uses.
type RspamdResult struct {
	Action string  `json:"action"` // "no action", "greylist", "add header", "rewrite subject", "soft reject", "reject"
	Score  float64 `json:"score"`
}

// Envelope is what a scanner is told of the transaction.
type Envelope struct {
	IP    string
	Helo  string
	From  string
	Rcpts []string
	ID    string
}

// Check posts the message to /checkv2 with the envelope in headers (as
// rspamd's HTTP protocol defines: IP, Helo, From, Rcpt, Queue-Id).
func (r *Rspamd) Check(ctx context.Context, env Envelope, msg []byte) (RspamdResult, error) {
	ctx, cancel := context.WithTimeout(ctx, dflt(r.Timeout, 30*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(r.URL, "/")+"/checkv2", bytes.NewReader(msg))
	if err != nil {
		return RspamdResult{}, err
	}
	if env.IP != "" {
		req.Header.Set("IP", env.IP)
	}
	if env.Helo != "" {
		req.Header.Set("Helo", env.Helo)
	}
	req.Header.Set("From", env.From)
	for _, rc := range env.Rcpts {
		req.Header.Add("Rcpt", rc)
	}
	if env.ID != "" {
		req.Header.Set("Queue-Id", env.ID)
	}
	cl := r.Client
	if cl == nil {
		cl = http.DefaultClient
	}
	resp, err := cl.Do(req)
	if err != nil {
		return RspamdResult{}, fmt.Errorf("%w: rspamd: %v", ErrScanner, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return RspamdResult{}, fmt.Errorf("%w: rspamd: HTTP %s", ErrScanner, resp.Status)
	}
	var res RspamdResult
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&res); err != nil {
		return RspamdResult{}, fmt.Errorf("%w: rspamd: %v", ErrScanner, err)
	}
	return res, nil
}

// Scan results for the session.
type ScanResult struct {
	Virus     string // clamd found this: refuse
	Tempfail  bool   // a scanner failed and the policy says 451
	Score     Score  // rspamd's contribution
	RspamdAct string
}

// Scan runs the configured scanners on msg.
func (c *Checker) Scan(ctx context.Context, env Envelope, msg []byte) ScanResult {
	var res ScanResult
	fail := func(name string, err error) {
		Checks.With(name, "error").Inc()
		if c.ScannerTempfail {
			res.Tempfail = true
		}
	}
	if c.Clamd != nil {
		virus, err := c.Clamd.Scan(ctx, msg)
		switch {
		case err != nil:
			fail("clamd", err)
			res.Virus = ""
			if c.Logger != nil {
				c.Logger.Warn("clamd failed", "err", err, "tempfail", c.ScannerTempfail)
			}
		case virus != "":
			Checks.With("clamd", "infected").Inc()
			res.Virus = virus
			return res
		default:
			Checks.With("clamd", "clean").Inc()
		}
	}
	if c.Rspamd != nil {
		r, err := c.Rspamd.Check(ctx, env, msg)
		if err != nil {
			fail("rspamd", err)
			if c.Logger != nil {
				c.Logger.Warn("rspamd failed", "err", err, "tempfail", c.ScannerTempfail)
			}
			return res
		}
		res.RspamdAct = r.Action
		Checks.With("rspamd", strings.ReplaceAll(r.Action, " ", "_")).Inc()
		junk, reject := c.Thresholds()
		switch r.Action {
		case "reject":
			res.Score.Add("RSPAMD_REJECT", reject)
		case "add header", "rewrite subject":
			res.Score.Add("RSPAMD_SPAM", junk)
		case "soft reject", "greylist":
			res.Tempfail = true
		}
	}
	return res
}
