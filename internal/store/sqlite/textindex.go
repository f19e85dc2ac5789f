package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/youju/youju/internal/blob"
	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/textterms"
)

// The text index of SEARCH (store.TextIndex), kept in text.db (textdb.go)
// and fed by the indexer (textindexer.go) after delivery has been
// acknowledged. Messages above a mailbox's high-water mark are not indexed
// yet and are always candidates, so SEARCH stays exact while the indexer
// catches up (after a crash, after a rebuild, or for mail stored before the
// index existed).
//
// What is indexed is what the IMAP server's scan matches on (RFC 9051
// §6.4.4), lower-cased with strings.ToLower as its matcher does: the
// decoded SUBJECT, FROM, TO, CC and BCC of message.Info, the value of every
// header line unfolded and RFC 2047-decoded (HEADER matches values, never
// names), and the decoded text of the text/* parts (message.BodyText), not
// the transfer encoding; cut into words and CJK bigrams (internal/store/textterms) and
// written as postings by UID (textpost.go). Text beyond the bounds below is
// not indexed: such a message is marked big and is always a candidate, so
// the scan decides.

const (
	// maxPieceWords bounds the words of the vocabulary one piece of a
	// term is looked up as; a piece found in more (a common trigram)
	// does not narrow.
	maxPieceWords = 5000
)

var _ store.TextIndex = (*Store)(nil)
var _ store.TextIndexRebuilder = (*Store)(nil)

// TextCandidates implements store.TextIndex.
func (s *Store) TextCandidates(ctx context.Context, acct store.AccountID, mbox store.MailboxID, field store.TextField, value string) (store.TextMatches, bool, error) {
	var none store.TextMatches
	if field < store.TextSubject || field > store.TextBody {
		return none, false, nil
	}
	ps, sure := textterms.SearchPieces(value, int(field-1))
	if len(ps) == 0 {
		return none, false, nil
	}
	var uidValidity uint32
	var uidNext store.UID
	err := s.rq.QueryRowContext(ctx, `SELECT uidvalidity, uidnext FROM mailboxes WHERE id=? AND account_id=?`, mbox, acct).Scan(&uidValidity, &uidNext)
	if errors.Is(err, sql.ErrNoRows) {
		return none, false, store.ErrNotFound
	}
	if err != nil {
		return none, false, err
	}
	t := s.textIdx()
	if t == nil {
		return none, false, nil // being rebuilt: scan
	}
	m, ok, err := t.lookup(ctx, int(field-1), mbox, ps, sure, uidValidity, uidNext)
	if err != nil && ctx.Err() == nil {
		// A broken index never fails a SEARCH: it scans instead (the
		// indexer replaces a damaged text.db).
		s.log.Warn("text index: lookup failed, scanning", "err", err)
		return none, false, nil
	}
	return m, ok, err
}

// lookup reads the candidates of the pieces of a term in one field of a
// mailbox, in one read transaction (one snapshot of text.db: a merge or a
// rebuild committed meanwhile is not half seen).
func (t *textDB) lookup(ctx context.Context, field int, mbox store.MailboxID, ps []textterms.Piece, sure bool, uidValidity uint32, uidNext store.UID) (store.TextMatches, bool, error) {
	var none store.TextMatches
	c, err := t.db.Conn(ctx)
	if err != nil {
		return none, false, err
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `BEGIN DEFERRED`); err != nil {
		return none, false, err
	}
	defer c.ExecContext(context.Background(), `ROLLBACK`)
	var mark store.UID
	var v uint32
	err = c.QueryRowContext(ctx, `SELECT uidvalidity, mark FROM mbox WHERE id=?`, mbox).Scan(&v, &mark)
	if errors.Is(err, sql.ErrNoRows) || err == nil && v != uidValidity {
		return store.TextMatches{Candidates: store.UIDSet{{Lo: 1, Hi: max(1, uidNext-1)}}}, true, nil
	}
	if err != nil {
		return none, false, err
	}
	tiers, err := mailboxTiers(ctx, c, mbox)
	if err != nil {
		return none, false, err
	}
	if err := syncVocab(ctx, &t.vocab, c); err != nil {
		return none, false, err
	}
	l := textterms.Lookup{Vocab: &t.vocab, MaxWords: maxPieceWords, Mark: mark, UIDNext: uidNext,
		Postings: func(p textterms.Piece, words []string, sure bool) (*textterms.Hits, error) {
			return readPostings(ctx, c, mbox, tiers, field, words, p, sure, uidNext)
		},
		Big: func(big textterms.UIDBits) error {
			return eachRowUID(ctx, c, big, `SELECT uid FROM big WHERE mbox=?`, mbox)
		}}
	return l.Candidates(ps, sure)
}

