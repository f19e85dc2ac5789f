package queue

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/youju/youju/internal/delivery"
)

// On-disk layout of a queue directory:
//
//	DIR/msg/ID      one line of JSON, the State at Enqueue, then the message
//	                bytes (already DKIM-signed); written once. Its presence
//	                is what makes the message queued.
//	DIR/state/ID    the current State (JSON), once an attempt changed it;
//	                it overrides the first line of msg/ID
//	DIR/tmp/        files being written
//	DIR/kick        touched by the operator commands to wake the runner
//
// Every write is temp file, fsync, rename, fsync of the directory, so a
// file is wholly there or not at all; Enqueue costs one file fsync and one
// directory fsync, the latter shared by concurrent Enqueues (groupSync).
// The operator commands work on these files directly, so they are safe
// while the server runs: a retry rewrites the state with NextAttempt = now
// and touches DIR/kick; a delete removes msg/ID first (a state file left
// by a crash then is an orphan, removed at Open; the other order could
// resurrect a message with its first state and send it again).

// Recipient status values.
const (
	StatusPending = "pending" // not delivered yet (never tried or deferred)
	StatusSent    = "sent"
	StatusFailed  = "failed" // permanently; reported in a bounce
)

// Rcpt is the state of one recipient of a queued message.
type Rcpt struct {
	Addr      string   `json:"addr"`
	Status    string   `json:"status"`
	Notify    []string `json:"notify,omitempty"` // RFC 3461 §4.1
	ORcpt     string   `json:"orcpt,omitempty"`  // RFC 3461 §4.2
	Code      int      `json:"code,omitempty"`   // last SMTP reply code, 0 for a network error
	Enhanced  string   `json:"enhanced,omitempty"`
	Diag      string   `json:"diag,omitempty"` // last error text
	RemoteMTA string   `json:"remote_mta,omitempty"`
	Reported  bool     `json:"reported,omitempty"` // a failure already sent to the sender
}

// State is what the queue knows of one message.
type State struct {
	ID            string    `json:"id"`
	From          string    `json:"from"` // "" is the null reverse-path (a bounce)
	Rcpts         []Rcpt    `json:"rcpts"`
	Ret           string    `json:"ret,omitempty"`   // RFC 3461 §4.3
	EnvID         string    `json:"envid,omitempty"` // RFC 3461 §4.4
	Created       time.Time `json:"created"`
	NextAttempt   time.Time `json:"next_attempt"`
	Attempts      int       `json:"attempts"`
	DelayNotified bool      `json:"delay_notified,omitempty"`
	Size          int64     `json:"size"`
	Origin        string    `json:"origin,omitempty"`  // the id it was received under (maillog)
	Account       string    `json:"account,omitempty"` // the submitting account, if known (WithAccount)
	Held          bool      `json:"held,omitempty"`    // not tried until released (youju queue release); in a queue directory, DIR/held/ID

	Broken string `json:"-"` // set by List for a message whose state cannot be read
}

// Pending returns the recipients still to deliver.
func (s *State) Pending() []*Rcpt {
	var out []*Rcpt
	for i := range s.Rcpts {
		if s.Rcpts[i].Status == StatusPending {
			out = append(out, &s.Rcpts[i])
		}
	}
	return out
}

// ErrNotFound is returned for an unknown message id.
var ErrNotFound = errors.New("queue: no such message")

// Dir is a queue directory. Its methods are safe for concurrent use by
// several processes (the server's runner and the operator commands): they
// only ever replace whole files.
type Dir struct {
	path      string
	seq       atomic.Uint64
	syncMsg   groupSync
	syncState groupSync
}

// OpenDir opens (creating if needed) a queue directory and removes what an
// interrupted write left behind.
func OpenDir(path string) (*Dir, error) {
	for _, sub := range []string{"msg", "state", "tmp", "held"} {
		if err := os.MkdirAll(filepath.Join(path, sub), 0o700); err != nil {
			return nil, fmt.Errorf("queue: %w", err)
		}
	}
	d := &Dir{path: path}
	d.syncMsg.dir = filepath.Join(path, "msg")
	d.syncState.dir = filepath.Join(path, "state")
	tmps, _ := os.ReadDir(filepath.Join(path, "tmp"))
	for _, e := range tmps {
		// Only files older than a minute: another process may be writing.
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > time.Minute {
			os.Remove(filepath.Join(path, "tmp", e.Name()))
		}
	}
	return d, nil
}

// newID returns a unique, time-ordered id made of [0-9a-f-].
func (d *Dir) newID(now time.Time) string {
	var r [4]byte
	rand.Read(r[:])
	return fmt.Sprintf("%013x-%05x-%s", now.UnixMicro(), d.seq.Add(1)&0xfffff, hex.EncodeToString(r[:]))
}

func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == '-') {
			return false
		}
	}
	return true
}

func (d *Dir) msgPath(id string) string   { return filepath.Join(d.path, "msg", id) }
func (d *Dir) statePath(id string) string { return filepath.Join(d.path, "state", id) }

