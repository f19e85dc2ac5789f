package store

import (
	"context"
	"net/netip"
	"time"
)

// MaxKnownAddresses is how many sign-in networks a store keeps per account:
// the most recent ones, so that a user travelling through many networks
// cannot grow the table without bound.
const MaxKnownAddresses = 50

// KnownAddresses is an optional interface of a store: the networks from
// which each account signed in successfully, with the time of the last
// success. internal/auth uses it so that login throttling never locks an
// account out of the places its owner uses; it is in the store, not in
// memory, so that it survives a restart and is shared by every node that
// shares the store.
type KnownAddresses interface {
	// RecordSignIn notes a successful sign-in of acct from the network
	// prefix at time at, keeping only the MaxKnownAddresses most recent
	// prefixes of the account.
	RecordSignIn(ctx context.Context, acct AccountID, prefix netip.Prefix, at time.Time) error
	// KnownSince reports whether acct signed in from prefix at or after
	// since.
	KnownSince(ctx context.Context, acct AccountID, prefix netip.Prefix, since time.Time) (bool, error)
}
