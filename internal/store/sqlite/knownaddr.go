package sqlite

import (
	"context"
	"net/netip"
	"time"

	"github.com/youju/youju/internal/store"
)

var _ store.KnownAddresses = (*Store)(nil)

// RecordSignIn implements store.KnownAddresses: it upserts the prefix's
// time and drops the account's oldest prefixes beyond
// store.MaxKnownAddresses, in one write transaction.
func (s *Store) RecordSignIn(ctx context.Context, acct store.AccountID, prefix netip.Prefix, at time.Time) error {
	p := prefix.Masked().String()
	return s.do(ctx, nil, func(w *wtx) error {
		if _, err := w.exec(`INSERT INTO known_addresses(account_id, prefix, last_ok) VALUES(?,?,?)
			ON CONFLICT(account_id, prefix) DO UPDATE SET last_ok=MAX(last_ok, excluded.last_ok)`, acct, p, unixNano(at)); err != nil {
			return err
		}
		_, err := w.exec(`DELETE FROM known_addresses WHERE account_id=? AND prefix NOT IN
			(SELECT prefix FROM known_addresses WHERE account_id=? ORDER BY last_ok DESC, prefix LIMIT ?)`,
			acct, acct, store.MaxKnownAddresses)
		return err
	})
}

// KnownSince implements store.KnownAddresses.
func (s *Store) KnownSince(ctx context.Context, acct store.AccountID, prefix netip.Prefix, since time.Time) (bool, error) {
	var n int
	err := s.rq.QueryRowContext(ctx, `SELECT COUNT(*) FROM known_addresses WHERE account_id=? AND prefix=? AND last_ok>=?`,
		acct, prefix.Masked().String(), unixNano(since)).Scan(&n)
	return n > 0, err
}
