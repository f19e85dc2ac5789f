package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// The write connection of a running store. database/sql's transactions
// cost the committer, on the path every acknowledgement waits for, about
// 60 µs a batch (CPU profile of the SMTP burst): BeginTx starts a
// goroutine per transaction (to roll back when its context ends, which
// the writer's never does), modernc runs BEGIN and COMMIT as statements
// prepared anew each time, and every prepared statement is bound to the
// transaction again. The writer pins the one write connection instead,
// for its whole life, and runs BEGIN IMMEDIATE, COMMIT and ROLLBACK as
// statements prepared once on it; its other statements are prepared on
// it too (prepareMissed).

// sqlRunner is what the writer's requests run their statements on: the
// pinned connection inside BEGIN … COMMIT, or a *sql.Tx (at Open, before
// the writer starts: replay, purging retained messages).
type sqlRunner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// wconn is the pinned write connection; only the writer goroutines use
// it (the committer, and the writer only to start and end it).
type wconn struct {
	c                       *sql.Conn
	begin, commit, rollback *sql.Stmt
}

// pinWriteConn takes db's one connection until close.
func pinWriteConn(ctx context.Context, db *sql.DB) (*wconn, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: write connection: %w", err)
	}
	w := &wconn{c: c}
	// IMMEDIATE, as openDB's _txlock: the write lock is taken at BEGIN,
	// so no statement of the batch can meet SQLITE_BUSY half-way.
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{{&w.begin, `BEGIN IMMEDIATE`}, {&w.commit, `COMMIT`}, {&w.rollback, `ROLLBACK`}} {
		if *p.st, err = c.PrepareContext(ctx, p.q); err != nil {
			w.close()
			return nil, fmt.Errorf("sqlite: write connection: prepare %s: %w", p.q, err)
		}
	}
	return w, nil
}

// Begin starts a transaction. A transaction left open by a failure
// whose ROLLBACK failed too is rolled back first, once.
func (w *wconn) Begin(ctx context.Context) error {
	if _, err := w.begin.ExecContext(ctx); err == nil {
		return nil
	}
	w.Rollback(ctx)
	_, err := w.begin.ExecContext(ctx)
	return err
}

func (w *wconn) Commit(ctx context.Context) error {
	_, err := w.commit.ExecContext(ctx)
	return err
}

// Rollback ends the transaction if one is open. Its error is of no use:
// SQLite may have rolled back already (a failed COMMIT, some I/O errors),
// and Begin deals with a transaction still open.
func (w *wconn) Rollback(ctx context.Context) {
	_, _ = w.rollback.ExecContext(ctx)
}

// close gives the connection back to db (for Close's checkpoint).
func (w *wconn) close() {
	for _, st := range []*sql.Stmt{w.begin, w.commit, w.rollback} {
		if st != nil {
			st.Close()
		}
	}
	w.c.Close()
}
