package sqlite

import (
	"strings"
	"testing"

	"github.com/youju/youju/internal/store"
)

// TestQueryPlansUseIndexes checks that the hot reads are index scans of
// one mailbox, not table scans (architecture: 100k-message mailboxes).
func TestQueryPlansUseIndexes(t *testing.T) {
	s := newTestStore(t)
	cases := []struct{ q, want string }{
		{`SELECT ` + msgCols + ` FROM messages m WHERE ` + mboxScope + ` AND m.uid > ? ORDER BY m.uid LIMIT 10`, "USING PRIMARY KEY (mailbox_id=? AND uid>?)"},
		{`SELECT m.uid FROM messages m INDEXED BY messages_unseen WHERE ` + mboxScope + ` AND m.uid > ? AND m.sysflags & 1 = 0 ORDER BY m.uid LIMIT 10`, "messages_unseen (mailbox_id=? AND uid>?)"},
		{`SELECT ` + msgCols + ` FROM messages m WHERE ` + mboxScope + ` AND m.modseq > ? ORDER BY m.uid`, "USING INDEX messages_modseq (mailbox_id=? AND modseq>?)"},
		{`SELECT m.uid FROM tombstones m WHERE ` + mboxScope + ` AND m.modseq > ? ORDER BY m.uid`, "tombstones_modseq (mailbox_id=? AND modseq>?)"},
		{`DELETE FROM blobs WHERE refcount <= 0 RETURNING segment`, "USING INDEX blobs_dead"},
	}
	for _, c := range cases {
		if p := queryPlan(t, s.rdb, c.q, 1, 1, 0); !strings.Contains(p, c.want) {
			t.Errorf("%s\nplan: %s\nwant: %s", c.q, p, c.want)
		}
	}
}

// TestAccountsPageQueryPlan checks that a page of accounts is a seek on
// the address index from the cursor, not a scan and sort of every
// account (an organisation may have 40,000).
func TestAccountsPageQueryPlan(t *testing.T) {
	s := newTestStore(t)
	p := queryPlan(t, s.rdb, accountsPageQuery, "a", "", "", 10)
	t.Log(p)
	if !strings.Contains(p, "SEARCH accounts USING INDEX") || !strings.Contains(p, "(address>?)") || strings.Contains(p, "TEMP B-TREE") {
		t.Errorf("plan: %s", p)
	}
}

// TestSearchQueryPlanSeeksEachChunk checks that a search with a UID set
// seeks on the chunk's own bounds, never on the set's BETWEEN: with both
// in the query SQLite may seek on the set's lower bound and re-read every
// earlier row for each chunk (quadratic on a big mailbox). The query plan
// text does not say which bound a seek uses, so the set's terms are
// checked alone: they must not be usable by the index at all.
func TestSearchQueryPlanSeeksEachChunk(t *testing.T) {
	s := newTestStore(t)
	plan := func(q string, args ...any) string {
		return queryPlan(t, s.rdb, q, args...)
	}
	for _, set := range []store.UIDSet{{{Lo: 5, Hi: 90000}}, {{Lo: 1, Hi: 10}, {Lo: 20, Hi: 30}}} {
		where, args, _ := searchWhere(store.Query{UIDs: set})
		alone := `SELECT m.uid FROM messages m WHERE ` + mboxScope + where + ` ORDER BY m.uid`
		if p := plan(alone, append([]any{1, 1}, args...)...); strings.Contains(p, "uid>") || strings.Contains(p, "uid=") {
			t.Errorf("set %v: its terms are usable for the seek: %q", set, p)
		}
		after, last := searchBounds(set)
		q := searchQuery(msgCols, " FROM messages m", "", where)
		if p := plan(q, append([]any{1, 1, after, last}, args...)...); !strings.Contains(p, "(mailbox_id=? AND uid>? AND uid<?)") {
			t.Errorf("set %v: plan %q does not seek on the chunk bounds", set, p)
		}
	}
	if a, l := searchBounds(store.UIDSet{{Lo: 7, Hi: 9}, {Lo: 12, Hi: 40}}); a != 6 || l != 40 {
		t.Errorf("bounds = %d, %d", a, l)
	}
	if a, l := searchBounds(nil); a != 0 || l != ^store.UID(0) {
		t.Errorf("bounds of nil = %d, %d", a, l)
	}
}

// TestRetainedQueryPlans: listing retained messages seeks on the range of
// the chunk, and the purger finds expired rows by their index.
func TestRetainedQueryPlans(t *testing.T) {
	s := newTestStore(t)
	for _, c := range []struct {
		q    string
		args []any
		want string
	}{
		{retainedQueries[0], []any{1, 1, 1, 10}, "USING PRIMARY KEY (mailbox_id=? AND uid>? AND uid<?)"},
		{retainedQueries[1], []any{1, 1, 1, 10}, "USING PRIMARY KEY (mailbox_id=? AND uid>? AND uid<?)"},
		{`DELETE FROM retained WHERE expunged < ?`, []any{1}, "USING INDEX retained_expunged (expunged<?)"},
	} {
		if p := queryPlan(t, s.rdb, c.q, c.args...); !strings.Contains(p, c.want) {
			t.Errorf("%s\nplan: %s\nwant: %s", c.q, p, c.want)
		}
	}
}
