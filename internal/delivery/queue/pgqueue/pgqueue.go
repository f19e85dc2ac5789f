// Package pgqueue keeps the outbound queue in PostgreSQL, in the schema of
// the shared store (internal/store/postgres creates the table), so that
// several youju nodes share one queue: a message is delivered by the one
// node that claimed it, and a node that dies mid-delivery loses its claim
// when its lease runs out, after which another node retries it.
//
// A claim is taken with SELECT … FOR UPDATE SKIP LOCKED (two nodes
// claiming at once never wait for each other, and never both succeed)
// and recorded as (claimed_by, lease_until); leases are measured by the
// database's clock, so nodes whose clocks differ agree on when one ran
// out. Enqueue is one INSERT committed with synchronous_commit=on before
// the queue returns (and the submission server answers 250).
//
// What cannot be ruled out is what SMTP itself cannot (RFC 5321 §6.1):
// a node that dies after the remote server accepted the final dot but
// before it recorded so leaves the recipient pending, and another node
// sends it again.
package pgqueue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/youju/youju/internal/delivery/queue"
)

// Options configure a Storage.
type Options struct {
	// Schema is the PostgreSQL schema of the store ("" = the DSN's
	// search_path), as postgres.Options.Schema.
	Schema   string
	MaxConns int32 // [4]
	Logger   *slog.Logger
}

// Storage is the queue in PostgreSQL. It implements queue.Storage.
type Storage struct {
	pool *pgxpool.Pool
	node string
	seq  atomic.Uint64
	log  *slog.Logger
	// waiting is the count of the last Due (Waiting).
	waiting atomic.Int64

	mu     sync.Mutex
	claims map[string]string // message id -> our claim token
}

var (
	_ queue.Storage = (*Storage)(nil)
	_ queue.Waiting = (*Storage)(nil)
)

// dbNow is the database's clock in Unix nanoseconds: leases compare to it
// only, so no node's clock matters for them.
const dbNow = `(extract(epoch from clock_timestamp()) * 1000000000)::bigint`

// Open connects to the database of dsn. The table is created by the
// store's migrations (postgres.Open, youju init): Open fails if it is
// missing, rather than create a schema of its own.
func Open(ctx context.Context, dsn string, opts Options) (*Storage, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgqueue: %w", err)
	}
	cfg.MaxConns = opts.MaxConns
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 4
	}
	// Enqueue is acknowledged to the client after the commit: it must
	// be flushed, whatever the role or database default says.
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	if opts.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgqueue: %w", err)
	}
	var ok bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('outbound') IS NOT NULL`).Scan(&ok); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgqueue: %w", err)
	} else if !ok {
		pool.Close()
		return nil, errors.New("pgqueue: no outbound table: the schema is older than this program (start youju serve or run youju init to migrate it)")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var b [6]byte
	rand.Read(b[:])
	return &Storage{pool: pool, node: hex.EncodeToString(b[:]), log: log, claims: map[string]string{}}, nil
}

// Close closes the connection pool.
func (s *Storage) Close() { s.pool.Close() }

// NewID implements queue.Storage: the time, then a sequence and random
// bits, so that ids of different nodes never collide.
func (s *Storage) NewID(now time.Time) string {
	var r [4]byte
	rand.Read(r[:])
	return fmt.Sprintf("%013x-%05x-%s", now.UnixMicro(), s.seq.Add(1)&0xfffff, hex.EncodeToString(r[:]))
}

// Add implements queue.Storage: one committed INSERT.
func (s *Storage) Add(ctx context.Context, st *queue.State, data []byte) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("pgqueue: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO outbound(id, state, data, sender, account, next_attempt, held)
		VALUES($1, $2, $3, $4, $5, $6, $7)`,
		st.ID, string(b), data, strings.ToLower(st.From), strings.ToLower(st.Account), st.NextAttempt.UnixNano(), st.Held)
	if err != nil {
		return fmt.Errorf("pgqueue: enqueue: %w", err)
	}
	return nil
}

// decode builds a State from a row: the columns override the JSON.
func decode(id, state string, next int64, held bool) (*queue.State, error) {
	st, err := queue.DecodeState(id, []byte(state))
	if err != nil {
		return nil, err
	}
	st.NextAttempt = time.Unix(0, next)
	st.Held = held
	return st, nil
}

