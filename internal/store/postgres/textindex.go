package postgres

import (
	"context"
	"errors"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/textterms"
)

// The text index of SEARCH (store.TextIndex): the same terms as the SQLite
// backend's (internal/store/textterms: words and CJK bigrams, so that a
// two-character Chinese word such as 发票 is found, which pg_trgm cannot
// narrow: its LIKE support needs three characters, and it takes words by
// the database's locale), in tables of its own:
//
//   - text_postings: per mailbox, field, bucket of terms (a hash: rare
//     terms, most CJK bigrams among them, would cost a row each, about 100
//     bytes with its index entry, three times the mail's size) and span of
//     4,096 UIDs, entries of a term and the UIDs that have it
//     (appendEntry: self-delimiting, so that a batch appends its entries
//     to a row with "||" instead of reading and rewriting it); once the
//     mark has passed a span, its rows are rewritten with one entry per
//     term (compactSpans), which halves them;
//   - text_vocab: every word (not bigram) of every mailbox, appended per
//     batch, loaded into memory (textterms.Vocab) to find the words that
//     hold a piece of a SEARCH term (a prefix, a suffix, an infix);
//   - text_big: messages with more text than is indexed, always
//     candidates;
//   - text_marks: per mailbox the UIDVALIDITY and the high-water mark of
//     the indexer (textindexer.go): every message above it is a
//     candidate, so SEARCH stays exact while the index catches up.
//
// No foreign keys: a key check would lock the mailbox row against the
// delivery that takes it FOR UPDATE. A trigger drops the rows of a deleted
// mailbox instead. Expunged messages stay in the postings (the caller
// checks every candidate, and a UID is never reused) until a quarter of
// the messages indexed (docs) are gone: then the indexer indexes the
// mailbox again from UID 1.
const textSchema = `CREATE TABLE IF NOT EXISTS text_marks (
	mailbox_id  bigint PRIMARY KEY,
	uidvalidity bigint NOT NULL,
	mark        bigint NOT NULL,
	docs        bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS text_postings (
	mailbox_id bigint NOT NULL,
	field      smallint NOT NULL,
	bucket     smallint NOT NULL,
	span       bigint NOT NULL,
	entries    bytea NOT NULL,
	PRIMARY KEY (mailbox_id, field, bucket, span)
);
CREATE TABLE IF NOT EXISTS text_big (
	mailbox_id bigint NOT NULL,
	uid        bigint NOT NULL,
	PRIMARY KEY (mailbox_id, uid)
);
CREATE TABLE IF NOT EXISTS text_vocab (
	seq   bigserial PRIMARY KEY,
	words bytea NOT NULL -- NUL-separated (text cannot hold NUL)
);
CREATE OR REPLACE FUNCTION text_forget_mailbox() RETURNS trigger AS $$
BEGIN
	DELETE FROM text_postings WHERE mailbox_id = OLD.id;
	DELETE FROM text_big WHERE mailbox_id = OLD.id;
	DELETE FROM text_marks WHERE mailbox_id = OLD.id;
	RETURN NULL;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS mailboxes_text_forget ON mailboxes;
CREATE TRIGGER mailboxes_text_forget AFTER DELETE ON mailboxes
	FOR EACH ROW EXECUTE FUNCTION text_forget_mailbox();`

const (
	// textBuckets is how many buckets the terms of the body are hashed
	// to; textFieldBuckets those of another field, whose rows were small
	// (30-50 bytes of entries in a row of 100 bytes with its key) at 4,096.
	textBuckets      = 4096
	textFieldBuckets = 512
	textBodyField    = int(store.TextBody - 1)
	// maxPieceWords bounds the words of the vocabulary one piece of a
	// term is looked up as; a piece found in more does not narrow.
	maxPieceWords = 5000
)

// 1<<spanShift UIDs is what one postings row covers, so that rows stay
// small (a few KB) however big the mailbox (a variable: tests make small
// spans).
var spanShift = 12

var (
	_ store.TextIndex          = (*Store)(nil)
	_ store.TextIndexRebuilder = (*Store)(nil)
	_ store.TextIndexStatus    = (*Store)(nil)
)

// TextCandidates implements store.TextIndex, from one snapshot: the
// vocabulary, the mark and the postings agree.
func (s *Store) TextCandidates(ctx context.Context, acct store.AccountID, mbox store.MailboxID, field store.TextField, value string) (store.TextMatches, bool, error) {
	var none store.TextMatches
	if field < store.TextSubject || field > store.TextBody {
		return none, false, nil
	}
	ps, sure := textterms.SearchPieces(value, int(field-1))
	if len(ps) == 0 {
		return none, false, nil
	}
	var m store.TextMatches
	var ok bool
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		var err error
		m, ok, err = s.textLookup(ctx, tx, acct, mbox, int(field-1), ps, sure)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
		// A broken index never fails a SEARCH: it scans instead.
		s.log.Warn("text index: lookup failed, scanning", "err", err)
		return none, false, nil
	}
	return m, ok, err
}

