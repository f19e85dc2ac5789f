package sqlite

import (
	"context"

	"github.com/youju/youju/internal/store"
)

// MailboxKeywords implements store.KeywordLister: the keywords used in a
// mailbox, from the keyword counts of the flag cache when the mailbox is
// cached and otherwise from the index (a loose scan of messages_keywords,
// one seek per distinct keyword list); neither reads every message, and
// a mailbox not cached is not loaded for it.
func (s *Store) MailboxKeywords(ctx context.Context, acct store.AccountID, mbox store.MailboxID) ([]string, error) {
	if err := s.checkMailbox(ctx, acct, mbox); err != nil {
		return nil, err
	}
	if b := s.cachedBox(mbox); b != nil {
		s.cache.mu.RLock()
		defer s.cache.mu.RUnlock()
		return b.keywords(), nil
	}
	return keywordsSQL(ctx, s.rdb, mbox)
}
