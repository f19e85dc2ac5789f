package sqlite

import (
	"context"

	"github.com/youju/youju/internal/store"
)

const defaultCacheEntries = 0

type flagCache struct{}

func newFlagCache(n int) *flagCache                            { return &flagCache{} }
func (c *flagCache) enabled() bool                             { return false }
func (c *flagCache) apply(f func(*flagCache))                  { f(c) }
func (c *flagCache) reset()                                    {}
func (c *flagCache) drop(id store.MailboxID)                   {}
func (c *flagCache) add(id store.MailboxID, m *store.Message)  {}
func (c *flagCache) update(id store.MailboxID, ms []store.Message) {}
func (c *flagCache) remove(id store.MailboxID, uids []store.UID) {}

func (s *Store) listCached(ctx context.Context, acct store.AccountID, mbox store.MailboxID, opt store.ListOptions, fn func(*store.Message) error) error {
	return nil
}
func (s *Store) searchCached(ctx context.Context, acct store.AccountID, mbox store.MailboxID, q store.Query) ([]store.UID, error) {
	return nil, nil
}