// mailboxTiers is the SQL list of the mailbox's tiers that hold runs.
func mailboxTiers(ctx context.Context, c *sql.Conn, mbox store.MailboxID) (string, error) {
	rows, err := c.QueryContext(ctx, `SELECT tier FROM runs WHERE mbox=? AND tier >= 0 AND n > 0`, mbox)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var tier int
		if err := rows.Scan(&tier); err != nil {
			return "", err
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(tier))
	}
	if b.Len() == 0 {
		b.WriteString("-1")
	}
	return b.String(), rows.Err()
}

// readPostings unites the postings of words in a field of the mailbox
// (textterms.Hits).
func readPostings(ctx context.Context, c *sql.Conn, mbox store.MailboxID, tiers string, field int, words []string, p textterms.Piece, sure bool, uidNext store.UID) (*textterms.Hits, error) {
	h := textterms.NewHits(p, words, sure, uidNext)
	if len(words) == 0 {
		return h, nil
	}
	var buckets []int
	for _, w := range words {
		buckets = append(buckets, termBucket(w))
	}
	slices.Sort(buckets)
	bl, err := json.Marshal(slices.Compact(buckets))
	if err != nil {
		return nil, err
	}
	var bigs []string
	var data sql.RawBytes
	var bk int
	err = eachRow(ctx, c, func(rows *sql.Rows) error {
		if err := rows.Scan(&bk, &data); err != nil {
			return err
		}
		ok := eachEntry(data, bk, func(term string, list []byte, big bool) {
			switch {
			case !h.Wants(term):
			case big:
				bigs = append(bigs, strings.Clone(term))
			default:
				if !h.Add(term, list) {
					err = errDamaged
				}
			}
		})
		if !ok {
			return errDamaged
		}
		return err
	}, `SELECT b, data FROM blk WHERE mbox=?1 AND field=?2 AND tier IN (`+tiers+`) AND b IN (SELECT value FROM json_each(?3))`, mbox, field, string(bl))
	if err != nil || len(bigs) == 0 {
		return h, err
	}
	slices.Sort(bigs)
	tl, err := json.Marshal(slices.Compact(bigs))
	if err != nil {
		return nil, err
	}
	var term string
	err = eachRow(ctx, c, func(rows *sql.Rows) error {
		if err := rows.Scan(&term, &data); err != nil {
			return err
		}
		if !h.Add(term, data) {
			return errDamaged
		}
		return nil
	}, postingsQuery(tiers), mbox, field, string(tl))
	return h, err
}

var errDamaged = errors.New("sqlite: text index: damaged postings")

// postingsQuery reads the big lists of words: one seek per tier and word,
// never a scan of the mailbox's postings.
func postingsQuery(tiers string) string {
	return `SELECT term, uids FROM bigpost WHERE mbox=?1 AND field=?2 AND tier IN (` + tiers + `) AND term IN (SELECT value FROM json_each(?3))`
}

// eachRow calls fn for each row of a query.
func eachRow(ctx context.Context, c *sql.Conn, fn func(*sql.Rows) error, q string, args ...any) error {
	rows, err := c.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func eachRowUID(ctx context.Context, c *sql.Conn, set textterms.UIDBits, q string, args ...any) error {
	rows, err := c.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var u uint32
		if err := rows.Scan(&u); err != nil {
			return err
		}
		set.Add(u)
	}
	return rows.Err()
}

// textDoc is the indexed text of one blob.
type textDoc struct {
	id int64
	textterms.Doc
}

// blobText reads the indexed text of one blob; found is false when the
// blob is gone (its messages expunged since they were listed).
func (s *Store) blobText(ctx context.Context, id int64) (d textDoc, found bool, err error) {
	var ref blob.Ref
	var raw []byte
	err = s.rdb.QueryRowContext(ctx, `SELECT segment, off, length, info FROM blobs WHERE id=?`, id).Scan(&ref.Segment, &ref.Offset, &ref.Length, &raw)
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	}
	if err != nil {
		return d, true, err
	}
	info, err := message.UnmarshalInfo(raw)
	if err != nil {
		return d, true, err
	}
	r, err := s.blobs.Open(ref)
	if err != nil {
		return d, true, err
	}
	defer r.Close()
	d.Doc, err = textterms.Extract(r, info)
	return d, true, err
}

// RebuildTextIndex implements store.TextIndexRebuilder: in one text.db
// transaction the account's mailboxes lose their postings and marks (the
// vocabulary stays: it is shared); the indexer then indexes
// the mailboxes again from UID 1 (searches scan them meanwhile). It returns
// how many messages are queued.
func (s *Store) RebuildTextIndex(ctx context.Context, acct store.AccountID) (int, error) {
	t := s.textIdx()
	if t == nil {
		return 0, store.ErrClosed
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, messages FROM mailboxes WHERE account_id=?`, acct)
	if err != nil {
		return 0, err
	}
	var ids []int64
	n := 0
	for rows.Next() {
		var id int64
		var k int
		if err := rows.Scan(&id, &k); err != nil {
			rows.Close()
			return 0, err
		}
		ids, n = append(ids, id), n+k
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	err = t.write(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			if err := forgetMailbox(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
	s.textKick.Store(true)
	return n, err
}