func (s *Store) textLookup(ctx context.Context, tx pgx.Tx, acct store.AccountID, mbox store.MailboxID, field int, ps []textterms.Piece, sure bool) (store.TextMatches, bool, error) {
	var none store.TextMatches
	var uidValidity, uidNext int64
	err := tx.QueryRow(ctx, `SELECT uidvalidity, uidnext FROM mailboxes WHERE id=$1 AND account_id=$2`, mbox, acct).Scan(&uidValidity, &uidNext)
	if err != nil {
		return none, false, notFound(err)
	}
	var v, mark int64
	err = tx.QueryRow(ctx, `SELECT uidvalidity, mark FROM text_marks WHERE mailbox_id=$1`, mbox).Scan(&v, &mark)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && v != uidValidity {
		return store.TextMatches{Candidates: store.UIDSet{{Lo: 1, Hi: store.UID(max(1, uidNext-1))}}}, true, nil
	}
	if err != nil {
		return none, false, err
	}
	if err := s.syncVocab(ctx, tx); err != nil {
		return none, false, err
	}
	l := textterms.Lookup{Vocab: &s.vocab, MaxWords: maxPieceWords, Mark: store.UID(mark), UIDNext: store.UID(uidNext),
		Postings: func(p textterms.Piece, words []string, sure bool) (*textterms.Hits, error) {
			return readPostings(ctx, tx, mbox, field, words, p, sure, store.UID(uidNext))
		},
		Big: func(big textterms.UIDBits) error {
			rows, err := tx.Query(ctx, `SELECT uid FROM text_big WHERE mailbox_id=$1`, mbox)
			if err != nil {
				return err
			}
			var u int64
			_, err = pgx.ForEachRow(rows, []any{&u}, func() error { big.Add(uint32(u)); return nil })
			return err
		}}
	return l.Candidates(ps, sure)
}

// readPostings unites the postings of words in a field of the mailbox
// (textterms.Hits).
func readPostings(ctx context.Context, tx pgx.Tx, mbox store.MailboxID, field int, words []string, p textterms.Piece, sure bool, below store.UID) (*textterms.Hits, error) {
	h := textterms.NewHits(p, words, sure, below)
	if len(words) == 0 {
		return h, nil
	}
	var buckets []int16
	for _, w := range words {
		buckets = append(buckets, termBucket(field, w))
	}
	slices.Sort(buckets)
	rows, err := tx.Query(ctx, `SELECT entries FROM text_postings WHERE mailbox_id=$1 AND field=$2 AND bucket = ANY($3)`, mbox, field, slices.Compact(buckets))
	if err != nil {
		return nil, err
	}
	var data []byte
	_, err = pgx.ForEachRow(rows, []any{&data}, func() error {
		if !eachEntry(data, func(term string, list []byte) bool { return !h.Wants(term) || h.Add(term, list) }) {
			return errDamaged
		}
		return nil
	})
	return h, err
}

var errDamaged = errors.New("postgres: text index: damaged postings")

// syncVocab loads the vocabulary rows committed since the last load, as
// the snapshot of tx sees them. The rows are numbered in commit order
// (the indexer inserts its row under a lock held to its commit), so that
// a reader never skips a row committed after one it loaded.
func (s *Store) syncVocab(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT seq, words FROM text_vocab WHERE seq > $1 ORDER BY seq`, s.vocab.Seq())
	if err != nil {
		return err
	}
	var seq int64
	var words []byte
	_, err = pgx.ForEachRow(rows, []any{&seq, &words}, func() error {
		s.vocab.Load(seq, string(words))
		return nil
	})
	return err
}

// RebuildTextIndex implements store.TextIndexRebuilder: the account's
// mailboxes lose their postings and marks in one transaction; the indexer
// indexes them again from UID 1 (searches scan them meanwhile). It
// returns how many messages are queued.
func (s *Store) RebuildTextIndex(ctx context.Context, acct store.AccountID) (int, error) {
	var n int64
	err := s.write(ctx, func(t *tx) error {
		if err := t.QueryRow(ctx, `SELECT COALESCE(SUM(messages), 0)::bigint FROM mailboxes WHERE account_id=$1`, acct).Scan(&n); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM text_marks WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE account_id=$1)`,
			`DELETE FROM text_postings WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE account_id=$1)`,
			`DELETE FROM text_big WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE account_id=$1)`,
		} {
			if _, err := t.Exec(ctx, q, acct); err != nil {
				return err
			}
		}
		return nil
	})
	s.kickIndexer()
	return int(n), err
}

// TextIndexPending implements store.TextIndexStatus: the UIDs above each
// mailbox's mark (all of a mailbox not indexed under its UIDVALIDITY).
func (s *Store) TextIndexPending(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(SUM(GREATEST(m.uidnext - 1 -
		CASE WHEN t.uidvalidity = m.uidvalidity THEN t.mark ELSE 0 END, 0)), 0)::bigint
		FROM mailboxes m LEFT JOIN text_marks t ON t.mailbox_id = m.id`).Scan(&n)
	return n, err
}

// TextIndexSize returns the bytes of the text index's tables with their
// indexes, and those of the mail (the blobs' sizes), for benchmarks and
// the documentation's figures.
func (s *Store) TextIndexSize(ctx context.Context) (index, mail int64, err error) {
	err = s.pool.QueryRow(ctx, `SELECT pg_total_relation_size('text_postings') + pg_total_relation_size('text_vocab') +
		pg_total_relation_size('text_big') + pg_total_relation_size('text_marks'),
		(SELECT COALESCE(SUM(size), 0)::bigint FROM blobs)`).Scan(&index, &mail)
	return index, mail, err
}
