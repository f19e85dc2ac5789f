package pgqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/delivery/queue"
)

// Claim implements queue.Storage. The row is locked with SKIP LOCKED, so
// a node claiming at the same moment sees no row (ErrClaimed) instead of
// waiting; a row whose lease has not run out is another node's too.
func (s *Storage) Claim(ctx context.Context, id string, lease time.Duration) (*queue.State, *queue.Body, error) {
	tok := s.node + "." + strconv.FormatUint(s.seq.Add(1), 36)
	var (
		state string
		data  []byte
		next  int64
		held  bool
		busy  bool
		found bool
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT state, data, next_attempt, held, lease_until > `+dbNow+`
			FROM outbound WHERE id=$1 FOR UPDATE SKIP LOCKED`, id).Scan(&state, &data, &next, &held, &busy)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		found = true
		if held || busy {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE outbound SET claimed_by=$2, lease_until=`+dbNow+`+$3 WHERE id=$1`,
			id, tok, lease.Nanoseconds())
		return err
	})
	switch {
	case err != nil:
		return nil, nil, fmt.Errorf("pgqueue: claim: %w", err)
	case !found:
		// Locked by another node's claim right now, or gone.
		if err := s.lostOrGone(ctx, id); !errors.Is(err, queue.ErrLost) {
			return nil, nil, err
		}
		return nil, nil, queue.ErrClaimed
	case held:
		return nil, nil, queue.ErrHeld
	case busy:
		return nil, nil, queue.ErrClaimed
	}
	st, err := decode(id, state, next, held)
	if err != nil {
		// Not released: the lease runs out and the message is tried (and
		// logged) again, never dropped.
		return nil, nil, err
	}
	s.setToken(id, tok)
	return st, queue.BytesBody(data), nil
}

// Renew implements queue.Storage.
func (s *Storage) Renew(ctx context.Context, id string, lease time.Duration) error {
	tag, err := s.pool.Exec(ctx, `UPDATE outbound SET lease_until=`+dbNow+`+$3 WHERE id=$1 AND claimed_by=$2`,
		id, s.token(id), lease.Nanoseconds())
	if err != nil {
		return fmt.Errorf("pgqueue: renew: %w", err)
	}
	if tag.RowsAffected() == 0 {
		s.setToken(id, "") // the runner gives the message up
		return s.lostOrGone(ctx, id)
	}
	return nil
}

// Save implements queue.Storage: the new state, and the claim ends. The
// held column is the operator's and is not written here.
func (s *Storage) Save(ctx context.Context, st *queue.State) error {
	tok := s.token(st.ID)
	defer s.setToken(st.ID, "")
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("pgqueue: %w", err)
	}
	var held bool
	err = s.pool.QueryRow(ctx, `UPDATE outbound SET state=$3, next_attempt=$4, claimed_by='', lease_until=0
		WHERE id=$1 AND claimed_by=$2 RETURNING held`, st.ID, tok, string(b), st.NextAttempt.UnixNano()).Scan(&held)
	if errors.Is(err, pgx.ErrNoRows) {
		return s.lostOrGone(ctx, st.ID)
	} else if err != nil {
		return fmt.Errorf("pgqueue: save: %w", err)
	}
	st.Held = held
	return nil
}

// Done implements queue.Storage.
func (s *Storage) Done(ctx context.Context, id string) error {
	tok := s.token(id)
	defer s.setToken(id, "")
	tag, err := s.pool.Exec(ctx, `DELETE FROM outbound WHERE id=$1 AND claimed_by=$2`, id, tok)
	if err != nil {
		return fmt.Errorf("pgqueue: done: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return s.lostOrGone(ctx, id)
	}
	return nil
}

// Remove implements queue.Storage (youju queue delete).
func (s *Storage) Remove(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM outbound WHERE id=$1`, id)
	if err != nil {
		return fmt.Errorf("pgqueue: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return queue.ErrNotFound
	}
	return nil
}

// Retry implements queue.Storage: message id (all for "") due now.
func (s *Storage) Retry(ctx context.Context, id string, now time.Time) (int, error) {
	q, args := `UPDATE outbound SET next_attempt=$1`, []any{now.UnixNano()}
	if id != "" {
		q, args = q+` WHERE id=$2`, append(args, id)
	}
	tag, err := s.pool.Exec(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("pgqueue: %w", err)
	}
	if id != "" && tag.RowsAffected() == 0 {
		return 0, queue.ErrNotFound
	}
	return int(tag.RowsAffected()), nil
}

// SetHeld implements queue.Storage.
func (s *Storage) SetHeld(ctx context.Context, id string, held bool) error {
	tag, err := s.pool.Exec(ctx, `UPDATE outbound SET held=$2 WHERE id=$1`, id, held)
	if err != nil {
		return fmt.Errorf("pgqueue: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return queue.ErrNotFound
	}
	return nil
}

// HoldFrom implements queue.Storage (sender and account are stored in
// lower case).
func (s *Storage) HoldFrom(ctx context.Context, addr string) (int, error) {
	if addr == "" {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `UPDATE outbound SET held=true WHERE NOT held AND (sender=$1 OR account=$1)`,
		strings.ToLower(addr))
	if err != nil {
		return 0, fmt.Errorf("pgqueue: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Import adds a message taken from another queue (youju migrate) under
// its own id and state; a message of that id already there is left as
// it is (a resumed run), and Import reports false.
func (s *Storage) Import(ctx context.Context, st *queue.State, data []byte) (bool, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return false, fmt.Errorf("pgqueue: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO outbound(id, state, data, sender, account, next_attempt, held)
		VALUES($1, $2, $3, $4, $5, $6, $7) ON CONFLICT(id) DO NOTHING`,
		st.ID, string(b), data, strings.ToLower(st.From), strings.ToLower(st.Account), st.NextAttempt.UnixNano(), st.Held)
	if err != nil {
		return false, fmt.Errorf("pgqueue: import: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}
