package store

import (
	"context"
	"errors"
)

// TextIndexStatus is implemented by backends whose text index is fed in
// the background after delivery (the embedded store's indexer): it tells
// how far the index is behind, for `youju index status` and for
// benchmarks that must not time SEARCH while the index still catches up
// (SEARCH stays exact meanwhile, only slower: messages not indexed yet
// are all candidates).
type TextIndexStatus interface {
	// TextIndexPending returns how many messages wait for the index, at
	// most (UIDs expunged before they were indexed count too): 0 means
	// every message delivered so far is indexed.
	TextIndexPending(ctx context.Context) (int64, error)
}

// TextIndexPending passes the optional TextIndexStatus through Metered.
func (m *metered) TextIndexPending(ctx context.Context) (int64, error) {
	s, ok := m.Store.(TextIndexStatus)
	if !ok {
		return 0, errors.New("store: this backend has no text index")
	}
	return s.TextIndexPending(ctx)
}
