package postgres

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/youju/youju/internal/blob/blobtest"
	"github.com/youju/youju/internal/store"
)

// TestChunksConformance runs the blob conformance suite on the chunk rows
// of an index's database: its blobs are a store.Blobs like files and S3,
// and a blob Put on its own (no blobs row) is allowed.
func TestChunksConformance(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	blobtest.Run(t, s.chunks)
}

// count returns the rows of a table.
func count(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestChunksGoWithTheirRows checks that the chunk rows of a delivery are
// in its transaction: a delivery refused for quota leaves none, and
// deleting the messages' blobs rows (account deletion) deletes them.
func TestChunksGoWithTheirRows(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	a := newAccount(t, s, "chunks@example.com")
	a.QuotaBytes = 3*chunkSize/2 + 1000
	if err := s.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	big := append([]byte("Subject: big\r\n\r\n"), blobtest.Data(3*chunkSize/2, 1)...)
	for _, m := range [][]byte{[]byte("Subject: small\r\n\r\nx\r\n"), big} {
		res, err := s.Deliver(ctx, store.Delivery{Data: m, Exact: true, Targets: []store.Target{{Account: a.ID}}})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res)
		}
	}
	if n := count(t, s, "blob_chunks"); n != 3 {
		t.Fatalf("%d chunk rows for a one- and a two-chunk message", n)
	}
	res, err := s.Deliver(ctx, store.Delivery{Data: big, Exact: true, Targets: []store.Target{{Account: a.ID}}})
	if err != nil || !errors.Is(res[0].Err, store.ErrQuotaExceeded) {
		t.Fatalf("over quota: %v %v", err, res)
	}
	if n := count(t, s, "blob_chunks"); n != 3 {
		t.Fatalf("%d chunk rows after a refused delivery, want 3", n)
	}
	if err := s.DeleteAccount(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if n, b := count(t, s, "blob_chunks"), count(t, s, "blobs"); n != 0 || b != 0 {
		t.Fatalf("%d chunk rows, %d blobs rows after deleting the account", n, b)
	}
}

// TestChunksUpgrade opens a database whose chunk rows were written before
// blob_chunks stopped referencing blobs (the step is undone and the
// constraint put back, as an older youju left it): the messages read
// back, and their chunks still go with their rows.
func TestChunksUpgrade(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	a := newAccount(t, s, "old@example.com")
	msg := append([]byte("Subject: old\r\n\r\n"), blobtest.Data(chunkSize+10, 2)...)
	res, err := s.Deliver(ctx, store.Delivery{Data: msg, Exact: true, Targets: []store.Target{{Account: a.ID}}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	if _, err := s.pool.Exec(ctx, `DROP TRIGGER blobs_chunks_gone ON blobs;
		ALTER TABLE blob_chunks ADD CONSTRAINT blob_chunks_blob_id_fkey FOREIGN KEY (blob_id) REFERENCES blobs(id) ON DELETE CASCADE;
		UPDATE schema_version SET v = v - 1`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, dir)
	defer s.Close()
	var fks int
	s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM pg_constraint WHERE conrelid = 'blob_chunks'::regclass AND contype = 'f'`).Scan(&fks)
	if fks != 0 {
		t.Fatalf("blob_chunks still has %d foreign keys", fks)
	}
	r, err := s.OpenMessage(ctx, a.ID, res[0].Mailbox, res[0].UID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("the old message reads %d bytes, %v", len(got), err)
	}
	if err := s.DeleteAccount(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "blob_chunks"); n != 0 {
		t.Fatalf("%d chunk rows after deleting the account", n)
	}
}
