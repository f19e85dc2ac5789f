package pgblobs_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/youju/youju/internal/blob/blobtest"
	"github.com/youju/youju/internal/blob/pgblobs"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/testutil/pgdsn"
)

var ctx = context.Background()

// openPool returns a pool on a fresh schema prepared with pgblobs.Schema,
// dropped at the end of the test.
func openPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	dsn := pgdsn.Get(t)
	var b [8]byte
	rand.Read(b[:])
	schema := "t_pgblobs_" + hex.EncodeToString(b[:])
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pool.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)
		pool.Close()
	})
	if _, err := pool.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, pgblobs.Schema); err != nil {
		t.Fatal(err)
	}
	return pool
}

func TestConformance(t *testing.T) {
	blobtest.Run(t, pgblobs.New(openPool(t)))
}

// countingDB counts the bytes of the rows its queries return.
type countingDB struct {
	pgblobs.DB
	n atomic.Int64
}

func (c *countingDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := c.DB.Query(ctx, sql, args...)
	return &countingRows{Rows: rows, n: &c.n}, err
}

type countingRows struct {
	pgx.Rows
	n *atomic.Int64
}

func (r *countingRows) Next() bool {
	if !r.Rows.Next() {
		return false
	}
	for _, v := range r.Rows.RawValues() {
		r.n.Add(int64(len(v)))
	}
	return true
}

// TestRangeReadsOnlyRange checks that a range read of a large blob
// receives its range, not the chunks around it nor the prefix before it.
func TestRangeReadsOnlyRange(t *testing.T) {
	db := &countingDB{DB: openPool(t)}
	blobtest.RangeOnly(t, pgblobs.New(db), db.n.Load, 100)
}

// TestQueuePutJoinsTransaction checks that chunk rows queued on a batch
// commit and roll back with the caller's transaction.
func TestQueuePutJoinsTransaction(t *testing.T) {
	pool := openPool(t)
	s := pgblobs.New(pool)
	if !s.Shares(pool) || pgblobs.New(openPool(t)).Shares(pool) {
		t.Fatal("Shares does not tell its pool from another")
	}
	data := [][]byte{blobtest.Data(300<<10, 1), blobtest.Data(10, 2), {}}
	for _, commit := range []bool{false, true} {
		ids, err := s.NewIDs(ctx, len(data))
		if err != nil {
			t.Fatal(err)
		}
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var b pgx.Batch
		s.QueuePut(&b, ids, data)
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			t.Fatal(err)
		}
		if commit {
			err = tx.Commit(ctx)
		} else {
			err = tx.Rollback(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			r, err := s.Open(ctx, pgblobs.FormatID(id), -1)
			if !commit {
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("blob of a rolled back transaction: %v", err)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, data[i]) {
				t.Fatalf("blob %d reads %d bytes, %v", i, len(got), err)
			}
		}
	}
}

// TestNewIDsUnique checks that ids never repeat, within a store and
// between two stores on one sequence.
func TestNewIDsUnique(t *testing.T) {
	pool := openPool(t)
	a, b := pgblobs.New(pool), pgblobs.New(pool)
	seen := map[int64]bool{}
	for i := range 700 {
		s := a
		if i%3 == 0 {
			s = b
		}
		ids, err := s.NewIDs(ctx, 1+i%5)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if seen[id] || id <= 0 {
				t.Fatalf("id %d given twice", id)
			}
			seen[id] = true
		}
	}
}

func TestBadIDs(t *testing.T) {
	s := pgblobs.New(nil)
	for _, id := range []string{"", "0", "-1", "+5", "05", "1e3", "abc", "99999999999999999999", "ab/0123456789abcdef0123456789abcd"} {
		if _, err := s.Open(ctx, id, 10); err == nil {
			t.Errorf("Open(%q) succeeded", id)
		}
		if err := s.Delete(ctx, id); err == nil {
			t.Errorf("Delete(%q) succeeded", id)
		}
	}
}

// FuzzParseID checks that an id is read back only as what FormatID wrote.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{"1", "42", "0", "-1", "+5", "05", "9223372036854775807", "ab/cd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		k, err := pgblobs.ParseID(id)
		if err != nil {
			return
		}
		if k <= 0 || pgblobs.FormatID(k) != id {
			t.Fatalf("ParseID(%q) = %d", id, k)
		}
	})
}
