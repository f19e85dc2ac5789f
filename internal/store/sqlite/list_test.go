package sqlite

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// TestListWithInfoSets lists a mailbox larger than a chunk with Info for
// dense, sparse and empty UID sets and CHANGEDSINCE, and checks every
// UID once, in order, with its own Info, against the set; with the flag
// cache (Infos from SQL, the rest from the cache) and without.
func TestListWithInfoSets(t *testing.T) {
	t.Run("cache", func(t *testing.T) { testListWithInfoSets(t, newTestStore(t)) })
	t.Run("nocache", func(t *testing.T) {
		s, err := Open(context.Background(), t.TempDir(), Options{CacheMessages: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		testListWithInfoSets(t, s)
	})
}

func testListWithInfoSets(t *testing.T, s *Store) {
	a := newAccount(t, s, "list@example.org")
	mb := inbox(t, s, a.ID)
	const n = 2*chunk + 300
	datas := make([][]byte, n)
	for i := range datas {
		datas[i] = testMessage(i)
	}
	bulkDeliver(t, s, a.ID, mb.ID, datas, func(int) store.Flags { return store.Flags{} })
	// testMessage(i) is the message of UID i+1.
	subjects := make([]string, n+1)
	for i := range datas {
		subjects[i+1] = message.Parse(message.NormalizeCRLF(datas[i])).Envelope.Subject
	}
	ctx := context.Background()
	// Change a few messages so that CHANGEDSINCE selects them.
	changed := store.UIDSet{{Lo: 7, Hi: 7}, {Lo: chunk + 1, Hi: chunk + 2}, {Lo: n, Hi: n}}
	res, err := s.StoreFlags(ctx, a.ID, mb.ID, changed, store.FlagAdd, store.Flags{System: store.FlagFlagged}, 0)
	if err != nil || len(res.Changed) != 4 {
		t.Fatal(err, res)
	}
	sets := []store.UIDSet{
		nil,
		{},
		{{Lo: 1, Hi: n}},
		{{Lo: 2, Hi: 3}, {Lo: chunk - 1, Hi: chunk + 5}, {Lo: n - 1, Hi: 1 << 30}},
		{{Lo: 5, Hi: 5}, {Lo: 4 * chunk, Hi: 5 * chunk}},
		{{Lo: 1, Hi: 1}, {Lo: n, Hi: n}},
	}
	for _, set := range sets {
		for _, since := range []store.ModSeq{0, res.Changed[0].ModSeq - 1} {
			var want []store.UID
			for u := store.UID(1); u <= n; u++ {
				inSet := set == nil || setContains(set, u)
				if inSet && (since == 0 || setContains(changed, u)) {
					want = append(want, u)
				}
			}
			var got []store.UID
			err := s.ListMessages(ctx, a.ID, mb.ID, store.ListOptions{UIDs: set, WithInfo: true, ChangedSince: since}, func(m *store.Message) error {
				info, err := message.UnmarshalInfo(m.Info)
				if err != nil {
					return err
				}
				if info.Envelope.Subject != subjects[m.UID] {
					t.Errorf("UID %d: subject %q, want %q", m.UID, info.Envelope.Subject, subjects[m.UID])
				}
				got = append(got, m.UID)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) > 0 && since > 0 {
				// The flags come along: the changed ones are \Flagged.
				var flagged int
				s.ListMessages(ctx, a.ID, mb.ID, store.ListOptions{UIDs: set, WithInfo: true, ChangedSince: since}, func(m *store.Message) error {
					if m.Flags.System&store.FlagFlagged != 0 && m.ModSeq > since {
						flagged++
					}
					return nil
				})
				if flagged != len(got) {
					t.Errorf("set %v since %d: %d of %d flagged with a new MODSEQ", set, since, flagged, len(got))
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("set %v since %d: got %d UIDs %v..., want %d", set, since, len(got), head(got), len(want))
			}
		}
	}
}

func head(u []store.UID) []store.UID { return u[:min(len(u), 8)] }

// TestListQueryPlans checks that every chunk of a listing seeks to its
// first UID (a range on the primary key bounded on both sides) and reads
// the Info by blob id.
func TestListQueryPlans(t *testing.T) {
	s := newTestStore(t)
	for _, row := range append(listQueries[:], [2]string{infoQuery, infoQuery}) {
		for _, q := range row {
			p := queryPlan(t, s.rdb, q, 1, 1, 1, 2, 0)
			if !strings.Contains(p, "SEARCH m USING PRIMARY KEY (mailbox_id=? AND uid>? AND uid<?)") || strings.Contains(p, "TEMP B-TREE") {
				t.Errorf("%s\nplan: %s", q, p)
			}
			if strings.Contains(q, "blobs") && !strings.Contains(p, "SEARCH b USING INTEGER PRIMARY KEY") {
				t.Errorf("%s\nplan: %s", q, p)
			}
		}
	}
}
