package postgres

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/textterms"
)

// The indexer feeds the text index after delivery has been acknowledged:
// delivery writes nothing for it, so the index never slows the ack. Its
// work queue is in the database: a mailbox needs indexing when its UIDNEXT
// is above its mark (UIDs only grow, RFC 9051 §2.3.1.1) or its UIDVALIDITY
// is not the mark's. Every node's indexer takes such a mailbox by locking
// its text_marks row (FOR UPDATE SKIP LOCKED: nodes never wait for one
// another, nor index one batch twice), indexes the next batch of messages
// above the mark and moves the mark in the same transaction. After a crash
// or a restart, whichever node comes first goes on from the marks.
//
// Which mailboxes to look at comes from the change events every node
// already gets (this node's after commit, the others' by LISTEN): an idle
// indexer asks the database nothing. All mailboxes are looked at when the
// store starts (mail delivered while no node ran), when the listen
// connection was lost (events may be lost with it), after a rebuild, and
// every textRescan (a safety net: SEARCH stays exact whatever the lag, as
// messages above the mark are candidates).

// textBatch bounds the messages of one indexer transaction (a variable:
// tests make many small batches).
var textBatch = 256

const (
	// textPoll is how often the indexer takes the mailboxes the events
	// named; mail gathers meanwhile, so that a batch writes a term's row
	// once for many messages (Options.textPoll in tests).
	textPoll = time.Second
	// textRescan is how often the indexer looks at every mailbox
	// (Options.textRescan in tests).
	textRescan = 5 * time.Minute
)

// textVocabLock is the advisory lock that orders the vocabulary rows of
// the nodes by commit (syncVocab).
var textVocabLock = func() int64 {
	h := fnv.New64a()
	h.Write([]byte("youju-text-vocab"))
	return int64(h.Sum64())
}()

// textWork is what the indexer is to look at next: the mailboxes that
// events named, or all.
type textWork struct {
	mu    sync.Mutex
	boxes map[store.MailboxID]struct{}
	all   bool
}

// note records a mailbox whose messages changed.
func (w *textWork) note(e store.Event) {
	if e.Mailbox == 0 {
		return // the list of mailboxes: a new one has no message yet
	}
	w.mu.Lock()
	if w.boxes == nil {
		w.boxes = map[store.MailboxID]struct{}{}
	}
	w.boxes[e.Mailbox] = struct{}{}
	w.mu.Unlock()
}

// setAll makes the next look one at every mailbox.
func (w *textWork) setAll() {
	w.mu.Lock()
	w.all = true
	w.mu.Unlock()
}

// take returns and forgets what is to be looked at: all, or the
// mailboxes (none: nothing to do).
func (w *textWork) take() (boxes []store.MailboxID, all bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	all, w.all = w.all, false
	if !all {
		for id := range w.boxes {
			boxes = append(boxes, id)
		}
	}
	clear(w.boxes)
	return boxes, all
}

// noteText tells this node's indexer, if it runs, of a change event.
func (s *Store) noteText(e store.Event) {
	if !s.opts.NoTextIndexer {
		s.textWork.note(e)
	}
}

// kickIndexer wakes the indexer to look at every mailbox (after a
// rebuild).
func (s *Store) kickIndexer() {
	s.textWork.setAll()
	select {
	case s.textKick <- struct{}{}:
	default:
	}
}

// textIndexer runs until the store closes.
func (s *Store) textIndexer() {
	defer s.wg.Done()
	tick := time.NewTicker(cmp.Or(s.opts.textPoll, textPoll))
	rescan := cmp.Or(s.opts.textRescan, textRescan)
	defer tick.Stop()
	s.textWork.setAll() // mail delivered while no node was running
	lastAll := time.Now()
	for {
		select {
		case <-s.closing:
			return
		case <-tick.C:
		case <-s.textKick:
		}
		if time.Since(lastAll) >= rescan {
			s.textWork.setAll()
		}
		boxes, all := s.textWork.take()
		if all {
			lastAll = time.Now()
		} else if len(boxes) == 0 {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-s.closing:
				cancel()
			case <-ctx.Done():
			}
		}()
		if _, err := s.indexText(ctx, boxes, all); err != nil && ctx.Err() == nil {
			s.log.Warn("text index", "err", err)
			if all {
				s.textWork.setAll() // try again at the next tick
			} else {
				for _, mb := range boxes {
					s.textWork.note(store.Event{Mailbox: mb})
				}
			}
		}
		cancel()
	}
}

// IndexText indexes every message not indexed yet that no other node is
// indexing, and returns how many it indexed. The indexer calls it; tests
// and benchmarks call it to catch up at once.
func (s *Store) IndexText(ctx context.Context) (int, error) {
	return s.indexText(ctx, nil, true)
}

