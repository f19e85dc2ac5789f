package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

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
		res, err := w.exec(`INSERT INTO api_tokens(account_id, name, hash, created) VALUES(?,?,?,?)`,
			t.Account, t.Name, t.Hash[:], t.Created.UnixNano())
		if isConstraint(err) {
			return store.ErrExists
		}
		var se *sqlite.Error
		if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		t.ID, err = res.LastInsertId()
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
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, account_id, name, hash, created, last_used
		FROM api_tokens WHERE account_id=? ORDER BY name`, acct)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ts []store.APIToken
	for rows.Next() {
		t, err := scanAPIToken(rows)
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	return ts, rows.Err()
}

// DeleteAPIToken implements store.APITokens.
func (s *Store) DeleteAPIToken(ctx context.Context, acct store.AccountID, id int64) error {
	return s.do(ctx, nil, func(w *wtx) error {
		res, err := w.exec(`DELETE FROM api_tokens WHERE account_id=? AND id=?`, acct, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
}

// TouchAPIToken implements store.APITokens.
func (s *Store) TouchAPIToken(ctx context.Context, id int64, t time.Time) error {
	return s.do(ctx, nil, func(w *wtx) error {
		_, err := w.exec(`UPDATE api_tokens SET last_used=? WHERE id=?`, unixNano(t), id)
		return err
	})
}
