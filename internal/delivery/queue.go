package delivery

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// DSN holds the RFC 3461 parameters of a message: RET and ENVID from MAIL
// (§4.3, §4.4), NOTIFY and ORCPT per recipient (§4.1, §4.2). The outbound
// sender uses them when it reports delays or failures.
type DSN struct {
	Ret   string    `json:"ret,omitempty"`   // "FULL", "HDRS" or ""
	EnvID string    `json:"envid,omitempty"` // decoded xtext
	Rcpts []RcptDSN `json:"rcpts,omitempty"` // parallel to the recipients, or empty
}

// RcptDSN holds the DSN parameters of one recipient.
type RcptDSN struct {
	Notify []string `json:"notify,omitempty"` // NEVER, or SUCCESS/FAILURE/DELAY
	ORcpt  string   `json:"orcpt,omitempty"`  // "rfc822;addr" or "utf-8;addr"
}

// Queue takes messages for other domains. Enqueue returns only when the
// message is on stable storage: after that, acknowledging it is safe.
type Queue interface {
	Enqueue(ctx context.Context, from string, rcpts []string, data []byte, dsn DSN) error
}

// QueuedMessage describes one message in a DirQueue.
type QueuedMessage struct {
	ID      string    `json:"id"`
	From    string    `json:"from"`
	Rcpts   []string  `json:"rcpts"`
	DSN     DSN       `json:"dsn"`
	Created time.Time `json:"created"`
	Size    int64     `json:"size"`
}

// DirQueue is a durable Queue: one file per message in a directory, each
// written to a temporary name, fsynced, renamed into place and the
// directory fsynced, so that a message is either wholly there or not at
// all after a crash. The file is a JSON line describing the envelope, then
// the message bytes.
type DirQueue struct {
	dir string
	seq atomic.Uint64
}

const (
	queueExt = ".msg"
	tmpDir   = "tmp"
)

// OpenDirQueue opens (creating if needed) a queue in dir and removes
// temporary files left by a crash: they were never acknowledged.
func OpenDirQueue(dir string) (*DirQueue, error) {
	if err := os.MkdirAll(filepath.Join(dir, tmpDir), 0o700); err != nil {
		return nil, fmt.Errorf("delivery: queue dir: %w", err)
	}
	tmps, err := os.ReadDir(filepath.Join(dir, tmpDir))
	if err != nil {
		return nil, fmt.Errorf("delivery: queue dir: %w", err)
	}
	for _, e := range tmps {
		os.Remove(filepath.Join(dir, tmpDir, e.Name()))
	}
	return &DirQueue{dir: dir}, nil
}

// newID returns a unique, time-ordered message id.
func (q *DirQueue) newID() string {
	var r [6]byte
	rand.Read(r[:])
	return fmt.Sprintf("%016x-%06x-%s", time.Now().UnixNano(), q.seq.Add(1)&0xffffff, hex.EncodeToString(r[:]))
}

// Enqueue stores the message durably.
func (q *DirQueue) Enqueue(ctx context.Context, from string, rcpts []string, data []byte, dsn DSN) error {
	if len(rcpts) == 0 {
		return errors.New("delivery: enqueue without recipients")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m := QueuedMessage{ID: q.newID(), From: from, Rcpts: rcpts, DSN: dsn, Created: time.Now().UTC(), Size: int64(len(data))}
	head, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.Grow(len(head) + 1 + len(data))
	buf.Write(head)
	buf.WriteByte('\n')
	buf.Write(data)
	return q.writeFile(m.ID+queueExt, buf.Bytes())
}

// writeFile is the one "safe write": temp file, fsync, rename, fsync dir.
func (q *DirQueue) writeFile(name string, b []byte) (err error) {
	tmp := filepath.Join(q.dir, tmpDir, name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("delivery: queue: %w", err)
	}
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
		return fmt.Errorf("delivery: queue: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(q.dir, name)); err != nil {
		return fmt.Errorf("delivery: queue: %w", err)
	}
	return syncDir(q.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("delivery: queue: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("delivery: queue: fsync dir: %w", err)
	}
	return nil
}

// List returns the envelopes of every queued message, oldest first.
func (q *DirQueue) List() ([]QueuedMessage, error) {
	ents, err := os.ReadDir(q.dir)
	if err != nil {
		return nil, fmt.Errorf("delivery: queue: %w", err)
	}
	var out []QueuedMessage
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), queueExt) {
			continue
		}
		m, err := q.readHead(strings.TrimSuffix(e.Name(), queueExt))
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (q *DirQueue) path(id string) (string, error) {
	if id == "" || strings.ContainsAny(id, `/\.`) {
		return "", fmt.Errorf("delivery: queue: bad id %q", id)
	}
	return filepath.Join(q.dir, id+queueExt), nil
}

func (q *DirQueue) readHead(id string) (QueuedMessage, error) {
	p, err := q.path(id)
	if err != nil {
		return QueuedMessage{}, err
	}
	f, err := os.Open(p)
	if err != nil {
		return QueuedMessage{}, fmt.Errorf("delivery: queue: %w", err)
	}
	defer f.Close()
	line, err := bufio.NewReaderSize(f, 4096).ReadBytes('\n')
	if err != nil {
		return QueuedMessage{}, fmt.Errorf("delivery: queue %s: %w", id, err)
	}
	var m QueuedMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return QueuedMessage{}, fmt.Errorf("delivery: queue %s: %w", id, err)
	}
	return m, nil
}

// Read returns the envelope and the message bytes of a queued message.
func (q *DirQueue) Read(id string) (QueuedMessage, []byte, error) {
	p, err := q.path(id)
	if err != nil {
		return QueuedMessage{}, nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return QueuedMessage{}, nil, fmt.Errorf("delivery: queue: %w", err)
	}
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return QueuedMessage{}, nil, fmt.Errorf("delivery: queue %s: %w", id, io.ErrUnexpectedEOF)
	}
	var m QueuedMessage
	if err := json.Unmarshal(b[:i], &m); err != nil {
		return QueuedMessage{}, nil, fmt.Errorf("delivery: queue %s: %w", id, err)
	}
	return m, b[i+1:], nil
}

// Remove deletes a message (after the sender delivered or bounced it).
func (q *DirQueue) Remove(id string) error {
	p, err := q.path(id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("delivery: queue: %w", err)
	}
	return syncDir(q.dir)
}