// indexText indexes the messages not indexed yet of boxes, or of every
// mailbox if all.
func (s *Store) indexText(ctx context.Context, boxes []store.MailboxID, all bool) (int, error) {
	total := 0
	for {
		todo, err := s.textTodo(ctx, boxes, all)
		if err != nil || len(todo) == 0 {
			return total, err
		}
		did := 0
		for _, mb := range todo {
			n, err := s.indexBatch(ctx, mb)
			if err != nil {
				return total, err
			}
			did += n
		}
		total += did
		if did == 0 {
			return total, nil // the rest is another node's
		}
	}
}

// textTodo lists mailboxes (of boxes, or any if all) with messages above
// their mark, and gives those without a mark one (0: nothing indexed).
func (s *Store) textTodo(ctx context.Context, boxes []store.MailboxID, all bool) ([]store.MailboxID, error) {
	which, a := `m.id = ANY($1)`, []any{boxes}
	if all {
		which, a = `true`, nil
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO text_marks(mailbox_id, uidvalidity, mark)
		SELECT id, uidvalidity, 0 FROM mailboxes m WHERE `+which+` AND uidnext > 1
			AND NOT EXISTS (SELECT 1 FROM text_marks t WHERE t.mailbox_id = m.id)
		ON CONFLICT DO NOTHING`, a...); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT m.id FROM mailboxes m JOIN text_marks t ON t.mailbox_id = m.id
		WHERE `+which+` AND (t.uidvalidity <> m.uidvalidity OR t.mark < m.uidnext - 1 OR m.messages*4 < t.docs*3) LIMIT 100`, a...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[store.MailboxID])
}

// textMsg is a message to index.
type textMsg struct {
	uid    int64
	blobID int64
	size   int64
	ext    *string
	info   []byte
	data   []byte // the bytes, when read with the row
}

// indexBatch indexes the next batch of a mailbox, if no other node holds
// it; it returns how many messages it indexed.
func (s *Store) indexBatch(ctx context.Context, mbox store.MailboxID) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var v, mark, docs int64
		err := tx.QueryRow(ctx, `SELECT uidvalidity, mark, docs FROM text_marks WHERE mailbox_id=$1 FOR UPDATE SKIP LOCKED`, mbox).Scan(&v, &mark, &docs)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // another node's, or gone
		}
		if err != nil {
			return err
		}
		var uidValidity, uidNext, messages int64
		if err := tx.QueryRow(ctx, `SELECT uidvalidity, uidnext, messages FROM mailboxes WHERE id=$1`, mbox).Scan(&uidValidity, &uidNext, &messages); err != nil {
			return err
		}
		// A quarter of the messages indexed are gone at least when
		// fewer than three quarters are left in the whole mailbox.
		stale := messages*4 < docs*3
		if v != uidValidity || stale {
			if err := forgetText(ctx, tx, mbox); err != nil {
				return err
			}
			mark, docs = 0, 0
		}
		// A message of one chunk (most) comes with its bytes: no round
		// trip per message.
		rows, err := tx.Query(ctx, `SELECT m.uid, b.id, b.size, b.ext, b.info,
				CASE WHEN b.ext IS NULL AND b.size <= $4 THEN (SELECT data FROM blob_chunks c WHERE c.blob_id = b.id AND c.n = 0) END
			FROM messages m JOIN blobs b ON b.id = m.blob_id
			WHERE m.mailbox_id=$1 AND m.uid > $2 ORDER BY m.uid LIMIT $3`, mbox, mark, textBatch, chunkSize)
		if err != nil {
			return err
		}
		msgs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (m textMsg, err error) {
			err = r.Scan(&m.uid, &m.blobID, &m.size, &m.ext, &m.info, &m.data)
			return m, err
		})
		if err != nil {
			return err
		}
		// Every UID below uidNext was committed when it was read (UIDs
		// are given under the mailbox row's lock, in the transaction
		// that inserts the message), so the messages read are all
		// there are up to it, or up to the last one of a full batch.
		newMark := max(mark, uidNext-1)
		if len(msgs) == textBatch {
			newMark = msgs[len(msgs)-1].uid
		}
		post, big, err := s.textPostings(ctx, msgs)
		if err != nil {
			return err
		}
		if err := writePostings(ctx, tx, mbox, post); err != nil {
			return err
		}
		// Spans the mark passed: no batch will add to them again.
		if err := compactSpans(ctx, tx, mbox, (mark+1)>>spanShift, (newMark+1)>>spanShift); err != nil {
			return err
		}
		if len(big) > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO text_big(mailbox_id, uid) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING`, mbox, big); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE text_marks SET uidvalidity=$2, mark=$3, docs=$4 WHERE mailbox_id=$1`, mbox, uidValidity, newMark, docs+int64(len(msgs))); err != nil {
			return err
		}
		n = len(msgs)
		if n == 0 && newMark == mark && v == uidValidity && !stale {
			return nil
		}
		n = max(n, 1) // progress: the mark moved
		return s.writeVocab(ctx, tx, post)
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		// Load what was committed, this node's words included (never
		// before the commit: a batch rolled back must not leave words
		// in memory that no row holds, or other nodes would lack them).
		err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error { return s.syncVocab(ctx, tx) })
	}
	return n, err
}

