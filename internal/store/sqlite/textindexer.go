package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/textterms"
)

// The indexer feeds text.db from what the writer committed, by a
// high-water mark per mailbox: UIDs only grow (RFC 9051 §2.3.1.1), so every
// message above the mark is new, and SEARCH treats every message above it
// as a candidate. It reads index.db through the reader pool (WAL readers
// never block the writer) and writes only text.db. After a crash it simply
// goes on from the marks text.db kept.
//
// On a small machine it competes with delivery for the CPU (cutting and
// writing the grams of 10 KB of text costs about a millisecond, twenty
// times what storing the message costs), so it yields to the writer: a
// batch starts only when the writer is idle or nearly (writerWatch.light:
// no group commit for textWriterIdle, longer than the gap between two
// commits under load, or only a trickle of commits). When the writer is
// busy all the time, a batch runs anyway once the indexer has waited
// textBusyShare-1 times as long as its last batch took, and textBusyWait
// at least, so that a burst of mail is not slowed at all and a loaded
// server loses at most about 1/textBusyShare of one core to it, while the
// index still gets on; once the load is over it catches up at full speed. Batches are
// small, so that mail arriving during one waits little.

const (
	// textBatch bounds the messages of one indexer transaction, and
	// textBatchBytes their text.
	textBatchBytes = 1 << 20
	// textWriterIdle is how long the writer must have been idle before a
	// batch starts; textLightCommits how many commits per textWindow
	// still count as a trickle.
	textWriterIdle   = 30 * time.Millisecond
	textLightCommits = 2
	// textBusyShare: under steady load the indexer waits (share-1) times
	// the length of its last batch before the next.
	textBusyShare = 50
	// textBusyWait is the least a starved indexer waits: a burst of mail
	// (seconds) is not slowed at all.
	textBusyWait = 10 * time.Second
	// textPoll is how often an idle indexer looks for new commits.
	textPoll = 500 * time.Millisecond
)

// textBatch bounds the messages of one indexer transaction (a variable:
// tests make many small runs).
var textBatch = 256

// runTextIndexer is false in tests that run the indexer's steps themselves.
var runTextIndexer = true

// textMark is a mailbox's state in text.db.
type textMark struct {
	uidValidity uint32
	mark        store.UID
}

// pendingMailbox is a mailbox with messages above its mark.
type pendingMailbox struct {
	id          store.MailboxID
	uidValidity uint32
	uidNext     store.UID
	from        textMark
}

// textIndexer runs until the store closes.
func (s *Store) textIndexer() {
	defer close(s.idxDone)
	ctx := context.Background()
	var ww writerWatch
	last := time.Duration(0) // the last batch's duration
	seen := int64(-1)        // s.batches at the last look for new mail
	swept := time.Now()
	fresh := 0 // docs written since the last optimize
	for {
		if fresh >= textOptimizeDocs && ww.light(s, time.Now()) {
			if err := s.optimizeText(ctx); err != nil {
				s.textError(ctx, err)
			}
			fresh = 0
		}
		if time.Since(swept) > textSweepEvery && ww.idleFor(s, time.Now()) > time.Second {
			if err := s.sweepText(ctx); err != nil {
				s.textError(ctx, err)
			}
			swept = time.Now()
		}
		// Look for new mail once per textPoll at most (it reads every
		// mailbox's UIDNEXT), and only after some commit.
		select {
		case <-s.closing:
			return
		case <-time.After(textPoll):
		}
		if seen == s.batches.Load() && !s.textKick.Swap(false) {
			continue
		}
		seen = s.batches.Load()
		todo, err := s.textPending(ctx)
		if err != nil {
			s.textError(ctx, err)
			continue
		}
		for _, mb := range todo {
			for more := true; more; {
				if !s.yieldToWriter(&ww, last) {
					return
				}
				t0 := time.Now()
				var n int
				more, n, err = s.indexBatchDocs(ctx, &mb)
				last = time.Since(t0)
				fresh += n
				if err != nil {
					s.textError(ctx, err)
					break
				}
			}
		}
	}
}

// yieldToWriter waits until the writer has been idle textWriterIdle, or
// at most (textBusyShare-1) * last (textBusyWait at least); false when the store
// closes.
func (s *Store) yieldToWriter(ww *writerWatch, last time.Duration) bool {
	budget := max(textBusyWait, (textBusyShare-1)*last)
	start := time.Now()
	for {
		now := time.Now()
		if ww.light(s, now) || now.Sub(start) >= budget {
			return true
		}
		select {
		case <-s.closing:
			return false
		case <-time.After(textWriterIdle / 6):
		}
	}
}

