package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/store"
)

// The admin flag of accounts and the admin API's bearer tokens
// (store.APITokens), shared by every node.

// apiTokensSchema is the migration step that adds them.
const apiTokensSchema = `ALTER TABLE accounts ADD COLUMN IF NOT EXISTS admin boolean NOT NULL DEFAULT false;
CREATE TABLE IF NOT EXISTS api_tokens (
	id         bigserial PRIMARY KEY,
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       text NOT NULL,
	hash       bytea NOT NULL UNIQUE,
	created    bigint NOT NULL,
	last_used  bigint NOT NULL DEFAULT 0,
	UNIQUE(account_id, name)
);`

var _ store.APITokens = (*Store)(nil)

// CreateAPIToken implements store.APITokens.
func (s *Store) CreateAPIToken(ctx context.Context, t store.APIToken) (store.APIToken, error) {
	if strings.TrimSpace(t.Name) == "" {
		return store.APIToken{}, store.ErrInvalidName
	}
	t.Created, t.LastUsed = time.Now(), time.Time{}
	err := s.pool.QueryRow(ctx, `INSERT INTO api_tokens(account_id, name, hash, created) VALUES($1,$2,$3,$4) RETURNING id`,
		t.Account, t.Name, t.Hash[:], t.Created.UnixNano()).Scan(&t.ID)
	switch {
	case isUnique(err):
		return store.APIToken{}, store.ErrExists
	case isForeignKey(err):
		return store.APIToken{}, store.ErrNotFound
	case err != nil:
		return store.APIToken{}, err
	}
	return t, nil
}

func scanAPIToken(r pgx.Row) (store.APIToken, error) {
	var t store.APIToken
	var h []byte
	var c, l int64
	if err := r.Scan(&t.ID, &t.Account, &t.Name, &h, &c, &l); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
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
	return scanAPIToken(s.pool.QueryRow(ctx, `SELECT id, account_id, name, hash, created, last_used
		FROM api_tokens WHERE hash=$1`, hash[:]))
}

// APITokens implements store.APITokens.
func (s *Store) APITokens(ctx context.Context, acct store.AccountID) ([]store.APIToken, error) {
	rows, _ := s.pool.Query(ctx, `SELECT id, account_id, name, hash, created, last_used
		FROM api_tokens WHERE account_id=$1 ORDER BY name`, acct)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.APIToken, error) { return scanAPIToken(r) })
}

// DeleteAPIToken implements store.APITokens.
func (s *Store) DeleteAPIToken(ctx context.Context, acct store.AccountID, id int64) error {
	n, err := s.execWeb(ctx, `DELETE FROM api_tokens WHERE account_id=$1 AND id=$2`, acct, id)
	if err == nil && n == 0 {
		return store.ErrNotFound
	}
	return err
}

// TouchAPIToken implements store.APITokens.
func (s *Store) TouchAPIToken(ctx context.Context, id int64, t time.Time) error {
	_, err := s.execWeb(ctx, `UPDATE api_tokens SET last_used=$1 WHERE id=$2`, unixNano(t), id)
	return err
}