// postKey is a postings row of a batch.
type postKey struct {
	field int16
	term  string
	span  int64
}

// textPostings reads and cuts the messages of a batch: the UIDs of each
// term by field and span (ascending: msgs are), and the messages with
// text beyond the bounds. A message whose text cannot be read is big: the
// scan decides.
func (s *Store) textPostings(ctx context.Context, msgs []textMsg) (map[postKey][]uint32, []int64, error) {
	post := map[postKey][]uint32{}
	var big []int64
	for _, m := range msgs {
		d, err := s.messageText(ctx, &m)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			s.log.Warn("text index: message not indexed, searches read it", "uid", m.uid, "err", err)
			d.Big = true
		}
		if d.Big {
			big = append(big, m.uid)
		}
		span := m.uid >> spanShift
		for f, text := range d.Fields {
			textterms.Each(text, textterms.AddrField(f), func(term string) {
				k := postKey{int16(f), term, span}
				l := post[k]
				if len(l) == 0 || l[len(l)-1] != uint32(m.uid) {
					post[k] = append(l, uint32(m.uid))
				}
			})
		}
	}
	return post, big, nil
}

// messageText reads what the index covers of one message.
func (s *Store) messageText(ctx context.Context, m *textMsg) (textterms.Doc, error) {
	info, err := message.UnmarshalInfo(m.info)
	if err != nil {
		return textterms.Doc{}, err
	}
	if m.data != nil && int64(len(m.data)) == m.size {
		return textterms.Extract(bytes.NewReader(m.data), info)
	}
	var r store.MessageReader
	if m.ext != nil {
		if r, err = s.openExt(ctx, *m.ext, m.size); err != nil {
			return textterms.Doc{}, err
		}
	} else {
		r = s.openBlob(m.blobID, m.size)
	}
	defer r.Close()
	return textterms.Extract(r, info)
}

// writePostings appends the batch's entries to the rows of their
// buckets, one statement for the batch.
func writePostings(ctx context.Context, tx pgx.Tx, mbox store.MailboxID, post map[postKey][]uint32) error {
	if len(post) == 0 {
		return nil
	}
	type rowKey struct {
		field, bucket int16
		span          int64
	}
	rowsOf := map[rowKey][]byte{}
	keys := make([]postKey, 0, len(post))
	for k := range post {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b postKey) int { return strings.Compare(a.term, b.term) }) // rows the same on every run
	for _, k := range keys {
		rk := rowKey{k.field, termBucket(int(k.field), k.term), k.span}
		rowsOf[rk] = appendEntry(rowsOf[rk], k.term, textterms.AppendUIDs(nil, post[k]))
	}
	fields := make([]int16, 0, len(rowsOf))
	buckets := make([]int16, 0, len(rowsOf))
	spans := make([]int64, 0, len(rowsOf))
	entries := make([][]byte, 0, len(rowsOf))
	for k, e := range rowsOf {
		fields = append(fields, k.field)
		buckets = append(buckets, k.bucket)
		spans = append(spans, k.span)
		entries = append(entries, e)
	}
	_, err := tx.Exec(ctx, `INSERT INTO text_postings(mailbox_id, field, bucket, span, entries)
		SELECT $1, * FROM unnest($2::smallint[], $3::smallint[], $4::bigint[], $5::bytea[])
		ON CONFLICT (mailbox_id, field, bucket, span) DO UPDATE SET entries = text_postings.entries || excluded.entries`,
		mbox, fields, buckets, spans, entries)
	return err
}

// compactSpans rewrites the rows of spans [from, to) with one entry per
// term: a term is in an entry of every batch that had it, its bytes
// repeated each time.
func compactSpans(ctx context.Context, tx pgx.Tx, mbox store.MailboxID, from, to int64) error {
	if from >= to {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT field, bucket, span, entries FROM text_postings WHERE mailbox_id=$1 AND span >= $2 AND span < $3`, mbox, from, to)
	if err != nil {
		return err
	}
	var fields, buckets []int16
	var spans []int64
	var out [][]byte
	var field, bucket int16
	var span int64
	var data []byte
	_, err = pgx.ForEachRow(rows, []any{&field, &bucket, &span, &data}, func() error {
		lists := map[string][]uint32{}
		if !eachEntry(data, func(term string, list []byte) bool {
			return textterms.EachUID(list, func(u uint32) { lists[term] = append(lists[term], u) })
		}) {
			return errDamaged
		}
		terms := make([]string, 0, len(lists))
		for t := range lists {
			terms = append(terms, t)
		}
		slices.Sort(terms)
		var b []byte
		for _, t := range terms {
			l := lists[t]
			slices.Sort(l)
			b = appendEntry(b, t, textterms.AppendUIDs(nil, slices.Compact(l)))
		}
		fields, buckets, spans, out = append(fields, field), append(buckets, bucket), append(spans, span), append(out, b)
		return nil
	})
	if err != nil || len(out) == 0 {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE text_postings p SET entries = u.e
		FROM unnest($2::smallint[], $3::smallint[], $4::bigint[], $5::bytea[]) AS u(f, b, s, e)
		WHERE p.mailbox_id = $1 AND p.field = u.f AND p.bucket = u.b AND p.span = u.s`, mbox, fields, buckets, spans, out)
	return err
}

