package store

import (
	"context"
	"time"
)

// StateStore keeps the small state of the mail services that is neither
// mail nor index: users' Sieve scripts, greylisting triplets, the
// learning filter's token counts, outbound send counters and known
// recipients. A store shared by several nodes implements it so that
// every node sees the same state (a script put through node A runs at a
// delivery on node B; a send limit counts what every node sent); the
// services keep their files in the data directory when the store lacks
// it (docs/several-nodes.md lists what is shared).
//
// Keys are opaque bytes to the store, namespaced by their users
// ("sieve/ACCOUNT/...", "grey/...", "bayes/ACCOUNT/...", "send/..."),
// each namespace documented where it is used.
type StateStore interface {
	// GetState returns the live (unexpired) entries of keys; a key
	// without one is absent from the map.
	GetState(ctx context.Context, keys ...string) (map[string]StateEntry, error)
	// ListState returns the live entries whose key begins with prefix,
	// in key order, at most limit of them.
	ListState(ctx context.Context, prefix string, limit int) ([]StateEntry, error)
	// PutState writes value under key if the key's version is still
	// version (0: absent or expired; negative: whatever it is), so that
	// two nodes changing one key cannot both win. ttl > 0 makes the
	// entry expire; 0 keeps it. ok is false when another write came
	// first.
	PutState(ctx context.Context, key string, value []byte, version int64, ttl time.Duration) (ok bool, err error)
	// DeleteState removes keys (absent ones are no error).
	DeleteState(ctx context.Context, keys ...string) error
	// ExpireState deletes the expired entries and returns how many.
	ExpireState(ctx context.Context) (int, error)

	// AddCounters adds each delta to its counter atomically (absent
	// counters are 0); a counter that reaches 0 or less is deleted.
	AddCounters(ctx context.Context, deltas map[string]int64) error
	// Counters returns the counters of keys, in their order (0 if
	// absent).
	Counters(ctx context.Context, keys []string) ([]int64, error)
	// ListCounters returns the counters whose key begins with prefix and
	// sorts after after ("": from the first), in key order, at most
	// limit of them: a scan in batches (the learning filter's pruning).
	ListCounters(ctx context.Context, prefix, after string, limit int) ([]StateCounter, error)

	// AddEvent records n events of key at time at and forgets the events
	// of key older than keep before at: a counter over a sliding window.
	AddEvent(ctx context.Context, key string, n int64, at time.Time, keep time.Duration) error
	// CountEvents returns, in the order of keys, the events recorded
	// after since.
	CountEvents(ctx context.Context, keys []string, since time.Time) ([]int64, error)
}

// StateCounter is one counter of a StateStore.
type StateCounter struct {
	Key string
	N   int64
}

// CounterRows is the rows of a query of (key, n) counters, as both
// backends' drivers return them.
type CounterRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ScanCounters reads rows of (key, n) into counters (ListCounters).
func ScanCounters(rows CounterRows) ([]StateCounter, error) {
	var out []StateCounter
	for rows.Next() {
		var k []byte
		var c StateCounter
		if err := rows.Scan(&k, &c.N); err != nil {
			return nil, err
		}
		c.Key = string(k)
		out = append(out, c)
	}
	return out, rows.Err()
}

// StateEntry is one value of a StateStore.
type StateEntry struct {
	Key     string
	Value   []byte
	Version int64 // > 0, raised by every write
}

// PrefixEnd returns the smallest key greater than every key that begins
// with prefix ("" when there is none: the prefix is all 0xff), for
// range scans.
func PrefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}
