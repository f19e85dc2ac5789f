package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"math/bits"
	"slices"
	"strings"

	"github.com/youju/youju/internal/store"
)

// The postings of the text index: for one mailbox, field and term, the
// ascending UIDs of the messages whose field has the term, written as
// uvarint deltas (a UID is one or two bytes where the term is common) in
// one blob per run, not a row per message and term. There are no positions:
// the index only narrows, or proves a term that is inside one word.
//
// The indexer writes one run per batch into tier 0 (a batch's postings
// sorted in memory, one INSERT per field and term). When a tier holds
// textFanout runs they are merged into one run of the next tier, so a term
// has at most textFanout runs per tier and the rewriting costs O(log n)
// per posting (a log-structured merge); once the writer is idle, the
// indexer merges a mailbox's runs into one (optimizeText). Runs come from
// batches of ascending UIDs, so runs of a higher tier hold smaller UIDs
// than any of a lower one: a merge concatenates.

const (
	textFanout = 8
	textTiers  = 8 // tier textTiers-1 is the last; it takes every merge
)

// appendUIDs appends the uvarint deltas of ascending uids to b.
func appendUIDs(b []byte, uids []uint32) []byte {
	prev := uint32(0)
	for _, u := range uids {
		b = binary.AppendUvarint(b, uint64(u-prev))
		prev = u
	}
	return b
}

// eachUID calls fn with the UIDs of a run; false when the blob is damaged.
func eachUID(b []byte, fn func(u uint32)) bool {
	u := uint64(0)
	for len(b) > 0 {
		d, n := binary.Uvarint(b)
		if n <= 0 {
			return false
		}
		u += d
		if u > 1<<32-1 {
			return false
		}
		fn(uint32(u))
		b = b[n:]
	}
	return true
}

// uidBits is a set of UIDs below a bound, one bit each: unions and
// intersections of thousands of hits cost microseconds.
type uidBits []uint64

func newUIDBits(below store.UID) uidBits { return make(uidBits, int(below)/64+1) }

func (s uidBits) add(u uint32) {
	if i := int(u / 64); i < len(s) {
		s[i] |= 1 << (u % 64)
	}
}

func (s uidBits) and(o uidBits) {
	for i := range s {
		s[i] &= o[i]
	}
}

func (s uidBits) or(o uidBits) {
	for i := range s {
		s[i] |= o[i]
	}
}

func (s uidBits) andNot(o uidBits) {
	for i := range s {
		s[i] &^= o[i]
	}
}

// set returns the runs of s.
func (s uidBits) set() store.UIDSet {
	out := store.UIDSet{}
	for i, w := range s {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			u := store.UID(i*64 + b)
			if u != 0 {
				out = out.AppendRange(u, u)
			}
			w &= w - 1
		}
	}
	return out
}

// postKey is a field (store.TextField - 1) and a term.
type postKey struct {
	field uint8
	term  string
}

// batchPostings gathers a batch's postings; messages come in ascending UID
// order, so each list is ascending and a repeat is the last element.
type batchPostings map[postKey][]uint32

func (p batchPostings) addDoc(uid store.UID, d *textDoc) {
	for f, text := range d.fields {
		addr := addrField(f)
		textTerms(text, addr, func(term string) {
			k := postKey{uint8(f), term}
			l := p[k]
			if len(l) > 0 && l[len(l)-1] == uint32(uid) {
				return
			}
			p[k] = append(l, uint32(uid))
		})
	}
}

