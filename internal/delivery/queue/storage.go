package queue

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

// Storage is where the queue keeps its messages: the queue directory of
// the embedded configuration (FileStorage, the default) or a table in the
// shared database when several nodes serve the same mail
// (internal/delivery/queue/pgqueue). The runner's schedule is a cache of
// Due; what a node may deliver is decided by Claim, so a Storage shared by
// several nodes gives each message to one of them at a time.
type Storage interface {
	// NewID returns a unique, time-ordered message id made of [0-9a-f-].
	NewID(now time.Time) string
	// Add stores a new message durably: it returns only once the message
	// survives a crash (the 250 to the client follows it).
	Add(ctx context.Context, st *State, data []byte) error
	// List returns every queued message, oldest first (held ones too).
	List(ctx context.Context) ([]*State, error)
	// State and Data read one message (ErrNotFound if unknown).
	State(ctx context.Context, id string) (*State, error)
	Data(ctx context.Context, id string) ([]byte, error)
	// Due returns when each message not held may next be tried.
	Due(ctx context.Context) (map[string]time.Time, error)

	// Claim takes message id for one attempt, for lease: ErrClaimed when
	// another node has it, ErrHeld when it is held, ErrNotFound when it
	// is gone. The claimer renews the lease while it delivers (Renew;
	// ErrLost when another node took the message meanwhile) and ends the
	// claim with Save (the new state) or Done (nothing left to send).
	Claim(ctx context.Context, id string, lease time.Duration) (*State, *Body, error)
	Renew(ctx context.Context, id string, lease time.Duration) error
	Save(ctx context.Context, st *State) error
	Done(ctx context.Context, id string) error

	// The operator's changes, safe while a server runs.
	Remove(ctx context.Context, id string) error
	Retry(ctx context.Context, id string, now time.Time) (int, error)
	// SetHeld holds (the message is not tried until released) or
	// releases message id.
	SetHeld(ctx context.Context, id string, held bool) error
	// HoldFrom holds every queued message whose envelope sender or
	// submitting account is addr; it returns how many.
	HoldFrom(ctx context.Context, addr string) (int, error)

	// Changed returns a mark that moves when an operator command changed
	// the queue; Shared reports a storage other nodes write too (the
	// runner then re-reads Due every second).
	Changed() time.Time
	Shared() bool
}

// Waiting is implemented by a Storage whose Due leaves out the messages
// not due soon (pgqueue: a shared queue is re-read every second, and a
// large deferred backlog is not read whole each time). Waiting counts the
// messages not held that the last Due left out, for Queue.Len.
type Waiting interface{ Waiting() int }

// Errors of Claim and Renew.
var (
	ErrClaimed = errors.New("queue: message claimed by another node")
	ErrHeld    = errors.New("queue: message held")
	ErrLost    = errors.New("queue: claim lost to another node")
)

// Body is an open message: the runner streams it to the remote server
// (a file need not be read into memory).
type Body struct {
	r         io.ReaderAt
	off, size int64
	closeFn   func() error
}

// NewBody returns a Body of size bytes of r from off; closeFn (may be
// nil) runs at the end of the attempt.
func NewBody(r io.ReaderAt, off, size int64, closeFn func() error) *Body {
	return &Body{r: r, off: off, size: size, closeFn: closeFn}
}

// BytesBody is a Body of bytes in memory.
func BytesBody(b []byte) *Body { return NewBody(bytes.NewReader(b), 0, int64(len(b)), nil) }

func (b *Body) reader() io.Reader { return io.NewSectionReader(b.r, b.off, b.size) }

// prefix returns up to n bytes from the start of the message.
func (b *Body) prefix(n int64) ([]byte, error) {
	return io.ReadAll(io.NewSectionReader(b.r, b.off, min(n, b.size)))
}

func (b *Body) close() {
	if b.closeFn != nil {
		b.closeFn()
	}
}

// FromMatches reports whether st was sent by addr: its envelope sender or
// its submitting account (case-insensitive), for HoldFrom.
func FromMatches(st *State, addr string) bool {
	return addr != "" && (strings.EqualFold(st.From, addr) || strings.EqualFold(st.Account, addr))
}

// fileStorage is the queue directory as a Storage. One process runs the
// queue of a directory, so a claim is the runner's own inflight mark and
// the lease has nothing to do.
type fileStorage struct{ d *Dir }

// FileStorage returns the Storage of a queue directory.
func FileStorage(d *Dir) Storage { return fileStorage{d} }

func (f fileStorage) NewID(now time.Time) string { return f.d.newID(now) }
func (f fileStorage) Add(_ context.Context, st *State, data []byte) error {
	return f.d.add(st, data)
}
func (f fileStorage) List(context.Context) ([]*State, error) { return f.d.List() }
func (f fileStorage) State(_ context.Context, id string) (*State, error) {
	return f.d.State(id)
}
func (f fileStorage) Data(_ context.Context, id string) ([]byte, error) { return f.d.Data(id) }

func (f fileStorage) Due(context.Context) (map[string]time.Time, error) {
	all, err := f.d.List()
	if err != nil {
		return nil, err
	}
	due := make(map[string]time.Time, len(all))
	for _, st := range all {
		if !st.Held {
			due[st.ID] = st.NextAttempt
		}
	}
	return due, nil
}

func (f fileStorage) Claim(_ context.Context, id string, _ time.Duration) (*State, *Body, error) {
	st, err := f.d.State(id)
	if err != nil {
		return nil, nil, err
	}
	if st.Held {
		return nil, nil, ErrHeld
	}
	b, err := f.d.open(id)
	if err != nil {
		return nil, nil, err
	}
	return st, b, nil
}

func (f fileStorage) Renew(context.Context, string, time.Duration) error { return nil }

// Save writes st unless the operator deleted the message meanwhile; a
// hold set by the operator during the attempt is its own file, and stays.
func (f fileStorage) Save(_ context.Context, st *State) error {
	if _, err := f.d.State(st.ID); errors.Is(err, ErrNotFound) {
		f.d.Remove(st.ID)
		return ErrNotFound
	}
	if err := f.d.WriteState(st); err != nil {
		return err
	}
	st.Held = f.d.held(st.ID)
	return nil
}

func (f fileStorage) Done(_ context.Context, id string) error { return f.d.remove(id) }
func (f fileStorage) Remove(_ context.Context, id string) error {
	return f.d.Remove(id)
}
func (f fileStorage) Retry(_ context.Context, id string, now time.Time) (int, error) {
	return f.d.Retry(id, now)
}
func (f fileStorage) SetHeld(_ context.Context, id string, held bool) error {
	return f.d.SetHeld(id, held)
}
func (f fileStorage) HoldFrom(_ context.Context, addr string) (int, error) {
	return f.d.HoldFrom(addr)
}
func (f fileStorage) Changed() time.Time { return f.d.kickTime() }
func (f fileStorage) Shared() bool       { return false }
