package sqlite

import (
	"context"

	"github.com/youju/youju/internal/store"
)

var _ store.TextIndexStatus = (*Store)(nil)

// TextIndexPending implements store.TextIndexStatus: the messages above
// each mailbox's high-water mark in text.db (all of a mailbox whose
// UIDVALIDITY changed), as the indexer sees them (textPending).
func (s *Store) TextIndexPending(ctx context.Context) (int64, error) {
	todo, err := s.textPending(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, p := range todo {
		from := p.from.mark
		if p.from.uidValidity != p.uidValidity {
			from = 0
		}
		if p.uidNext > from+1 {
			n += int64(p.uidNext - 1 - from)
		}
	}
	return n, nil
}