// writeRun writes a batch's postings as one run of tier 0, and the new
// words' trigrams; then merges tiers that are full.
func (t *textDB) writeRun(ctx context.Context, tx *sql.Tx, mbox store.MailboxID, run store.UID, p batchPostings) error {
	if len(p) == 0 {
		return nil
	}
	keys := make([]postKey, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	// In key order: the inserts go to adjacent pages.
	slices.SortFunc(keys, func(a, b postKey) int {
		if a.field != b.field {
			return int(a.field) - int(b.field)
		}
		return strings.Compare(a.term, b.term)
	})
	ins, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO post(mbox, tier, field, term, run, uids) VALUES(?, 0, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	var buf []byte
	for _, k := range keys {
		buf = appendUIDs(buf[:0], p[k])
		if _, err := ins.ExecContext(ctx, mbox, k.field, k.term, run, buf); err != nil {
			return err
		}
	}
	if err := t.addVocab(ctx, tx, keys); err != nil {
		return err
	}
	if err := bumpRuns(ctx, tx, mbox, 0); err != nil {
		return err
	}
	return mergeFull(ctx, tx, mbox)
}

// addVocab adds the words of keys that vgram lacks.
func (t *textDB) addVocab(ctx context.Context, tx *sql.Tx, keys []postKey) error {
	if t.known == nil || len(t.known) > 1<<20 {
		t.known = map[string]struct{}{}
	}
	ins, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO vgram(gram, term) VALUES(?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	for _, k := range keys {
		if _, ok := t.known[k.term]; ok || len(k.term) < 3 || isCJKBigram(k.term) {
			continue
		}
		t.known[strings.Clone(k.term)] = struct{}{}
		first := true
		var werr error
		wordGrams(k.term, func(g string) {
			if werr != nil {
				return
			}
			res, err := ins.ExecContext(ctx, g, k.term)
			if err != nil {
				werr = err
				return
			}
			if first {
				first = false
				if n, _ := res.RowsAffected(); n == 0 {
					werr = errKnown // vgram has it already
				}
			}
		})
		if werr != nil && !errors.Is(werr, errKnown) {
			return werr
		}
	}
	return nil
}

var errKnown = errors.New("known")

// isCJKBigram reports whether a term is two CJK letters (never in vgram:
// CJK is looked up by its bigrams).
func isCJKBigram(s string) bool {
	for _, r := range s {
		return isCJK(r)
	}
	return false
}

func bumpRuns(ctx context.Context, tx *sql.Tx, mbox store.MailboxID, tier int) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO runs(mbox, tier, n) VALUES(?, ?, 1) ON CONFLICT DO UPDATE SET n = n + 1`, mbox, tier)
	return err
}

// mergeFull merges each tier of the mailbox that holds textFanout runs
// into the next, lowest first.
func mergeFull(ctx context.Context, tx *sql.Tx, mbox store.MailboxID) error {
	for tier := 0; tier < textTiers-1; tier++ {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT n FROM runs WHERE mbox=? AND tier=?`, mbox, tier).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) || err == nil && n < textFanout {
			return nil
		}
		if err != nil {
			return err
		}
		if err := mergeTiers(ctx, tx, mbox, tier, tier, tier+1); err != nil {
			return err
		}
	}
	return nil
}

// mergeTiers merges every run of the mailbox's tiers lo..hi into one run
// of tier to.
func mergeTiers(ctx context.Context, tx *sql.Tx, mbox store.MailboxID, lo, hi, to int) error {
	rows, err := tx.QueryContext(ctx, `SELECT field, term, run, uids FROM post WHERE mbox=? AND tier BETWEEN ? AND ? ORDER BY field, term, run`, mbox, lo, hi)
	if err != nil {
		return err
	}
	type merged struct {
		field int
		term  string
		run   int64
		uids  []byte
	}
	var out []merged
	var cur merged
	var list []uint32
	flush := func() {
		if len(list) == 0 {
			return
		}
		// Runs are disjoint and ascending; sorting costs little and
		// keeps a merge right whatever the order of the runs.
		slices.Sort(list)
		list = slices.Compact(list)
		cur.uids = appendUIDs(nil, list)
		out = append(out, cur)
		list = list[:0]
	}
	for rows.Next() {
		var f int
		var term string
		var run int64
		var b []byte
		if err := rows.Scan(&f, &term, &run, &b); err != nil {
			rows.Close()
			return err
		}
		if f != cur.field || term != cur.term || len(list) == 0 {
			flush()
			cur = merged{field: f, term: term, run: run}
		}
		eachUID(b, func(u uint32) { list = append(list, u) })
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	flush()
	if _, err := tx.ExecContext(ctx, `DELETE FROM post WHERE mbox=? AND tier BETWEEN ? AND ?`, mbox, lo, hi); err != nil {
		return err
	}
	ins, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO post(mbox, tier, field, term, run, uids) VALUES(?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	for _, m := range out {
		if _, err := ins.ExecContext(ctx, mbox, to, m.field, m.term, m.run, m.uids); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE mbox=? AND tier BETWEEN ? AND ?`, mbox, lo, hi); err != nil {
		return err
	}
	if len(out) == 0 {
		return nil
	}
	return bumpRuns(ctx, tx, mbox, to)
}

// forgetMailbox drops everything text.db holds of a mailbox.
func forgetMailbox(ctx context.Context, tx *sql.Tx, id int64) error {
	for _, q := range []string{
		`DELETE FROM post WHERE mbox=?`, `DELETE FROM runs WHERE mbox=?`,
		`DELETE FROM big WHERE mbox=?`, `DELETE FROM mbox WHERE id=?`,
	} {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			return err
		}
	}
	return nil
}
