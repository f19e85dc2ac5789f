package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/youju/youju/internal/store"
)

// The admin API's bearer tokens (store.APITokens): a few rows per admin.

var _ store.APITokens = (*Store)(nil)

// CreateAPIToken implements store.APITokens.
func (s *Store) CreateAPIToken(ctx context.Context, t store.APIToken) (store.APIToken, error) {
	if strings.TrimSpace(t.Name) == "" {
		return store.APIToken{}, store.ErrInvalidName
	}
	t.Created, t.LastUsed = time.Now(), time.Time{}
	err := s.do(ctx, nil, func(w *wtx) error {
		var err error
		t.ID, err = w.insertOwned(`INSERT INTO api_tokens(account_id, name, hash, created) VALUES(?,?,?,?)`,
			t.Account, t.Name, t.Hash[:], t.Created.UnixNano())
		return err
	})
	if err != nil {
		return store.APIToken{}, err
	}
	return t, nil
}

func scanAPIToken(r interface{ Scan(...any) error }) (store.APIToken, error) {
	var t store.APIToken
	var h []byte
	var c, l int64
	if err := r.Scan(&t.ID, &t.Account, &t.Name, &h, &c, &l); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return t, store.ErrNotFound
		}
		return t, err
	}
	copy(t.Hash[:], h)
	t.Created, t.LastUsed = fromNano(c), fromNano(l)
	return t, nil
}

// APITokenByHash implements store.APITokens.
func (s *Store) APITokenByHash(ctx context.Context, hash [32]byte) (store.APIToken, error) {
	return scanAPIToken(s.rdb.QueryRowContext(ctx, `SELECT id, account_id, name, hash, created, last_used
		FROM api_tokens WHERE hash=?`, hash[:]))
}

// APITokens implements store.APITokens.
func (s *Store) APITokens(ctx context.Context, acct store.AccountID) ([]store.APIToken, error) {
	return queryRows(ctx, s.rdb, scanAPIToken, `SELECT id, account_id, name, hash, created, last_used
		FROM api_tokens WHERE account_id=? ORDER BY name`, acct)
}

// DeleteAPIToken implements store.APITokens.
func (s *Store) DeleteAPIToken(ctx context.Context, acct store.AccountID, id int64) error {
	return s.do(ctx, nil, func(w *wtx) error {
		return w.execOne(`DELETE FROM api_tokens WHERE account_id=? AND id=?`, acct, id)
	})
}

// TouchAPIToken implements store.APITokens.
func (s *Store) TouchAPIToken(ctx context.Context, id int64, t time.Time) error {
	return s.do(ctx, nil, func(w *wtx) error {
		_, err := w.exec(`UPDATE api_tokens SET last_used=? WHERE id=?`, unixNano(t), id)
		return err
	})
}
