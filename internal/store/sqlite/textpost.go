package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/textterms"
)

// The postings of the text index: for one mailbox, field and term, the
// ascending UIDs of the messages whose field has the term, written as
// uvarint deltas (a UID is one or two bytes where the term is common), with
// no positions: the index only narrows, or proves a term that is inside
// one word. Most terms are rare (half the CJK bigrams of a mailbox occur
// once), so a row per term would cost more than its postings: the terms of
// a field are hashed into textBuckets buckets, and each bucket of a run is
// one row (blk) of entries (term, postings); a term whose postings pass
// textBigList bytes has its own row (bigpost) instead, so that looking up
// a rare word does not read a common one's postings.
//
// The indexer writes one run per batch into tier 0 (a batch's postings
// gathered in memory). When a tier holds textFanout runs they are merged
// into one run of the next tier, so a bucket or term has at most
// textFanout rows per tier and the rewriting costs O(log n) per posting (a
// log-structured merge); once the writer is idle, the indexer merges a
// mailbox's runs into one (optimizeText).

const (
	textFanout  = 8
	textTiers   = 8 // tier textTiers-1 is the last; it takes every merge
	textBuckets = 4096
	textBigList = 48
)

// termBucket is the bucket of a term: of a bigram of the main CJK block,
// its code modulo textBuckets (so that an entry needs only the quotient);
// of any other term its FNV-1a hash.
func termBucket(term string) int {
	if c, ok := cjkCode(term); ok {
		return int(c % textBuckets)
	}
	h := uint32(2166136261)
	for i := 0; i < len(term); i++ {
		h ^= uint32(term[i])
		h *= 16777619
	}
	return int(h % textBuckets)
}

// The CJK Unified Ideographs block, where nearly every Chinese bigram
// lies: such a bigram is a number below cjkSpan², 29 bits.
const (
	cjkFirst = 0x4E00
	cjkSpan  = 0x5200
)

// cjkCode is the number of a bigram of the main CJK block.
func cjkCode(term string) (uint32, bool) {
	if len(term) != 6 {
		return 0, false
	}
	r1, n1 := utf8.DecodeRuneInString(term)
	r2, n2 := utf8.DecodeRuneInString(term[n1:])
	if n1 != 3 || n2 != 3 || r1 < cjkFirst || r1 >= cjkFirst+cjkSpan || r2 < cjkFirst || r2 >= cjkFirst+cjkSpan {
		return 0, false
	}
	return uint32(r1-cjkFirst)*cjkSpan + uint32(r2-cjkFirst), true
}

// appendEntry appends a block entry: a header (the postings' length, big,
// cjk), the term (a CJK bigram as the 3-byte quotient of its code by
// textBuckets, the bucket being the rest; else its length and bytes), then
// its postings, unless they are in bigpost. A rare CJK bigram, the most
// common entry, costs 1+3 bytes and its postings.
func appendEntry(b []byte, term string, list []byte) []byte {
	var h uint64
	big := len(list) > textBigList
	if big {
		h = 2
	} else {
		h = uint64(len(list)) << 2
	}
	if c, ok := cjkCode(term); ok {
		q := c / textBuckets
		b = binary.AppendUvarint(b, h|1)
		b = append(b, byte(q), byte(q>>8), byte(q>>16))
	} else {
		b = binary.AppendUvarint(b, h)
		b = binary.AppendUvarint(b, uint64(len(term)))
		b = append(b, term...)
	}
	if big {
		return b
	}
	return append(b, list...)
}

// eachEntry calls fn with each entry of a block of bucket bk (list nil: in
// bigpost); false when the block is damaged. The term fn gets is valid
// during the call only.
func eachEntry(b []byte, bk int, fn func(term string, list []byte, big bool)) bool {
	var cjk [6]byte
	for len(b) > 0 {
		h, k := binary.Uvarint(b)
		if k <= 0 {
			return false
		}
		b = b[k:]
		var term string
		if h&1 != 0 {
			if len(b) < 3 {
				return false
			}
			c := (uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16)*textBuckets + uint32(bk)
			b = b[3:]
			if c >= cjkSpan*cjkSpan {
				return false
			}
			utf8.EncodeRune(cjk[:3], rune(cjkFirst+c/cjkSpan))
			utf8.EncodeRune(cjk[3:], rune(cjkFirst+c%cjkSpan))
			term = unsafeString(cjk[:])
		} else {
			n, k := binary.Uvarint(b)
			if k <= 0 || uint64(len(b)-k) < n {
				return false
			}
			term = unsafeString(b[k : k+int(n)])
			b = b[k+int(n):]
		}
		if h&2 != 0 {
			fn(term, nil, true)
			continue
		}
		n := h >> 2
		if uint64(len(b)) < n {
			return false
		}
		fn(term, b[:n], false)
		b = b[n:]
	}
	return true
}

