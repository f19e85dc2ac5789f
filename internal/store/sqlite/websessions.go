package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/youju/youju/internal/store"
)

// Web sessions (store.WebSessions) in the index: small rows, written at
// sign-in, sign-out and at most once a minute per session by the web
// package (TouchWebSession), so they add little to the writer's load.

var _ store.WebSessions = (*Store)(nil)

// CreateWebSession implements store.WebSessions.
func (s *Store) CreateWebSession(ctx context.Context, ws store.WebSession) error {
	return s.do(ctx, nil, func(w *wtx) error {
		_, err := w.exec(`INSERT INTO web_sessions(id, account_id, csrf, pending, created, last_seen) VALUES(?,?,?,?,?,?)`,
			ws.ID[:], ws.Account, ws.CSRF, ws.Pending, unixNano(ws.Created), unixNano(ws.LastSeen))
		if isConstraint(err) {
			return store.ErrNotFound // the account is gone
		}
		return err
	})
}

// WebSession implements store.WebSessions.
func (s *Store) WebSession(ctx context.Context, id [32]byte) (store.WebSession, error) {
	ws := store.WebSession{ID: id}
	var c, l int64
	err := s.rdb.QueryRowContext(ctx, `SELECT account_id, csrf, pending, created, last_seen FROM web_sessions WHERE id=?`, id[:]).
		Scan(&ws.Account, &ws.CSRF, &ws.Pending, &c, &l)
	if errors.Is(err, sql.ErrNoRows) {
		return ws, store.ErrNotFound
	}
	ws.Created, ws.LastSeen = fromNano(c), fromNano(l)
	return ws, err
}

// TouchWebSession implements store.WebSessions.
func (s *Store) TouchWebSession(ctx context.Context, id [32]byte, t time.Time) error {
	return s.do(ctx, nil, func(w *wtx) error {
		_, err := w.exec(`UPDATE web_sessions SET last_seen=? WHERE id=?`, unixNano(t), id[:])
		return err
	})
}

// DeleteWebSession implements store.WebSessions.
func (s *Store) DeleteWebSession(ctx context.Context, id [32]byte) error {
	return s.do(ctx, nil, func(w *wtx) error {
		_, err := w.exec(`DELETE FROM web_sessions WHERE id=?`, id[:])
		return err
	})
}

// DeleteAccountWebSessions implements store.WebSessions.
func (s *Store) DeleteAccountWebSessions(ctx context.Context, acct store.AccountID, keep [32]byte) error {
	return s.do(ctx, nil, func(w *wtx) error {
		_, err := w.exec(`DELETE FROM web_sessions WHERE account_id=? AND id!=?`, acct, keep[:])
		return err
	})
}

// ExpireWebSessions implements store.WebSessions.
func (s *Store) ExpireWebSessions(ctx context.Context, idle, created time.Time) (int, error) {
	var n int64
	err := s.do(ctx, nil, func(w *wtx) error {
		res, err := w.exec(`DELETE FROM web_sessions WHERE last_seen<? OR created<?`, unixNano(idle), unixNano(created))
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	return int(n), err
}

// WebTOTP implements store.WebSessions.
func (s *Store) WebTOTP(ctx context.Context, acct store.AccountID) (string, int64, error) {
	var secret string
	var step int64
	err := s.rdb.QueryRowContext(ctx, `SELECT secret, last_step FROM web_totp WHERE account_id=?`, acct).Scan(&secret, &step)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, store.ErrNotFound
	}
	return secret, step, err
}

// SetWebTOTP implements store.WebSessions.
func (s *Store) SetWebTOTP(ctx context.Context, acct store.AccountID, secret string) error {
	return s.do(ctx, nil, func(w *wtx) error {
		if secret == "" {
			_, err := w.exec(`DELETE FROM web_totp WHERE account_id=?`, acct)
			return err
		}
		_, err := w.exec(`INSERT INTO web_totp(account_id, secret, last_step) VALUES(?,?,0)
			ON CONFLICT(account_id) DO UPDATE SET secret=excluded.secret, last_step=0`, acct, secret)
		if isConstraint(err) {
			return store.ErrNotFound
		}
		return err
	})
}

// UseWebTOTPStep implements store.WebSessions.
func (s *Store) UseWebTOTPStep(ctx context.Context, acct store.AccountID, step int64) (bool, error) {
	var ok bool
	err := s.do(ctx, nil, func(w *wtx) error {
		res, err := w.exec(`UPDATE web_totp SET last_step=? WHERE account_id=? AND last_step<?`, step, acct, step)
		if err == nil {
			n, _ := res.RowsAffected()
			ok = n == 1
		}
		return err
	})
	return ok, err
}
