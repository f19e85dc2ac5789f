package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	code := m.Run()
	if bigDir != "" {
		os.RemoveAll(bigDir)
	}
	os.Exit(code)
}

func openStore(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newTestStore(t testing.TB) *Store {
	s := openStore(t, t.TempDir())
	t.Cleanup(func() { s.Close() })
	return s
}

func newAccount(t testing.TB, s *Store, addr string) store.Account {
	t.Helper()
	a, err := s.CreateAccount(context.Background(), store.Account{Address: addr, AllowIMAP: true})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testMessage(i int) []byte {
	return []byte(fmt.Sprintf("From: a@example.com\nTo: b@example.org\nSubject: test %d\nMessage-ID: <%d@example.com>\n\nbody %d\n", i, i, i))
}

func deliver(t testing.TB, s *Store, acct store.AccountID, mbox store.MailboxID, data []byte, f store.Flags) store.TargetResult {
	t.Helper()
	res, err := s.Deliver(context.Background(), store.Delivery{Data: data, Targets: []store.Target{{Account: acct, Mailbox: mbox, Flags: f}}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	return res[0]
}

func inbox(t testing.TB, s *Store, acct store.AccountID) store.Mailbox {
	t.Helper()
	m, err := s.Mailbox(context.Background(), acct, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// bulkDeliver fills a mailbox fast: one blob append and one transaction
// per call, as a benchmark setup (the public path is Deliver).
func bulkDeliver(t testing.TB, s *Store, acct store.AccountID, mbox store.MailboxID, datas [][]byte, flags func(i int) store.Flags) {
	t.Helper()
	norm := make([][]byte, len(datas))
	infos := make([][]byte, len(datas))
	for i, d := range datas {
		norm[i] = message.NormalizeCRLF(d)
		infos[i] = message.Parse(norm[i]).Marshal()
	}
	refs, err := s.blobs.Append(norm)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	err = s.do(context.Background(), nil, func(w *wtx) error {
		mb, err := w.openSelected(acct, mbox)
		if err != nil {
			return err
		}
		for i, r := range refs {
			res, err := w.exec(`INSERT INTO blobs(segment, off, length, refcount, info) VALUES(?,?,?,1,?)`, r.Segment, r.Offset, r.Length, infos[i])
			if err != nil {
				return err
			}
			id, _ := res.LastInsertId()
			f := flags(i)
			m := store.Message{UID: mb.uidNext, ModSeq: mb.bump(), Flags: f, InternalDate: now, SaveDate: now, Size: r.Length}
			if err := w.insertMessage(mb, &m, id); err != nil {
				return err
			}
		}
		return w.save(mb)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// queryPlan is SQLite's EXPLAIN QUERY PLAN of q with args on db, its
// details joined by "; " (the plan tests look for index use in it).
func queryPlan(t testing.TB, db *sql.DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.Query(`EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "; ")
}
