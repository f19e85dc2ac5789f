package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/youju/youju/internal/blob"
	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
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
// the transfer encoding. Chinese, Japanese and Korean text (written without
// spaces, where two-character words such as 发票 are the common query, too
// short for trigrams) is indexed as bigrams of adjacent CJK letters
// (fts_cjk_body, fts_cjk_hdr), everything else as trigrams (a CJK run is
// one placeholder there): each CJK character costs one entry instead of
// two. A term is looked up as the AND of its trigrams and its CJK bigrams;
// one with neither (one character, two Latin ones) narrows nothing, as it
// would match most mail anyway. Text beyond the bounds below is not
// indexed: such a blob is marked big and is always a candidate, so the scan
// decides.

const (
	// textBodyLimit bounds the body text indexed per message.
	textBodyLimit = 1 << 20
	// textHeaderLimit bounds the header read per message.
	textHeaderLimit = 256 << 10
)

var _ store.TextIndex = (*Store)(nil)
var _ store.TextIndexRebuilder = (*Store)(nil)

// TextCandidates implements store.TextIndex.
func (s *Store) TextCandidates(ctx context.Context, acct store.AccountID, mbox store.MailboxID, field store.TextField, value string) (store.TextMatches, bool, error) {
	var none store.TextMatches
	if field < store.TextSubject || field > store.TextBody {
		return none, false, nil
	}
	query, exact := queryGrams(value)
	if query == "" {
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
	m, ok, err := textLookup(ctx, t, field, mbox, query, exact, uidValidity, uidNext)
	if err != nil && ctx.Err() == nil {
		// A broken index never fails a SEARCH: it scans instead (the
		// indexer replaces a damaged text.db).
		s.log.Warn("text index: lookup failed, scanning", "err", err)
		return none, false, nil
	}
	return m, ok, err
}

// textLookup reads the candidates of query in one field of a mailbox.
func textLookup(ctx context.Context, t *textDB, field store.TextField, mbox store.MailboxID, query string, exact bool, uidValidity uint32, uidNext store.UID) (store.TextMatches, bool, error) {
	var none store.TextMatches
	rows, err := t.db.QueryContext(ctx, candidatesQuery(ftsTables[field-1]), mbox, query)
	if err != nil {
		return none, false, fmt.Errorf("sqlite: text index: %w", err)
	}
	defer rows.Close()
	var hits, big []store.UID
	mark, known := store.UID(0), false
	for rows.Next() {
		var kind int
		var u store.UID
		var v uint32
		if err := rows.Scan(&kind, &u, &v); err != nil {
			return none, false, fmt.Errorf("sqlite: text index: %w", err)
		}
		switch kind {
		case 0:
			mark, known = u, v == uidValidity
		case 1:
			hits = append(hits, u)
		default:
			big = append(big, u)
		}
	}
	if err := rows.Err(); err != nil {
		return none, false, fmt.Errorf("sqlite: text index: %w", err)
	}
	if !known {
		return store.TextMatches{Candidates: store.UIDSet{{Lo: 1, Hi: max(1, uidNext-1)}}}, true, nil
	}
	slices.Sort(hits)
	slices.Sort(big)
	var m store.TextMatches
	m.Candidates = mergeUIDs(hits, big)
	if mark+1 < uidNext {
		m.Candidates = m.Candidates.AppendRange(mark+1, uidNext-1)
	}
	if exact {
		// A hit in a big doc is in text the index cut: not proof.
		m.Sure = store.UIDSet{}
		for i, j := 0, 0; i < len(hits); i++ {
			for j < len(big) && big[j] < hits[i] {
				j++
			}
			if j == len(big) || big[j] != hits[i] {
				m.Sure = m.Sure.AppendRange(hits[i], hits[i])
			}
		}
	}
	return m, true, nil
}

// mergeUIDs returns the runs of the union of two ascending lists.
func mergeUIDs(a, b []store.UID) store.UIDSet {
	set := store.UIDSet{}
	for i, j := 0, 0; i < len(a) || j < len(b); {
		var u store.UID
		if j == len(b) || (i < len(a) && a[i] <= b[j]) {
			u, i = a[i], i+1
		} else {
			u, j = b[j], j+1
		}
		set = set.AppendRange(u, u)
	}
	return set
}

// candidatesQuery is one statement, so one snapshot of text.db: the
// mailbox's mark (kind 0), the UIDs of its hits (kind 1) and of its big
// docs (kind 2).
func candidatesQuery(table string) string {
	return `SELECT 0, mark, uidvalidity FROM mbox WHERE id=?1
	UNION ALL SELECT 1, uid, 0 FROM msg WHERE mailbox_id=?1 AND doc IN (SELECT rowid FROM ` + table + ` WHERE ` + table + ` MATCH ?2)
	UNION ALL SELECT 2, uid, 0 FROM msg WHERE mailbox_id=?1 AND doc IN (SELECT id FROM doc WHERE big != 0)`
}

// textDoc is the indexed text of one blob, by field.
type textDoc struct {
	id     int64
	fields [7]string
	big    bool // some text was beyond the bounds: always scanned
}

// extractText reads what the index covers of one blob.
func extractText(r io.ReaderAt, info *message.Info) (textDoc, error) {
	var d textDoc
	d.fields[store.TextSubject-1] = info.Subject
	d.fields[store.TextFrom-1] = info.From
	d.fields[store.TextTo-1] = info.To
	d.fields[store.TextCc-1] = info.Cc
	d.fields[store.TextBcc-1] = info.Bcc
	hs := info.Body.HeaderSize()
	if hs > textHeaderLimit {
		hs, d.big = textHeaderLimit, true
	}
	hdr := make([]byte, hs)
	if _, err := r.ReadAt(hdr, 0); err != nil && err != io.EOF {
		return d, err
	}
	d.fields[store.TextHeader-1] = headerText(hdr)
	body, err := message.BodyText(r, info, textBodyLimit+1)
	if err != nil {
		return d, err
	}
	if len(body) > textBodyLimit {
		body, d.big = strings.ToValidUTF8(body[:textBodyLimit], ""), true
	}
	d.fields[store.TextBody-1] = body
	for i := range d.fields {
		d.fields[i] = strings.ToLower(d.fields[i])
	}
	return d, nil
}

// headerText is the value of every header line as the HEADER key matches
// it (internal/imap/server search.go): unfolded and RFC 2047-decoded, one
// per line. Names are left out: HEADER and TEXT match values only.
func headerText(h []byte) string {
	h = bytes.ReplaceAll(h, []byte("\r\n "), []byte(" "))
	h = bytes.ReplaceAll(h, []byte("\r\n\t"), []byte(" "))
	var b strings.Builder
	for _, line := range bytes.Split(h, []byte("\r\n")) {
		_, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		b.WriteString(message.DecodeHeader(strings.TrimSpace(string(val))))
		b.WriteByte('\n')
	}
	return b.String()
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
	d, err = extractText(r, info)
	return d, true, err
}

// insertDocs writes the docs and their grams; a doc text.db already has
// (indexed by a rebuild racing the indexer) is left as it is.
func insertDocs(ctx context.Context, tx *sql.Tx, docs []textDoc) error {
	for i := range docs {
		d := &docs[i]
		res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO doc(id, big) VALUES(?, ?)`, d.id, d.big)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			continue
		}
		if err := insertGrams(ctx, tx, d); err != nil {
			return err
		}
	}
	return nil
}

func insertGrams(ctx context.Context, tx *sql.Tx, d *textDoc) error {
	for i, t := range d.fields {
		toks := docTokens(t)
		if toks == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+ftsTables[i]+`(rowid, t) VALUES(?, ?)`, d.id, toks); err != nil {
			return fmt.Errorf("text index: %w", err)
		}
	}
	return nil
}

// RebuildTextIndex implements store.TextIndexRebuilder: in one text.db
// transaction the account's mailboxes lose their rows and marks, and the
// docs no other account shares lose their grams; the indexer then indexes
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
	err = t.write(ctx, func(tx *sql.Tx) error { return forgetMailboxes(ctx, tx, ids) })
	s.textKick.Store(true)
	return n, err
}
