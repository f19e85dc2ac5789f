package sqlite

import (
	"context"

	"github.com/youju/youju/internal/store"
)

// MailboxKeywords implements store.KeywordLister: the keywords used in a
// mailbox, from the flag cache (a scan of the cached entries, no SQL) or,
// with the cache off, from the distinct stored keyword lists.
func (s *Store) MailboxKeywords(ctx context.Context, acct store.AccountID, mbox store.MailboxID) ([]string, error) {
	if err := s.checkMailbox(ctx, acct, mbox); err != nil {
		return nil, err
	}
	var ks store.KeywordSet
	if s.cache.enabled() {
		b, err := s.box(ctx, acct, mbox)
		if err != nil {
			return nil, err
		}
		// Entries' keyword slices are replaced whole, never modified in
		// place, so reading them under the read lock is enough.
		s.cache.mu.RLock()
		for i := range b.msgs {
			ks.Add(b.msgs[i].keywords)
		}
		s.cache.mu.RUnlock()
		return ks.Sorted(), nil
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT DISTINCT m.keywords FROM messages m WHERE `+mboxScope+` AND m.keywords != ''`, mbox, acct)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var kw string
		if err := rows.Scan(&kw); err != nil {
			return nil, err
		}
		ks.Add(splitKeywords(kw))
	}
	return ks.Sorted(), rows.Err()
}
