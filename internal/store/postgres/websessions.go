package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/store"
)

// Web sessions (store.WebSessions) in PostgreSQL: every node of a cluster
// sees a sign-in, a sign-out and a TOTP code used on another.

// webSessionsSchema is the migration step that adds the tables.
const webSessionsSchema = `CREATE TABLE IF NOT EXISTS web_sessions (
	id         bytea PRIMARY KEY,
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	csrf       text NOT NULL,
	pending    boolean NOT NULL DEFAULT false,
	created    bigint NOT NULL,
	last_seen  bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS web_sessions_account ON web_sessions(account_id);
CREATE INDEX IF NOT EXISTS web_sessions_last_seen ON web_sessions(last_seen);
CREATE TABLE IF NOT EXISTS web_totp (
	account_id bigint PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	secret     text NOT NULL,
	last_step  bigint NOT NULL DEFAULT 0
);`

var _ store.WebSessions = (*Store)(nil)

// exec runs one statement outside the batched write path: these rows
// produce no mailbox events.
func (s *Store) execWeb(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := s.pool.Exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// CreateWebSession implements store.WebSessions.
func (s *Store) CreateWebSession(ctx context.Context, ws store.WebSession) error {
	_, err := s.execWeb(ctx, `INSERT INTO web_sessions(id, account_id, csrf, pending, created, last_seen) VALUES($1,$2,$3,$4,$5,$6)`,
		ws.ID[:], ws.Account, ws.CSRF, ws.Pending, unixNano(ws.Created), unixNano(ws.LastSeen))
	return err
}

// WebSession implements store.WebSessions.
func (s *Store) WebSession(ctx context.Context, id [32]byte) (store.WebSession, error) {
	ws := store.WebSession{ID: id}
	var c, l int64
	err := s.pool.QueryRow(ctx, `SELECT account_id, csrf, pending, created, last_seen FROM web_sessions WHERE id=$1`, id[:]).
		Scan(&ws.Account, &ws.CSRF, &ws.Pending, &c, &l)
	if errors.Is(err, pgx.ErrNoRows) {
		return ws, store.ErrNotFound
	}
	ws.Created, ws.LastSeen = fromNano(c), fromNano(l)
	return ws, err
}

// TouchWebSession implements store.WebSessions.
func (s *Store) TouchWebSession(ctx context.Context, id [32]byte, t time.Time) error {
	_, err := s.execWeb(ctx, `UPDATE web_sessions SET last_seen=$1 WHERE id=$2`, unixNano(t), id[:])
	return err
}

// DeleteWebSession implements store.WebSessions.
func (s *Store) DeleteWebSession(ctx context.Context, id [32]byte) error {
	_, err := s.execWeb(ctx, `DELETE FROM web_sessions WHERE id=$1`, id[:])
	return err
}

// DeleteAccountWebSessions implements store.WebSessions.
func (s *Store) DeleteAccountWebSessions(ctx context.Context, acct store.AccountID, keep [32]byte) error {
	_, err := s.execWeb(ctx, `DELETE FROM web_sessions WHERE account_id=$1 AND id<>$2`, acct, keep[:])
	return err
}

// ExpireWebSessions implements store.WebSessions.
func (s *Store) ExpireWebSessions(ctx context.Context, idle, created time.Time) (int, error) {
	n, err := s.execWeb(ctx, `DELETE FROM web_sessions WHERE last_seen<$1 OR created<$2`, unixNano(idle), unixNano(created))
	return int(n), err
}

// WebTOTP implements store.WebSessions.
func (s *Store) WebTOTP(ctx context.Context, acct store.AccountID) (string, int64, error) {
	var secret string
	var step int64
	err := s.pool.QueryRow(ctx, `SELECT secret, last_step FROM web_totp WHERE account_id=$1`, acct).Scan(&secret, &step)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, store.ErrNotFound
	}
	return secret, step, err
}

// SetWebTOTP implements store.WebSessions.
func (s *Store) SetWebTOTP(ctx context.Context, acct store.AccountID, secret string) error {
	if secret == "" {
		_, err := s.execWeb(ctx, `DELETE FROM web_totp WHERE account_id=$1`, acct)
		return err
	}
	_, err := s.execWeb(ctx, `INSERT INTO web_totp(account_id, secret, last_step) VALUES($1,$2,0)
		ON CONFLICT(account_id) DO UPDATE SET secret=excluded.secret, last_step=0`, acct, secret)
	return err
}

// UseWebTOTPStep implements store.WebSessions: one conditional UPDATE, so
// two nodes given the same code accept it once.
func (s *Store) UseWebTOTPStep(ctx context.Context, acct store.AccountID, step int64) (bool, error) {
	n, err := s.execWeb(ctx, `UPDATE web_totp SET last_step=$1 WHERE account_id=$2 AND last_step<$1`, step, acct)
	return n == 1, err
}
