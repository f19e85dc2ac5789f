package spam

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/youju/youju/internal/fsutil"
)

// The sending counters survive a restart: otherwise a phished password
// gets a fresh allowance each time the server restarts, and the list of
// addresses each account wrote to (the known-correspondent signal) is
// lost. They are kept in a journal, DATA/spam/sendstate.log, one line per
// event, appended and fsynced before the counted message is
// acknowledged; at open (and when it grows) the journal is rewritten
// from the pruned state, atomically.
//
// Lines (times in Unix seconds):
//
//	S ACCT TIME        a message sent
//	F ACCT TIME        a new recipient written to
//	K ACCT TIME ADDR   ADDR written to (known correspondent)
//	A ACCT TIME        the postmaster was alerted
//
// A torn last line (a crash in the middle of a write) is skipped.

// maxJournalLine bounds one line of the journal (an address is at most
// 320 octets, RFC 5321 §4.5.3.1).
const maxJournalLine = 1024

// sendJournal is the open journal of a SendLimits.
type sendJournal struct {
	path   string
	mu     sync.Mutex
	f      *os.File
	lines  int // written since the last rewrite
	rewrit int // lines the last rewrite wrote
}

// OpenState loads the counters from path (creating it if missing) and
// from then on records every Sent and alert there. Call it before the
// limits are used.
func (l *SendLimits) OpenState(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.replay(path); err != nil {
		return err
	}
	j := &sendJournal{path: path}
	if err := j.rewrite(l.snapshotLocked()); err != nil {
		return err
	}
	l.journal = j
	return nil
}

// CloseState closes the journal.
func (l *SendLimits) CloseState() error {
	l.mu.Lock()
	j := l.journal
	l.journal = nil
	l.mu.Unlock()
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.f.Close()
}

func (l *SendLimits) replay(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	now := l.now()
	day := now.Add(-24 * time.Hour)
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) || len(line) > maxJournalLine {
			// Not ours: skip to the next newline.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			continue
		}
		if err == io.EOF {
			return nil // a torn last line (no newline) is not applied
		}
		if err != nil {
			return fmt.Errorf("spam: %s: %w", path, err)
		}
		l.applyLine(strings.TrimSuffix(string(line), "\n"), day, now)
	}
}

// parseJournalLine reads one journal line; ok is false for anything
// malformed (skipped, never fatal: the counters are a safeguard, not
// mail).
func parseJournalLine(line string) (op byte, acct int64, at time.Time, addr string, ok bool) {
	parts := strings.SplitN(line, " ", 4)
	if len(parts) < 3 || len(parts[0]) != 1 {
		return 0, 0, time.Time{}, "", false
	}
	op = parts[0][0]
	acct, err1 := strconv.ParseInt(parts[1], 10, 64)
	sec, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || sec < 0 {
		return 0, 0, time.Time{}, "", false
	}
	switch op {
	case 'S', 'F', 'A':
		ok = len(parts) == 3
	case 'K':
		ok = len(parts) == 4 && parts[3] != "" && !strings.ContainsAny(parts[3], " \r\n")
		if ok {
			addr = parts[3]
		}
	}
	return op, acct, time.Unix(sec, 0), addr, ok
}

func (l *SendLimits) applyLine(line string, day, now time.Time) {
	op, acct, at, addr, ok := parseJournalLine(line)
	if !ok || at.After(now.Add(time.Hour)) {
		return
	}
	s := l.state(acct)
	switch op {
	case 'S':
		if at.After(day) {
			s.sent = insertTime(s.sent, at)
		}
	case 'F':
		if at.After(day) {
			s.fresh = insertTime(s.fresh, at)
		}
	case 'A':
		if at.After(s.alerted) {
			s.alerted = at
		}
	case 'K':
		if now.Sub(at) <= knownFor {
			if t, ok := s.known[addr]; !ok || at.After(t) {
				s.known[addr] = at
			}
		}
	}
	if len(s.known) > maxKnownRcpts*11/10 {
		s.prune(day, now)
	}
}

