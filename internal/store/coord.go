package store

import (
	"context"
	"time"
)

// Coordination between nodes. A store shared by several youju nodes
// (PostgreSQL) implements these optional interfaces so that state that
// one process would keep in memory is kept in the database instead; the
// protocol servers use them when the store has them and otherwise keep
// that state in memory, exactly as cheaply as before (one node, SQLite).
// What stays per process, and why, is listed in docs/several-nodes.md.

// Leases is implemented by a store that can hand out named, expiring,
// exclusive leases shared by every node: the POP3 maildrop lock (RFC 1939
// §8) is one. A lease is held by holder (a node and session) until it is
// released or until ttl passes without a renewal; after that anyone may
// take it over, so that a node that died does not lock a maildrop for
// ever.
type Leases interface {
	// AcquireLease takes the lease name for holder for ttl. It reports
	// false (and no error) while another holder has it unexpired.
	// Acquiring a lease one already holds renews it.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// RenewLease extends holder's lease by ttl from now. It reports false
	// if holder does not hold it any more (it expired and was taken).
	RenewLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease gives holder's lease back; it is not an error if
	// holder did not hold it.
	ReleaseLease(ctx context.Context, name, holder string) error
}

// RecentClaimer is implemented by a store that keeps IMAP's \Recent
// (RFC 3501 §2.3.2) for every node: per mailbox, the highest UID some
// read-write session has been told about (the "recent floor"), so that
// exactly one session, on whatever node, sees a message as recent.
type RecentClaimer interface {
	// RecentFloor returns the floor of mbox: the messages above it are
	// recent to the caller. With claim it raises the floor to last in
	// the same step (atomically with respect to every node), so that no
	// other session sees them as recent.
	RecentFloor(ctx context.Context, mbox MailboxID, last UID, claim bool) (UID, error)
}

// ThrottleCounters is implemented by a store that shares login-failure
// counters between nodes (internal/auth): a guesser spreading its
// attempts over the nodes behind a load balancer is counted once. Keys
// are opaque to the store (a network, or a network and an account).
type ThrottleCounters interface {
	// AddFailures counts one failure under each key, forgetting a
	// count that was quiet for window, and returns the counts after the
	// addition, in the order of keys.
	AddFailures(ctx context.Context, keys []string, window time.Duration) ([]int, error)
	// Failures returns the counts of keys not quiet for window.
	Failures(ctx context.Context, keys []string, window time.Duration) ([]int, error)
	// ResetFailures forgets the counts of keys (a successful sign-in
	// forgets its pair's).
	ResetFailures(ctx context.Context, keys []string) error
}

// Unwrapper is implemented by a store that wraps another (Metered), so
// that the optional interfaces of the backend can still be found.
type Unwrapper interface {
	Unwrap() Store
}

// As finds an optional interface T on s or on the stores it wraps.
func As[T any](s Store) (T, bool) {
	for s != nil {
		if t, ok := s.(T); ok {
			return t, true
		}
		u, ok := s.(Unwrapper)
		if !ok {
			break
		}
		s = u.Unwrap()
	}
	var zero T
	return zero, false
}

// Shared reports whether s (or the store it wraps) is shared by several
// nodes: its change events may then be lost with a connection to the
// database, and sessions look for changes on their own now and then.
func Shared(s Store) bool {
	_, ok := As[Leases](s)
	return ok
}