func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
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
	for f, text := range d.Fields {
		addr := textterms.AddrField(f)
		textterms.Each(text, addr, func(term string) {
			k := postKey{uint8(f), term}
			l := p[k]
			if len(l) > 0 && l[len(l)-1] == uint32(uid) {
				return
			}
			p[k] = append(l, uint32(uid))
		})
	}
}

// writeRun writes a batch's postings as one run of tier 0 and its new
// words; then merges tiers that are full.
func (t *textDB) writeRun(ctx context.Context, tx *sql.Tx, mbox store.MailboxID, p batchPostings) error {
	if len(p) == 0 {
		return nil
	}
	run, err := nextRun(ctx, tx, mbox)
	if err != nil {
		return err
	}
	w, err := newRunWriter(ctx, tx, mbox, 0, run)
	if err != nil {
		return err
	}
	defer w.close()
	var words []string
	byField := [7]map[int]map[string][]uint32{}
	for k, l := range p {
		if byField[k.field] == nil {
			byField[k.field] = map[int]map[string][]uint32{}
		}
		b := termBucket(k.term)
		if byField[k.field][b] == nil {
			byField[k.field][b] = map[string][]uint32{}
		}
		byField[k.field][b][k.term] = l
		if !isCJKBigram(k.term) {
			words = append(words, k.term)
		}
	}
	for f, buckets := range byField {
		bs := make([]int, 0, len(buckets))
		for b := range buckets {
			bs = append(bs, b)
		}
		slices.Sort(bs)
		for _, b := range bs {
			if err := w.bucket(f, b, buckets[b]); err != nil {
				return err
			}
		}
	}
	slices.Sort(words)
	if add := t.vocab.AddNew(words); add != "" {
		if _, err := tx.ExecContext(ctx, `INSERT INTO vocab(words) VALUES(?)`, []byte(add)); err != nil {
			return err
		}
	}
	if err := bumpRuns(ctx, tx, mbox, 0); err != nil {
		return err
	}
	return mergeFull(ctx, tx, mbox)
}

// nextRun takes the mailbox's next run number.
func nextRun(ctx context.Context, tx *sql.Tx, mbox store.MailboxID) (int64, error) {
	var run int64
	err := tx.QueryRowContext(ctx, `INSERT INTO runs(mbox, tier, n) VALUES(?, -1, 1) ON CONFLICT DO UPDATE SET n = n + 1 RETURNING n`, mbox).Scan(&run)
	return run, err
}

// runWriter writes the rows of one run.
type runWriter struct {
	ctx       context.Context
	mbox      store.MailboxID
	tier      int
	run       int64
	blk, bigp *sql.Stmt
	buf, lb   []byte
	terms     []string
}

func newRunWriter(ctx context.Context, tx *sql.Tx, mbox store.MailboxID, tier int, run int64) (*runWriter, error) {
	w := &runWriter{ctx: ctx, mbox: mbox, tier: tier, run: run}
	var err error
	if w.blk, err = tx.PrepareContext(ctx, `INSERT OR REPLACE INTO blk(mbox, field, tier, b, run, data) VALUES(?, ?, ?, ?, ?, ?)`); err != nil {
		return nil, err
	}
	if w.bigp, err = tx.PrepareContext(ctx, `INSERT OR REPLACE INTO bigpost(mbox, field, tier, term, run, uids) VALUES(?, ?, ?, ?, ?, ?)`); err != nil {
		w.blk.Close()
		return nil, err
	}
	return w, nil
}

func (w *runWriter) close() {
	w.blk.Close()
	w.bigp.Close()
}

// bucket writes one bucket of a field: its terms' postings (ascending,
// no repeats).
func (w *runWriter) bucket(field, b int, terms map[string][]uint32) error {
	w.terms = w.terms[:0]
	for term := range terms {
		w.terms = append(w.terms, term)
	}
	slices.Sort(w.terms)
	w.buf = w.buf[:0]
	for _, term := range w.terms {
		w.lb = textterms.AppendUIDs(w.lb[:0], terms[term])
		w.buf = appendEntry(w.buf, term, w.lb)
		if len(w.lb) > textBigList {
			if _, err := w.bigp.ExecContext(w.ctx, w.mbox, field, w.tier, term, w.run, w.lb); err != nil {
				return err
			}
		}
	}
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.blk.ExecContext(w.ctx, w.mbox, field, w.tier, b, w.run, w.buf)
	return err
}