// insertTime keeps ts sorted (the journal is in order but a clock step
// may not be).
func insertTime(ts []time.Time, t time.Time) []time.Time {
	i := sort.Search(len(ts), func(i int) bool { return ts[i].After(t) })
	ts = append(ts, time.Time{})
	copy(ts[i+1:], ts[i:])
	ts[i] = t
	return ts
}

// snapshotLocked is the journal lines of the pruned state.
func (l *SendLimits) snapshotLocked() []string {
	now := l.now()
	day := now.Add(-24 * time.Hour)
	var out []string
	ids := make([]int64, 0, len(l.accts))
	for id := range l.accts {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		s := l.accts[id]
		s.prune(day, now)
		a := strconv.FormatInt(id, 10)
		if !s.alerted.IsZero() {
			out = append(out, "A "+a+" "+strconv.FormatInt(s.alerted.Unix(), 10))
		}
		for _, t := range s.sent {
			out = append(out, "S "+a+" "+strconv.FormatInt(t.Unix(), 10))
		}
		for _, t := range s.fresh {
			out = append(out, "F "+a+" "+strconv.FormatInt(t.Unix(), 10))
		}
		for r, t := range s.known {
			if now.Sub(t) <= knownFor {
				out = append(out, "K "+a+" "+strconv.FormatInt(t.Unix(), 10)+" "+r)
			}
		}
	}
	return out
}

// rewrite replaces the journal by lines, atomically, and reopens it for
// appending.
func (j *sendJournal) rewrite(lines []string) error {
	var b strings.Builder
	for _, ln := range lines {
		b.WriteString(ln)
		b.WriteByte('\n')
	}
	if err := fsutil.WriteFileAtomic(j.path, []byte(b.String()), 0o600); err != nil {
		return err
	}
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if j.f != nil {
		j.f.Close()
	}
	j.f, j.lines, j.rewrit = f, 0, len(lines)
	return nil
}

// append writes lines and fsyncs them: the message they count is
// acknowledged only after.
func (j *sendJournal) append(lines []string) error {
	var b strings.Builder
	for _, ln := range lines {
		b.WriteString(ln)
		b.WriteByte('\n')
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("spam: send state closed")
	}
	if _, err := j.f.WriteString(b.String()); err != nil {
		return err
	}
	j.lines += len(lines)
	return j.f.Sync()
}

// needsRewrite says when the journal has grown well past its state.
func (j *sendJournal) needsRewrite() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lines > 10000 && j.lines > 2*j.rewrit
}

// record journals the lines of one event; errors are returned to the
// caller to log (the count in memory stands).
func (l *SendLimits) record(lines []string) error {
	l.mu.Lock()
	j := l.journal
	l.mu.Unlock()
	if j == nil || len(lines) == 0 {
		return nil
	}
	if err := j.append(lines); err != nil {
		return err
	}
	if j.needsRewrite() {
		l.mu.Lock()
		snap := l.snapshotLocked()
		j.mu.Lock()
		err := j.rewrite(snap)
		j.mu.Unlock()
		l.mu.Unlock()
		return err
	}
	return nil
}

// Knows reports whether acct wrote to addr in the last 30 days: a reply
// from a known correspondent is rarely spam.
func (l *SendLimits) Knows(acct int64, addr string) bool {
	addr = strings.ToLower(addr)
	if l.State != nil {
		return l.knowsShared(acct, addr)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.accts[acct]
	if s == nil {
		return false
	}
	t, ok := s.known[addr]
	return ok && l.now().Sub(t) <= knownFor
}

func journalLine(op byte, acct int64, at time.Time, addr string) string {
	ln := string(op) + " " + strconv.FormatInt(acct, 10) + " " + strconv.FormatInt(at.Unix(), 10)
	if addr != "" {
		ln += " " + addr
	}
	return ln
}

func (l *SendLimits) journalErr(err error) {
	if err != nil && l.OnError != nil {
		l.OnError(err)
	}
}