// termBucket is the bucket of a term's entries in a field: one of
// textBuckets in the body, of textFieldBuckets in the other fields.
func termBucket(field int, term string) int16 {
	h := fnv.New32a()
	h.Write([]byte(term))
	if field != textBodyField {
		return int16(h.Sum32() % textFieldBuckets)
	}
	return int16(h.Sum32() % textBuckets)
}

// writeVocab appends the batch's words the vocabulary lacks, as one row,
// last in the transaction: the lock it takes, held to the commit, makes
// the rows' numbers follow their commits.
func (s *Store) writeVocab(ctx context.Context, tx pgx.Tx, post map[postKey][]uint32) error {
	var words []string
	for k := range post {
		if !isCJKBigram(k.term) {
			words = append(words, k.term)
		}
	}
	if len(words) == 0 {
		return nil
	}
	slices.Sort(words)
	words = slices.Compact(words)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, textVocabLock); err != nil {
		return err
	}
	if err := s.syncVocab(ctx, tx); err != nil {
		return err
	}
	add := s.vocab.Missing(words)
	if add == "" {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO text_vocab(words) VALUES($1)`, []byte(add))
	return err
}

// isCJKBigram reports whether a term is two CJK letters (looked up as it
// is, never in the vocabulary).
func isCJKBigram(s string) bool {
	n := 0
	for _, r := range s {
		if !textterms.IsCJK(r) {
			return false
		}
		n++
	}
	return n == 2
}

// forgetText drops a mailbox's postings and marks its index empty.
func forgetText(ctx context.Context, tx pgx.Tx, mbox store.MailboxID) error {
	for _, q := range []string{`DELETE FROM text_postings WHERE mailbox_id=$1`, `DELETE FROM text_big WHERE mailbox_id=$1`} {
		if _, err := tx.Exec(ctx, q, mbox); err != nil {
			return err
		}
	}
	return nil
}

// appendEntry appends a term and its UID list (textterms.AppendUIDs) to
// a postings row: the term's length, the term, the list's length, the
// list. A CJK bigram of two letters below U+10000 (most terms of Chinese
// mail) is a 0 length (no term is empty) and the two letters as 16-bit
// codes: 5 bytes instead of 7.
func appendEntry(b []byte, term string, list []byte) []byte {
	if r1, r2, ok := bigramCodes(term); ok {
		b = append(b, 0)
		b = binary.BigEndian.AppendUint16(b, r1)
		b = binary.BigEndian.AppendUint16(b, r2)
	} else {
		b = binary.AppendUvarint(b, uint64(len(term)))
		b = append(b, term...)
	}
	b = binary.AppendUvarint(b, uint64(len(list)))
	return append(b, list...)
}

// bigramCodes returns the letters of a CJK bigram as 16-bit codes; ok is
// false for any other term.
func bigramCodes(term string) (r1, r2 uint16, ok bool) {
	if !isCJKBigram(term) {
		return 0, 0, false
	}
	rs := []rune(term)
	if rs[0] > 0xFFFF || rs[1] > 0xFFFF {
		return 0, 0, false
	}
	return uint16(rs[0]), uint16(rs[1]), true
}

// eachEntry calls fn with every entry of a postings row until fn returns
// false; false when fn did or the row is damaged.
func eachEntry(b []byte, fn func(term string, list []byte) bool) bool {
	next := func() ([]byte, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, false
		}
		v := b[k : k+int(n)]
		b = b[k+int(n):]
		return v, true
	}
	for len(b) > 0 {
		var term string
		if b[0] == 0 { // a bigram's codes
			if len(b) < 5 {
				return false
			}
			term = string([]rune{rune(binary.BigEndian.Uint16(b[1:])), rune(binary.BigEndian.Uint16(b[3:]))})
			b = b[5:]
		} else {
			t, ok := next()
			if !ok {
				return false
			}
			term = string(t)
		}
		list, ok := next()
		if !ok || !fn(term, list) {
			return false
		}
	}
	return true
}
