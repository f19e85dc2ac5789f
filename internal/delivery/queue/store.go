package queue

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/youju/youju/internal/delivery"
)

// On-disk layout of a queue directory:
//
//	DIR/msg/ID      the message bytes (already DKIM-signed), written once
//	DIR/state/ID    the envelope and per-recipient state (JSON), rewritten
//	                atomically after every attempt
//	DIR/tmp/        files being written
//	DIR/kick        touched by the operator commands to wake the runner
//
// Every write is temp file, fsync, rename, fsync of the directory, so a
// file is wholly there or not at all. The state file is written last on
// Enqueue: it is the commit point. A message file without a state file is
// an interrupted Enqueue (never acknowledged) and is removed on Open. The
// operator commands work on these files directly, so they are safe while
// the server runs: a retry rewrites the state with NextAttempt = now and
// touches DIR/kick; a delete removes the state file first.

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
	path string
	seq  atomic.Uint64
}

// OpenDir opens (creating if needed) a queue directory and removes what an
// interrupted write left behind.
func OpenDir(path string) (*Dir, error) {
	for _, sub := range []string{"msg", "state", "tmp"} {
		if err := os.MkdirAll(filepath.Join(path, sub), 0o700); err != nil {
			return nil, fmt.Errorf("queue: %w", err)
		}
	}
	d := &Dir{path: path}
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
func (d *Dir) writeFile(dst string, b []byte) (err error) {
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
	_, err = f.Write(b)
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
	return syncDir(filepath.Dir(dst))
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

// add stores a new message: data first, then its state (the commit point).
func (d *Dir) add(st *State, data []byte) error {
	if err := d.writeFile(d.msgPath(st.ID), data); err != nil {
		return err
	}
	if err := d.WriteState(st); err != nil {
		os.Remove(d.msgPath(st.ID))
		return err
	}
	return nil
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
	return d.writeFile(d.statePath(st.ID), b)
}

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

// State reads the state of message id.
func (d *Dir) State(id string) (*State, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	b, err := os.ReadFile(d.statePath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return decodeState(id, b)
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
	return b, nil
}

// List returns the state of every queued message, oldest first. Messages
// whose data file is missing, or data files without state (interrupted
// Enqueue) are not listed.
func (d *Dir) List() ([]*State, error) {
	ents, err := os.ReadDir(filepath.Join(d.path, "state"))
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	var out []*State
	for _, e := range ents {
		if !validID(e.Name()) {
			continue
		}
		st, err := d.State(e.Name())
		if err != nil {
			continue // deleted meanwhile, or unreadable: Show reports it
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// removeOrphans deletes message files that have no state: an Enqueue that
// crashed before its commit point, never acknowledged. Files younger than
// a minute are left alone, they may be an Enqueue in progress.
func (d *Dir) removeOrphans() {
	ents, _ := os.ReadDir(filepath.Join(d.path, "msg"))
	for _, e := range ents {
		if _, err := os.Stat(d.statePath(e.Name())); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > time.Minute {
			os.Remove(d.msgPath(e.Name()))
		}
	}
}

// Remove deletes a message: state first (so that it is gone for the
// runner at once), then data.
func (d *Dir) Remove(id string) error {
	if !validID(id) {
		return ErrNotFound
	}
	err := os.Remove(d.statePath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	} else if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	os.Remove(d.msgPath(id))
	return syncDir(filepath.Join(d.path, "state"))
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
