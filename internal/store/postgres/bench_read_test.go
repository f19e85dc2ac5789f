package postgres

import (
	"sync"
	"testing"

	"github.com/youju/youju/internal/store"
)

var (
	bigOnce  sync.Once
	bigStore *Store
	bigAcct  store.Account
	bigMbox  store.Mailbox
)

const bigN = 100_000

// bigSchema holds bigMailbox's store.
var bigSchema = schemaFor("big-mailbox")

// bigMailbox builds, once per test binary, an INBOX of 100,000 messages,
// one in ten unseen, as the SQLite benchmarks have. One message is
// delivered; the rest are rows written by SQL that share its blob (the
// reads measured here never read bytes but the last 50 Infos).
func bigMailbox(b *testing.B) (*Store, store.Account, store.Mailbox) {
	bigOnce.Do(func() {
		// Its own schema, dropped by TestMain: it outlives the
		// benchmark that made it.
		s, err := Open(ctx, testDSN(b), Options{Schema: bigSchema})
		if err != nil {
			b.Fatal(err)
		}
		a := newAccount(b, s, "big@example.com")
		var res []store.TargetResult
		res, err = s.Deliver(ctx, store.Delivery{Data: []byte("From: a@example.com\r\nSubject: big\r\n\r\nbody\r\n"),
			Targets: []store.Target{{Account: a.ID}}})
		if err != nil || res[0].Err != nil {
			b.Fatal(err, res)
		}
		mb := res[0].Mailbox
		for _, q := range []string{
			`INSERT INTO messages(mailbox_id, uid, modseq, sysflags, keywords, internal_date, save_date, size, blob_id)
				SELECT $1, g, g+1, CASE WHEN g % 10 = 0 THEN 0 ELSE 1 END, CASE WHEN g % 1000 = 0 THEN '$label1' ELSE '' END,
					m.internal_date, m.save_date, m.size, m.blob_id
				FROM generate_series(2, 100000) g, messages m WHERE m.mailbox_id=$1 AND m.uid=1`,
			`UPDATE messages SET sysflags=1 WHERE mailbox_id=$1 AND uid=1`,
			`UPDATE blobs SET refcount=100000 WHERE id=(SELECT blob_id FROM messages WHERE mailbox_id=$1 AND uid=1)`,
			`UPDATE mailboxes SET uidnext=100001, highestmodseq=100001, messages=100000, unseen=10000,
				size=100000*(SELECT size FROM messages WHERE mailbox_id=$1 AND uid=1) WHERE id=$1`,
		} {
			if _, err := s.pool.Exec(ctx, q, mb); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := s.pool.Exec(ctx, `ANALYZE messages`); err != nil {
			b.Fatal(err)
		}
		bigStore, bigAcct = s, a
		bigMbox, _ = s.MailboxByID(ctx, a.ID, mb)
	})
	if bigStore == nil {
		b.Fatal("setup failed")
	}
	return bigStore, bigAcct, bigMbox
}

// BenchmarkSelectState100k is what SELECT asks of a 100,000-message
// mailbox (UID runs, first unseen, keywords). SQLite, as built: about 0.5 ms
// from its cache, 50 ms from SQL.
func BenchmarkSelectState100k(b *testing.B) {
	s, a, mb := bigMailbox(b)
	for b.Loop() {
		if st, err := s.SelectState(ctx, a.ID, mb.ID); err != nil || st.Len() != bigN || st.FirstUnseen != 10 || len(st.Keywords) != 1 {
			b.Fatal(err, st.Len(), st.FirstUnseen, st.Keywords)
		}
	}
}

// BenchmarkListFlags100k lists UID and FLAGS of a 100,000-message mailbox
// (FETCH 1:* (UID FLAGS)).
func BenchmarkListFlags100k(b *testing.B) {
	s, a, mb := bigMailbox(b)
	for b.Loop() {
		n := 0
		if err := s.ListMessages(ctx, a.ID, mb.ID, store.ListOptions{}, func(*store.Message) error { n++; return nil }); err != nil || n != bigN {
			b.Fatal(err, n)
		}
	}
}

// BenchmarkListLast50Info100k is the last 50 messages with their Info
// (FETCH of ENVELOPEs when a client opens the mailbox).
func BenchmarkListLast50Info100k(b *testing.B) {
	s, a, mb := bigMailbox(b)
	opt := store.ListOptions{UIDs: store.UIDSet{{Lo: bigN - 49, Hi: bigN}}, WithInfo: true}
	for b.Loop() {
		n := 0
		if err := s.ListMessages(ctx, a.ID, mb.ID, opt, func(m *store.Message) error { n += min(1, len(m.Info)); return nil }); err != nil || n != 50 {
			b.Fatal(err, n)
		}
	}
}

// BenchmarkSearchUnseen100k is SEARCH UNSEEN in a 100,000-message mailbox
// with 10,000 unseen.
func BenchmarkSearchUnseen100k(b *testing.B) {
	s, a, mb := bigMailbox(b)
	for b.Loop() {
		uids, err := s.Search(ctx, a.ID, mb.ID, store.Query{FlagsUnset: store.FlagSeen})
		if err != nil || len(uids) != bigN/10 {
			b.Fatal(err, len(uids))
		}
	}
}