// isCJKBigram reports whether a term is two CJK letters (not in the
// vocabulary: CJK is looked up by its bigrams).
func isCJKBigram(s string) bool {
	for _, r := range s {
		return textterms.IsCJK(r)
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
// of tier to, field by field, bucket by bucket.
func mergeTiers(ctx context.Context, tx *sql.Tx, mbox store.MailboxID, lo, hi, to int) error {
	run, err := nextRun(ctx, tx, mbox)
	if err != nil {
		return err
	}
	w, err := newRunWriter(ctx, tx, mbox, to, run)
	if err != nil {
		return err
	}
	defer w.close()
	wrote := false
	for f := range 7 {
		n, err := mergeField(ctx, tx, w, f, lo, hi)
		if err != nil {
			return err
		}
		wrote = wrote || n > 0
		for _, q := range []string{`DELETE FROM blk WHERE mbox=? AND field=? AND tier BETWEEN ? AND ? AND run <> ?`,
			`DELETE FROM bigpost WHERE mbox=? AND field=? AND tier BETWEEN ? AND ? AND run <> ?`} {
			if _, err := tx.ExecContext(ctx, q, mbox, f, lo, hi, run); err != nil {
				return err
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE mbox=? AND tier BETWEEN ? AND ?`, mbox, lo, hi); err != nil {
		return err
	}
	if !wrote {
		return nil
	}
	return bumpRuns(ctx, tx, mbox, to)
}

// mergeField merges one field's runs of tiers lo..hi into w; it returns
// how many buckets it wrote.
func mergeField(ctx context.Context, tx *sql.Tx, w *runWriter, f, lo, hi int) (int, error) {
	// The big lists first, by bucket (fewer terms, most postings).
	bigs := map[int]map[string][]uint32{}
	rows, err := tx.QueryContext(ctx, `SELECT term, uids FROM bigpost WHERE mbox=? AND field=? AND tier BETWEEN ? AND ?`, w.mbox, f, lo, hi)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var term string
		var b sql.RawBytes
		if err := rows.Scan(&term, &b); err != nil {
			rows.Close()
			return 0, err
		}
		bk := termBucket(term)
		if bigs[bk] == nil {
			bigs[bk] = map[string][]uint32{}
		}
		m := bigs[bk]
		l := m[term]
		textterms.EachUID(b, func(u uint32) { l = append(l, u) })
		m[term] = l
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	written := 0
	cur, terms := -1, map[string][]uint32{}
	flush := func() error {
		if cur < 0 {
			return nil
		}
		for term, l := range bigs[cur] {
			terms[term] = append(terms[term], l...)
		}
		delete(bigs, cur)
		for term, l := range terms {
			// Runs are disjoint; sorting keeps a merge right whatever
			// order they come in.
			slices.Sort(l)
			terms[term] = slices.Compact(l)
		}
		written++
		err := w.bucket(f, cur, terms)
		clear(terms)
		return err
	}
	// Several tiers: ORDER BY b sorts them all first (a sorter), so
	// rows written to tier to are never read back.
	rows, err = tx.QueryContext(ctx, `SELECT b, data FROM blk WHERE mbox=? AND field=? AND tier BETWEEN ? AND ? ORDER BY b`, w.mbox, f, lo, hi)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var bk int
		var data sql.RawBytes
		if err := rows.Scan(&bk, &data); err != nil {
			rows.Close()
			return 0, err
		}
		if bk != cur {
			if err := flush(); err != nil {
				rows.Close()
				return 0, err
			}
			cur = bk
		}
		ok := eachEntry(data, bk, func(term string, list []byte, big bool) {
			if big {
				return // read above
			}
			l := terms[term]
			textterms.EachUID(list, func(u uint32) { l = append(l, u) })
			// A clone even when the key is there: assigning to a
			// string key stores the new key, and term is only valid
			// during the call.
			terms[strings.Clone(term)] = l
		})
		if !ok {
			rows.Close()
			return 0, errors.New("sqlite: text index: damaged block")
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if err := flush(); err != nil {
		return 0, err
	}
	for bk := range bigs { // buckets with only big lists
		cur = bk
		if err := flush(); err != nil {
			return 0, err
		}
	}
	return written, nil
}

// forgetMailbox drops everything text.db holds of a mailbox.
func forgetMailbox(ctx context.Context, tx *sql.Tx, id int64) error {
	for _, q := range []string{
		`DELETE FROM blk WHERE mbox=?`, `DELETE FROM bigpost WHERE mbox=?`, `DELETE FROM runs WHERE mbox=?`,
		`DELETE FROM big WHERE mbox=?`, `DELETE FROM mbox WHERE id=?`,
	} {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			return err
		}
	}
	return nil
}