// writeFile is the one "safe write": temp file, fsync, rename, fsync dir.
func (d *Dir) writeFile(dst string, sync *groupSync, parts ...[]byte) (err error) {
	f, err := os.CreateTemp(filepath.Join(d.path, "tmp"), "w-*")
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	for _, b := range parts {
		if err == nil {
			_, err = f.Write(b)
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	return sync.sync()
}

// groupSync fsyncs a directory on behalf of concurrent callers: a caller
// whose rename happened before a running fsync started waits for the next
// one, which covers everyone who arrived meanwhile (group commit). A failed
// directory fsync means the file system is broken: the error sticks, and
// every later write fails (Enqueue then answers 4xx) rather than pretend.
type groupSync struct {
	dir     string
	mu      sync.Mutex
	cond    *sync.Cond
	req     uint64 // requests so far
	done    uint64 // requests covered by a finished fsync
	running bool
	err     error
}

func (g *groupSync) sync() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	g.req++
	my := g.req
	for g.done < my && g.err == nil {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		target := g.req
		g.mu.Unlock()
		err := syncDir(g.dir)
		g.mu.Lock()
		g.running = false
		g.done = target
		if err != nil {
			g.err = err
		}
		g.cond.Broadcast()
	}
	return g.err
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("queue: fsync %s: %w", dir, err)
	}
	return nil
}

// add stores a new message and its first state in one file.
func (d *Dir) add(st *State, data []byte) error {
	head, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	return d.writeFile(d.msgPath(st.ID), &d.syncMsg, head, []byte("\n"), data)
}

// WriteState replaces the state of a message atomically.
func (d *Dir) WriteState(st *State) error {
	if !validID(st.ID) {
		return fmt.Errorf("queue: bad id %q", st.ID)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	return d.writeFile(d.statePath(st.ID), &d.syncState, b)
}

// DecodeState parses the JSON of a State, for other Storages.
func DecodeState(id string, b []byte) (*State, error) { return decodeState(id, b) }

// decodeState parses a state file; it is the one parser of the package
// (FuzzDecodeState).
func decodeState(id string, b []byte) (*State, error) {
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("queue: state %s: %w", id, err)
	}
	if st.ID != id {
		return nil, fmt.Errorf("queue: state %s names message %q", id, st.ID)
	}
	for _, r := range st.Rcpts {
		switch r.Status {
		case StatusPending, StatusSent, StatusFailed:
		default:
			return nil, fmt.Errorf("queue: state %s: bad status %q", id, r.Status)
		}
	}
	return &st, nil
}

// maxHead bounds the first line of a message file (the State).
const maxHead = 4 << 20

// State reads the state of message id: the state file if an attempt
// wrote one, else the first line of the message file.
func (d *Dir) State(id string) (*State, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	if _, err := os.Stat(d.msgPath(id)); errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	b, err := os.ReadFile(d.statePath(id))
	if errors.Is(err, fs.ErrNotExist) {
		b, err = d.head(id)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	st, err := decodeState(id, b)
	if err == nil {
		st.Held = d.held(id)
	}
	return st, err
}

// held reports whether message id is held: DIR/held/ID exists. A file of
// its own, not a field of the state file, so that the runner rewriting
// the state after an attempt can never undo an operator's hold.
func (d *Dir) held(id string) bool {
	_, err := os.Stat(d.heldPath(id))
	return err == nil
}

func (d *Dir) heldPath(id string) string { return filepath.Join(d.path, "held", id) }

func (d *Dir) head(id string) ([]byte, error) {
	f, err := os.Open(d.msgPath(id))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	line, err := bufio.NewReader(io.LimitReader(f, maxHead)).ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// Longer than bufio's buffer: read it the slow way.
		f.Seek(0, io.SeekStart)
		all, err := io.ReadAll(io.LimitReader(f, maxHead))
		if err != nil {
			return nil, err
		}
		i := bytes.IndexByte(all, '\n')
		if i < 0 {
			return nil, fmt.Errorf("message %s: state line too long", id)
		}
		return all[:i], nil
	}
	if err != nil {
		return nil, fmt.Errorf("message %s: %w", id, err)
	}
	return line, nil
}

