package sqlite

import (
	"strings"
	"testing"
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
		rows, err := s.rdb.Query(`EXPLAIN QUERY PLAN `+c.q, 1, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			rows.Scan(&id, &parent, &notused, &detail)
			plan = append(plan, detail)
		}
		rows.Close()
		if p := strings.Join(plan, "; "); !strings.Contains(p, c.want) {
			t.Errorf("%s\nplan: %s\nwant: %s", c.q, p, c.want)
		}
	}
}