// textError logs an indexer error; a damaged text.db is discarded and built
// again.
func (s *Store) textError(ctx context.Context, err error) {
	if errors.Is(err, store.ErrClosed) || errors.Is(err, sql.ErrConnDone) {
		return
	}
	if isCorrupt(err) {
		s.log.Warn("text index damaged: rebuilding it", "err", err)
		if err := s.resetTextDB(ctx); err != nil {
			s.log.Error("text index: reset", "err", err)
		}
		s.textKick.Store(true)
		return
	}
	s.log.Warn("text index", "err", err)
	select { // do not spin on a persistent error
	case <-s.closing:
	case <-time.After(time.Second):
	}
}

// textPending lists the mailboxes with messages above their mark, and
// forgets the mailboxes deleted since.
func (s *Store) textPending(ctx context.Context) ([]pendingMailbox, error) {
	t := s.textIdx()
	if t == nil {
		return nil, store.ErrClosed
	}
	marks := map[store.MailboxID]textMark{}
	rows, err := t.db.QueryContext(ctx, `SELECT id, uidvalidity, mark FROM mbox`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id store.MailboxID
		var m textMark
		if err := rows.Scan(&id, &m.uidValidity, &m.mark); err != nil {
			rows.Close()
			return nil, err
		}
		marks[id] = m
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.rdb.QueryContext(ctx, `SELECT id, uidvalidity, uidnext FROM mailboxes`)
	if err != nil {
		return nil, err
	}
	var todo []pendingMailbox
	for rows.Next() {
		var p pendingMailbox
		if err := rows.Scan(&p.id, &p.uidValidity, &p.uidNext); err != nil {
			rows.Close()
			return nil, err
		}
		p.from = marks[p.id]
		delete(marks, p.id)
		if p.from.uidValidity != p.uidValidity || p.from.mark+1 < p.uidNext {
			todo = append(todo, p)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(marks) > 0 { // deleted mailboxes
		var ids []int64
		for id := range marks {
			ids = append(ids, int64(id))
		}
		err := t.write(ctx, func(tx *sql.Tx) error {
			for _, id := range ids {
				if err := forgetMailbox(ctx, tx, id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return todo, nil
}

// indexBatch indexes the next messages of mb above its mark (at most
// textBatch, textBatchBytes of text) in one text.db transaction, and
// reports whether more remain.
func (s *Store) indexBatch(ctx context.Context, mb *pendingMailbox) (more bool, err error) {
	more, _, err = s.indexBatchDocs(ctx, mb)
	return more, err
}

// indexBatchDocs is indexBatch; it also says how many docs it wrote.
func (s *Store) indexBatchDocs(ctx context.Context, mb *pendingMailbox) (more bool, ndocs int, err error) {
	t := s.textIdx()
	if t == nil {
		return false, 0, store.ErrClosed
	}
	reset := mb.from.uidValidity != mb.uidValidity
	from := mb.from.mark
	if reset {
		from = 0
	}
	// UIDNEXT first: every message below it was committed with it, so
	// what the query below misses of them was expunged since.
	var uidNext store.UID
	if err := s.rdb.QueryRowContext(ctx, `SELECT uidnext FROM mailboxes WHERE id=?`, mb.id).Scan(&uidNext); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return false, 0, nil // deleted: forgotten at the next look
		}
		return false, 0, err
	}
	msgs, err := s.textMessages(ctx, mb.id, from, uidNext)
	if err != nil {
		return false, 0, err
	}
	mark := uidNext - 1
	if len(msgs) == textBatch {
		mark, more = msgs[len(msgs)-1].uid, true
	}
	post, big, n, cut := s.batchText(ctx, msgs)
	if cut < len(msgs) {
		mark, more = msgs[cut-1].uid, true
	}
	err = t.write(ctx, func(tx *sql.Tx) error {
		if reset {
			if err := forgetMailbox(ctx, tx, int64(mb.id)); err != nil {
				return err
			}
		}
		if err := syncVocab(ctx, &t.vocab, tx); err != nil {
			return err
		}
		if err := t.writeRun(ctx, tx, mb.id, post); err != nil {
			return err
		}
		for _, u := range big {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO big(mbox, uid) VALUES(?, ?)`, mb.id, u); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO mbox(id, uidvalidity, mark, docs) VALUES(?1, ?2, ?3, ?4)
			ON CONFLICT DO UPDATE SET uidvalidity=?2, mark=?3, docs=docs+?4`, mb.id, mb.uidValidity, mark, n)
		return err
	})
	if err != nil {
		return false, 0, err
	}
	mb.from = textMark{uidValidity: mb.uidValidity, mark: mark}
	return more, n, nil
}

// batchText reads the text of the messages, up to textBatchBytes, and
// gathers its postings: cut is how many of msgs they cover, n how many
// messages were indexed, big the UIDs of those whose text was cut or
// unreadable. A blob shared by messages of the batch is read once.
func (s *Store) batchText(ctx context.Context, msgs []textMsg) (post batchPostings, big []store.UID, n, cut int) {
	post = batchPostings{}
	read := map[int64]*textDoc{}
	size := 0
	for i, m := range msgs {
		if size > textBatchBytes {
			return post, big, n, i
		}
		d, ok := read[m.doc]
		if !ok {
			doc, found, err := s.blobText(ctx, m.doc)
			switch {
			case err != nil:
				// Unreadable: leave it to the scan rather than stop
				// the indexer.
				s.log.Warn("text index: message left to the scan", "blob", m.doc, "err", err)
				doc = textDoc{Doc: textterms.Doc{Big: true}}
			case !found:
				continue // expunged since it was listed
			}
			d = &doc
			read[m.doc] = d
			for _, f := range d.Fields {
				size += len(f)
			}
		}
		post.addDoc(m.uid, d)
		if d.Big {
			big = append(big, m.uid)
		}
		n++
	}
	return post, big, n, len(msgs)
}

// textMsg is a message the indexer maps to its doc.
type textMsg struct {
	uid store.UID
	doc int64
}

// textMessages lists the messages of mbox with UIDs in (from, below).
func (s *Store) textMessages(ctx context.Context, mbox store.MailboxID, from, below store.UID) ([]textMsg, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT uid, blob_id FROM messages WHERE mailbox_id=? AND uid>? AND uid<? ORDER BY uid LIMIT ?`,
		mbox, from, below, textBatch)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []textMsg
	for rows.Next() {
		var m textMsg
		if err := rows.Scan(&m.uid, &m.doc); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// textOptimizeDocs is how many new messages make the indexer, once idle,
// merge each mailbox's runs into one: fewer rows to read per word, and
// smaller.
const textOptimizeDocs = 5000

// optimizeText merges the runs of every mailbox that has more than one.
func (s *Store) optimizeText(ctx context.Context) error {
	t := s.textIdx()
	if t == nil {
		return store.ErrClosed
	}
	rows, err := t.db.QueryContext(ctx, `SELECT mbox FROM runs WHERE tier >= 0 GROUP BY mbox HAVING sum(n) > 1`)
	if err != nil {
		return err
	}
	var ids []store.MailboxID
	for rows.Next() {
		var id store.MailboxID
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		err := t.write(ctx, func(tx *sql.Tx) error { return mergeTiers(ctx, tx, id, 0, textTiers-1, textTiers-1) })
		if err != nil {
			return err
		}
	}
	return nil
}

// CompactTextIndex merges the text index's runs now, as the idle indexer
// does (benchmarks measure the index as it settles).
func (s *Store) CompactTextIndex(ctx context.Context) error { return s.optimizeText(ctx) }

// textSweepEvery is how often an idle indexer looks for mailboxes whose
// postings are mostly of expunged messages. Until then those only cost
// space: a stale candidate is verified against the mailbox like any other.
const textSweepEvery = 10 * time.Minute

// textStaleShare: a mailbox with more than 1/textStaleShare of its indexed
// messages expunged (and at least textStaleMin) is indexed again from
// scratch, which drops their postings.
const (
	textStaleShare = 4
	textStaleMin   = 256
)

// sweepText queues for indexing again the mailboxes whose postings are
// mostly stale.
func (s *Store) sweepText(ctx context.Context) error {
	t := s.textIdx()
	if t == nil {
		return store.ErrClosed
	}
	type mboxDocs struct {
		id         store.MailboxID
		mark       store.UID
		docs, live int
	}
	var all []mboxDocs
	rows, err := t.db.QueryContext(ctx, `SELECT id, mark, docs FROM mbox`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var m mboxDocs
		if err := rows.Scan(&m.id, &m.mark, &m.docs); err != nil {
			rows.Close()
			return err
		}
		all = append(all, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, m := range all {
		if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE mailbox_id=? AND uid<=?`, m.id, m.mark).Scan(&m.live); err != nil {
			return err
		}
		stale := m.docs - m.live
		if stale < textStaleMin || stale*textStaleShare < m.docs {
			continue
		}
		err := t.write(ctx, func(tx *sql.Tx) error { return forgetMailbox(ctx, tx, int64(m.id)) })
		if err != nil {
			return err
		}
		s.textKick.Store(true)
	}
	return nil
}