// open opens message id for streaming.
func (d *Dir) open(id string) (*Body, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	f, err := os.Open(d.msgPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	info, err := f.Stat()
	if err == nil {
		var line []byte
		line, err = bufio.NewReader(io.LimitReader(f, maxHead)).ReadBytes('\n')
		if err == nil {
			return NewBody(f, int64(len(line)), info.Size()-int64(len(line)), f.Close), nil
		}
	}
	f.Close()
	return nil, fmt.Errorf("queue: message %s: %w", id, err)
}

// Data reads the bytes of message id.
func (d *Dir) Data(id string) ([]byte, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	b, err := os.ReadFile(d.msgPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return nil, fmt.Errorf("queue: message %s: no state line", id)
	}
	return b[i+1:], nil
}

// List returns the state of every queued message, oldest first.
func (d *Dir) List() ([]*State, error) {
	ents, err := os.ReadDir(filepath.Join(d.path, "msg"))
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	var out []*State
	for _, e := range ents {
		if !validID(e.Name()) {
			continue
		}
		st, err := d.State(e.Name())
		if errors.Is(err, ErrNotFound) {
			continue // removed meanwhile
		} else if err != nil {
			// Listed, so that the operator sees it and the runner keeps
			// trying (and logging); never silently forgotten.
			st = &State{ID: e.Name(), Broken: err.Error()}
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// removeOrphans deletes state files without a message: left by a crash
// in the middle of a Remove.
func (d *Dir) removeOrphans() {
	ents, _ := os.ReadDir(filepath.Join(d.path, "state"))
	for _, e := range ents {
		if _, err := os.Stat(d.msgPath(e.Name())); errors.Is(err, fs.ErrNotExist) {
			os.Remove(d.statePath(e.Name()))
		}
	}
	ents, _ = os.ReadDir(filepath.Join(d.path, "held"))
	for _, e := range ents {
		if _, err := os.Stat(d.msgPath(e.Name())); errors.Is(err, fs.ErrNotExist) {
			os.Remove(d.heldPath(e.Name()))
		}
	}
}

// Remove deletes a message: the message file first (it is gone for the
// runner at once), then its state.
func (d *Dir) Remove(id string) error {
	if err := d.remove(id); err != nil {
		return err
	}
	return d.syncMsg.sync()
}

// remove is Remove without the directory fsync, for a delivered message:
// if a crash forgets the unlink, the message is sent again, the same
// trade every MTA makes (RFC 5321 §6.1 prefers duplicates to losses).
func (d *Dir) remove(id string) error {
	if !validID(id) {
		return ErrNotFound
	}
	err := os.Remove(d.msgPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	} else if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	os.Remove(d.statePath(id))
	os.Remove(d.heldPath(id))
	return nil
}

// Retry makes message id (or every message, for id "") due now, and
// wakes a running server's queue runner. It returns how many messages it
// changed.
func (d *Dir) Retry(id string, now time.Time) (int, error) {
	var ids []string
	if id != "" {
		ids = []string{id}
	} else {
		all, err := d.List()
		if err != nil {
			return 0, err
		}
		for _, st := range all {
			ids = append(ids, st.ID)
		}
	}
	n := 0
	for _, id := range ids {
		st, err := d.State(id)
		if err != nil {
			if len(ids) == 1 {
				return 0, err
			}
			continue
		}
		st.NextAttempt = now
		if err := d.WriteState(st); err != nil {
			return n, err
		}
		n++
	}
	return n, d.Kick()
}

// SetHeld holds or releases message id and wakes a running runner.
func (d *Dir) SetHeld(id string, held bool) error {
	if _, err := d.State(id); err != nil {
		return err
	}
	if err := d.setHeld(id, held); err != nil {
		return err
	}
	return d.Kick()
}

// setHeld creates (durably) or removes the hold mark of message id.
func (d *Dir) setHeld(id string, held bool) error {
	if !held {
		if err := os.Remove(d.heldPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("queue: %w", err)
		}
		return syncDir(filepath.Join(d.path, "held"))
	}
	if d.held(id) {
		return nil
	}
	if err := os.WriteFile(d.heldPath(id), nil, 0o600); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	return syncDir(filepath.Join(d.path, "held"))
}

// HoldFrom holds every message sent by addr (FromMatches).
func (d *Dir) HoldFrom(addr string) (int, error) {
	all, err := d.List()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, st := range all {
		if st.Broken != "" || st.Held || !FromMatches(st, addr) {
			continue
		}
		if err := d.setHeld(st.ID, true); err != nil {
			return n, err
		}
		n++
	}
	return n, d.Kick()
}

// Kick touches DIR/kick: a running queue notices within a second and
// rescans its directory.
func (d *Dir) Kick() error {
	p := filepath.Join(d.path, "kick")
	now := time.Now()
	if err := os.Chtimes(p, now, now); errors.Is(err, fs.ErrNotExist) {
		return os.WriteFile(p, nil, 0o600)
	} else if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	return nil
}

func (d *Dir) kickTime() time.Time {
	info, err := os.Stat(filepath.Join(d.path, "kick"))
	if err != nil {
		return time.Time{}
	}
	return info.ModTime()
}

// newState builds the state of a new message from its envelope.
func newState(id, from string, rcpts []string, dsn delivery.DSN, size int64, now time.Time) *State {
	st := &State{ID: id, From: from, Ret: strings.ToUpper(dsn.Ret), EnvID: dsn.EnvID,
		Created: now, NextAttempt: now, Size: size}
	for i, a := range rcpts {
		r := Rcpt{Addr: a, Status: StatusPending}
		if i < len(dsn.Rcpts) {
			r.Notify = dsn.Rcpts[i].Notify
			r.ORcpt = dsn.Rcpts[i].ORcpt
		}
		st.Rcpts = append(st.Rcpts, r)
	}
	return st
}