// List implements queue.Storage.
func (s *Storage) List(ctx context.Context) ([]*queue.State, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, state, next_attempt, held FROM outbound ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("pgqueue: %w", err)
	}
	defer rows.Close()
	var out []*queue.State
	for rows.Next() {
		var id, state string
		var next int64
		var held bool
		if err := rows.Scan(&id, &state, &next, &held); err != nil {
			return nil, fmt.Errorf("pgqueue: %w", err)
		}
		st, err := decode(id, state, next, held)
		if err != nil {
			// Listed, never hidden (as the queue directory does).
			st = &queue.State{ID: id, Broken: err.Error(), Held: held}
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// State implements queue.Storage.
func (s *Storage) State(ctx context.Context, id string) (*queue.State, error) {
	var state string
	var next int64
	var held bool
	err := s.pool.QueryRow(ctx, `SELECT state, next_attempt, held FROM outbound WHERE id=$1`, id).Scan(&state, &next, &held)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, queue.ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("pgqueue: %w", err)
	}
	return decode(id, state, next, held)
}

// Data implements queue.Storage.
func (s *Storage) Data(ctx context.Context, id string) ([]byte, error) {
	var data []byte
	err := s.pool.QueryRow(ctx, `SELECT data FROM outbound WHERE id=$1`, id).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, queue.ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("pgqueue: %w", err)
	}
	return data, nil
}

// DueWindow is how far ahead Due looks: more than the runner's one-second
// re-read of a shared queue, so that every message is in the runner's
// schedule before it falls due, with slack for a slow read.
const DueWindow = 5 * time.Second

// dueLimit bounds the rows one Due returns: a backlog is taken oldest
// first, a batch per re-read, rather than read whole every second.
const dueLimit = 1000

// Due implements queue.Storage. It reads only the messages due within
// DueWindow, oldest first, by the outbound_due index on next_attempt (a
// queue of 10,000 deferred messages is not read every second by every
// node); the others are counted (Waiting). A message another node holds is
// due when its lease runs out (then we may take it over), not before; one
// whose lease outlasts the window is left for a later read.
func (s *Storage) Due(ctx context.Context) (map[string]time.Time, error) {
	now := time.Now()
	horizon := now.Add(DueWindow)
	rows, err := s.pool.Query(ctx, `SELECT id, next_attempt, GREATEST(lease_until - `+dbNow+`, 0)
		FROM outbound WHERE NOT held AND next_attempt <= $1 AND lease_until <= `+dbNow+` + $2
		ORDER BY next_attempt LIMIT $3`, horizon.UnixNano(), DueWindow.Nanoseconds(), dueLimit)
	if err != nil {
		return nil, fmt.Errorf("pgqueue: %w", err)
	}
	defer rows.Close()
	due := map[string]time.Time{}
	for rows.Next() {
		var id string
		var next, leased int64
		if err := rows.Scan(&id, &next, &leased); err != nil {
			return nil, fmt.Errorf("pgqueue: %w", err)
		}
		t := time.Unix(0, next)
		if l := now.Add(time.Duration(leased)); leased > 0 && l.After(t) {
			t = l
		}
		due[id] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgqueue: %w", err)
	}
	// An index-only count of the partial index: no row is sent.
	var all int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM outbound WHERE NOT held`).Scan(&all); err != nil {
		return nil, fmt.Errorf("pgqueue: %w", err)
	}
	s.waiting.Store(int64(max(all-len(due), 0)))
	return due, nil
}

// Waiting implements queue.Waiting: the messages not held that the last
// Due left out (due later, or leased by a node for longer).
func (s *Storage) Waiting() int { return int(s.waiting.Load()) }

// Changed implements queue.Storage: the runner re-reads a shared queue
// every second anyway (Shared).
func (s *Storage) Changed() time.Time { return time.Time{} }

// Shared implements queue.Storage.
func (s *Storage) Shared() bool { return true }

// exists tells a claim lost to another node from a message deleted.
func (s *Storage) exists(ctx context.Context, id string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS(SELECT 1 FROM outbound WHERE id=$1)`, id).Scan(&ok)
	return ok, err
}

// lostOrGone is the error of an update that matched no row of our claim.
func (s *Storage) lostOrGone(ctx context.Context, id string) error {
	ok, err := s.exists(ctx, id)
	switch {
	case err != nil:
		return fmt.Errorf("pgqueue: %w", err)
	case ok:
		return queue.ErrLost
	default:
		return queue.ErrNotFound
	}
}

func (s *Storage) token(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.claims[id]
}

func (s *Storage) setToken(id, tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok == "" {
		delete(s.claims, id)
	} else {
		s.claims[id] = tok
	}
}
