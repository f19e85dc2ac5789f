package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/youju/youju/internal/blob"
	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// The text index of SEARCH (store.TextIndex). A background goroutine
// (textIndexer) indexes every blob once, after its delivery has been
// acknowledged, so the index costs the acknowledgement nothing; blobs
// above the high-water mark (meta fts_indexed) or queued in fts_pending are
// not indexed yet and are always candidates, so SEARCH stays exact while
// the indexer catches up (after a crash, or for mail stored before the
// index existed).
//
// What is indexed is what the IMAP server's scan matches on (RFC 9051
// §6.4.4), lower-cased with strings.ToLower as its matcher does: the
// decoded SUBJECT, FROM, TO, CC and BCC of message.Info, every header line
// unfolded and RFC 2047-decoded ("name: value"), and the decoded text of
// the text/* parts (message.BodyText). Chinese, Japanese and Korean text
// (written without spaces, where two-character words such as 发票 are the
// common query, too short for trigrams) is indexed as bigrams of adjacent
// CJK letters (fts_cjk_body, fts_cjk_hdr), everything else as trigrams (a
// CJK run is one placeholder there): each CJK character costs one entry
// instead of two. A term is looked up as the AND of its trigrams and its
// CJK bigrams; one with neither (one character, two Latin ones) narrows
// nothing, as it would match most mail anyway. Text beyond the bounds
// below is not indexed: such a blob goes to fts_big and is always a
// candidate, so the scan decides.

const (
	// textBodyLimit bounds the body text indexed per message.
	textBodyLimit = 1 << 20
	// textHeaderLimit bounds the header read per message.
	textHeaderLimit = 256 << 10
	// textBatch is how many blobs one indexer write indexes at most, and
	// textBatchBytes how much text: the write runs in the writer, between
	// deliveries, so it is kept short.
	textBatch      = 64
	textBatchBytes = 512 << 10
	// maxQueryGrams bounds the trigrams of one lookup: fewer still give
	// a superset, and each costs a doclist read.
	maxQueryGrams = 12
)

// ftsTables are the trigram tables by field (store.TextField - 1). The
// bigrams of the body are in fts_cjk_body (rowid: the blob id), those of
// the other fields in fts_cjk_hdr (rowid: blob id * 8 + field).
var ftsTables = []string{"fts_subject", "fts_from", "fts_to", "fts_cc", "fts_bcc", "fts_header", "fts_body"}

// cjkMark stands for a run of CJK letters in the trigram text.
const cjkMark = '\x01'

const ftsOpts = "content='', contentless_delete=1, detail=none"

// ftsMigration is the schema step that adds the text index.
func ftsMigration() string {
	var b strings.Builder
	for _, t := range ftsTables {
		// case_sensitive 1: the text is already lower-cased by Go, the
		// same folding as the matcher's; SQLite's own folding could
		// differ on a few characters and lose a match.
		fmt.Fprintf(&b, "CREATE VIRTUAL TABLE %s USING fts5(t, %s, tokenize='trigram case_sensitive 1');\n", t, ftsOpts)
	}
	// unicode61 keeps each space-separated bigram one token.
	for _, t := range []string{"fts_cjk_body", "fts_cjk_hdr"} {
		fmt.Fprintf(&b, "CREATE VIRTUAL TABLE %s USING fts5(t, %s, tokenize='unicode61 remove_diacritics 0');\n", t, ftsOpts)
	}
	b.WriteString(`CREATE TABLE fts_pending (blob_id INTEGER PRIMARY KEY);
CREATE TABLE fts_big (blob_id INTEGER PRIMARY KEY);
-- Maps index hits (blob ids) to a mailbox's UIDs without reading it all.
CREATE INDEX messages_blob ON messages(blob_id);
INSERT INTO meta(k, v) VALUES('fts_indexed', 0);
CREATE TRIGGER blobs_fts_delete AFTER DELETE ON blobs BEGIN
`)
	for _, t := range append(slices.Clone(ftsTables), "fts_cjk_body") {
		fmt.Fprintf(&b, "\tDELETE FROM %s WHERE rowid=old.id;\n", t)
	}
	b.WriteString("\tDELETE FROM fts_cjk_hdr WHERE rowid IN (old.id*8+1, old.id*8+2, old.id*8+3, old.id*8+4, old.id*8+5, old.id*8+6);\n")
	b.WriteString("\tDELETE FROM fts_pending WHERE blob_id=old.id;\n\tDELETE FROM fts_big WHERE blob_id=old.id;\nEND;\n")
	return b.String()
}

var _ store.TextIndex = (*Store)(nil)
var _ store.TextIndexRebuilder = (*Store)(nil)

// TextCandidates implements store.TextIndex.
func (s *Store) TextCandidates(ctx context.Context, acct store.AccountID, mbox store.MailboxID, field store.TextField, value string) ([]store.UID, bool, error) {
	if field < store.TextSubject || field > store.TextBody {
		return nil, false, nil
	}
	tri, bi := queryGrams(value)
	if tri == "" && bi == "" {
		return nil, false, nil
	}
	var hits []string
	if tri != "" {
		t := ftsTables[field-1]
		hits = append(hits, `m.blob_id IN (SELECT rowid FROM `+t+` WHERE `+t+` MATCH ?2)`)
	}
	switch {
	case bi == "":
	case field == store.TextBody:
		hits = append(hits, `m.blob_id IN (SELECT rowid FROM fts_cjk_body WHERE fts_cjk_body MATCH ?3)`)
	default:
		hits = append(hits, `m.blob_id IN (SELECT rowid>>3 FROM fts_cjk_hdr WHERE fts_cjk_hdr MATCH ?3 AND rowid&7 = ?4)`)
	}
	if err := s.checkMailbox(ctx, acct, mbox); err != nil {
		return nil, false, err
	}
	uids, err := queryUIDs(ctx, s.rdb, candidatesQuery(hits), mbox, tri, bi, int(field))
	if err != nil {
		return nil, false, fmt.Errorf("sqlite: text index: %w", err)
	}
	slices.Sort(uids)
	return uids, true, nil
}

// candidatesQuery is one statement, so one snapshot: the hits (each
// an IN list the plan seeks with, never a scan of the mailbox), what is
// not indexed yet (above the mark, queued) and what is beyond the bounds.
func candidatesQuery(hits []string) string {
	return `SELECT m.uid FROM messages m INDEXED BY messages_blob
		WHERE ` + strings.Join(hits, " AND ") + ` AND m.mailbox_id=?1
	UNION SELECT m.uid FROM messages m INDEXED BY messages_blob
		WHERE m.blob_id > (SELECT v FROM meta WHERE k='fts_indexed') AND m.mailbox_id=?1
	UNION SELECT m.uid FROM messages m INDEXED BY messages_blob
		WHERE m.blob_id IN (SELECT blob_id FROM fts_pending UNION ALL SELECT blob_id FROM fts_big) AND m.mailbox_id=?1`
}

// queryGrams returns the FTS5 queries of value (lower-cased, as the
// matcher of RFC 9051 §6.4.4 folds): the AND of its trigrams outside CJK
// runs and the AND of its CJK bigrams, each of at most maxQueryGrams spread
// over the term (fewer still give a superset; each costs a doclist read).
// "" for none.
func queryGrams(value string) (tri, bi string) {
	r := []rune(trigramText(strings.ToLower(value)))
	var tris []string
	for i := 0; i+3 <= len(r); i++ {
		if !slices.Contains(r[i:i+3], cjkMark) {
			tris = append(tris, string(r[i:i+3]))
		}
	}
	var bis []string
	for _, g := range strings.Fields(cjkBigrams(strings.ToLower(value))) {
		bis = append(bis, g)
	}
	return andQuery(tris), andQuery(bis)
}

// andQuery is the FTS5 AND of the distinct grams, at most maxQueryGrams
// of them, first and last included.
func andQuery(grams []string) string {
	if len(grams) == 0 {
		return ""
	}
	step := max(1, (len(grams)+maxQueryGrams-1)/maxQueryGrams)
	seen := map[string]bool{}
	var b strings.Builder
	add := func(g string) {
		if seen[g] {
			return
		}
		seen[g] = true
		if b.Len() > 0 {
			b.WriteString(" AND ")
		}
		b.WriteString(`"` + strings.ReplaceAll(g, `"`, `""`) + `"`)
	}
	for i := 0; i < len(grams); i += step {
		add(grams[i])
	}
	add(grams[len(grams)-1])
	return b.String()
}

// trigramText is s with each run of CJK letters replaced by cjkMark.
func trigramText(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case !isCJK(r):
			b.WriteRune(r)
			in = false
		case !in:
			b.WriteRune(cjkMark)
			in = true
		}
	}
	return b.String()
}

// isCJK reports whether r is a letter of a script written without spaces
// between words, which the bigram table covers.
func isCJK(r rune) bool {
	return unicode.IsLetter(r) && unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// cjkBigrams returns the bigrams of adjacent CJK letters of s, separated
// by spaces (each one token of the unicode61 tokenizer).
func cjkBigrams(s string) string {
	var b strings.Builder
	var prev rune
	for _, r := range s {
		if isCJK(r) {
			if prev != 0 {
				b.WriteRune(prev)
				b.WriteRune(r)
				b.WriteByte(' ')
			}
			prev = r
		} else {
			prev = 0
		}
	}
	return b.String()
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

// headerText is every header line as the HEADER key matches it
// (internal/imap/server search.go): unfolded, "name: value" with the value
// RFC 2047-decoded, one per line.
func headerText(h []byte) string {
	h = bytes.ReplaceAll(h, []byte("\r\n "), []byte(" "))
	h = bytes.ReplaceAll(h, []byte("\r\n\t"), []byte(" "))
	var b strings.Builder
	for _, line := range bytes.Split(h, []byte("\r\n")) {
		name, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		b.Write(bytes.TrimSpace(name))
		b.WriteString(": ")
		b.WriteString(message.DecodeHeader(strings.TrimSpace(string(val))))
		b.WriteByte('\n')
	}
	return b.String()
}

// runTextIndexer is false in tests that run indexSome themselves.
var runTextIndexer = true

// textIndexer indexes new and queued blobs until the store closes.
func (s *Store) textIndexer() {
	defer close(s.idxDone)
	idle := time.NewTicker(200 * time.Millisecond)
	defer idle.Stop()
	for {
		n, err := s.indexSome(context.Background())
		if errors.Is(err, store.ErrClosed) {
			return
		}
		if err != nil {
			s.log.Warn("text index", "err", err)
		}
		if n > 0 && err == nil {
			continue
		}
		select {
		case <-s.closing:
			return
		case <-idle.C:
		}
	}
}

// blobToIndex is a blob row the indexer reads.
type blobToIndex struct {
	id      int64
	ref     blob.Ref
	info    []byte
	pending bool
}

// indexSome indexes up to textBatch blobs, queued ones first, and returns
// how many it took.
func (s *Store) indexSome(ctx context.Context) (int, error) {
	todo, err := s.blobsToIndex(ctx)
	if err != nil || len(todo) == 0 {
		return 0, err
	}
	docs := make([]textDoc, 0, len(todo))
	size := 0
	for i, b := range todo {
		if size > textBatchBytes {
			todo = todo[:i] // the rest in the next write
			break
		}
		d, err := s.blobText(b)
		if err != nil {
			// Unreadable (removed since it was listed, or damaged):
			// leave it to the scan rather than stop the indexer.
			d = textDoc{big: true}
		}
		d.id = b.id
		for _, f := range d.fields {
			size += len(f)
		}
		docs = append(docs, d)
	}
	// Deliveries first: the index waits while the writer has requests.
	for i := 0; i < 50 && len(s.ops) > 0; i++ {
		select {
		case <-s.closing:
			return 0, store.ErrClosed
		case <-time.After(2 * time.Millisecond):
		}
	}
	mark := int64(-1)
	if !todo[0].pending {
		mark = todo[len(todo)-1].id
	}
	pending := todo[0].pending
	err = s.do(ctx, nil, func(w *wtx) error { return w.insertText(docs, mark, pending) })
	if err != nil && !errors.Is(err, store.ErrClosed) {
		// Text the index refuses must not stop it for all later mail:
		// those blobs are left to the scan.
		s.log.Warn("text index: blobs left to the scan", "first", docs[0].id, "n", len(docs), "err", err)
		for i := range docs {
			docs[i] = textDoc{id: docs[i].id, big: true}
		}
		err = s.do(ctx, nil, func(w *wtx) error { return w.insertText(docs, mark, pending) })
	}
	return len(todo), err
}

// blobsToIndex lists the next blobs to index: queued ones, else those
// above the high-water mark.
func (s *Store) blobsToIndex(ctx context.Context) ([]blobToIndex, error) {
	const cols = `SELECT b.id, b.segment, b.off, b.length, b.info FROM blobs b `
	rows, err := s.rdb.QueryContext(ctx, cols+`JOIN fts_pending p ON p.blob_id=b.id ORDER BY p.blob_id LIMIT ?`, textBatch)
	if err != nil {
		return nil, err
	}
	todo, err := scanBlobsToIndex(rows, true)
	if err != nil || len(todo) > 0 {
		return todo, err
	}
	rows, err = s.rdb.QueryContext(ctx, cols+`WHERE b.id > (SELECT v FROM meta WHERE k='fts_indexed') ORDER BY b.id LIMIT ?`, textBatch)
	if err != nil {
		return nil, err
	}
	return scanBlobsToIndex(rows, false)
}

func scanBlobsToIndex(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close() error
}, pending bool) ([]blobToIndex, error) {
	defer rows.Close()
	var out []blobToIndex
	for rows.Next() {
		b := blobToIndex{pending: pending}
		if err := rows.Scan(&b.id, &b.ref.Segment, &b.ref.Offset, &b.ref.Length, &b.info); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// blobText extracts the indexed text of one blob.
func (s *Store) blobText(b blobToIndex) (textDoc, error) {
	info, err := message.UnmarshalInfo(b.info)
	if err != nil {
		return textDoc{}, err
	}
	r, err := s.blobs.Open(b.ref)
	if err != nil {
		return textDoc{}, err
	}
	defer r.Close()
	return extractText(r, info)
}

// insertText writes the docs' index entries, in the writer. A blob deleted
// since it was read is skipped (the trigger has already run for it); mark
// >= 0 moves the high-water mark, pending clears the queue entries.
func (w *wtx) insertText(docs []textDoc, mark int64, pending bool) error {
	for _, d := range docs {
		var alive int
		if err := w.queryRow(`SELECT count(*) FROM blobs WHERE id=?`, d.id).Scan(&alive); err != nil {
			return err
		}
		if alive == 0 {
			continue
		}
		if err := w.insertDoc(&d); err != nil {
			return err
		}
		if pending {
			if _, err := w.exec(`DELETE FROM fts_pending WHERE blob_id=?`, d.id); err != nil {
				return err
			}
		}
	}
	if mark >= 0 {
		if _, err := w.exec(`UPDATE meta SET v=? WHERE k='fts_indexed' AND v < ?`, mark, mark); err != nil {
			return err
		}
	}
	return nil
}

func (w *wtx) insertDoc(d *textDoc) error {
	for i, t := range d.fields {
		if tt := trigramText(t); len(tt) >= 3 {
			if _, err := w.exec(`INSERT INTO `+ftsTables[i]+`(rowid, t) VALUES(?, ?)`, d.id, tt); err != nil {
				return fmt.Errorf("text index: %w", err)
			}
		}
		bg := cjkBigrams(t)
		if bg == "" {
			continue
		}
		q, id := `INSERT INTO fts_cjk_hdr(rowid, t) VALUES(?, ?)`, d.id*8+int64(i+1)
		if store.TextField(i+1) == store.TextBody {
			q, id = `INSERT INTO fts_cjk_body(rowid, t) VALUES(?, ?)`, d.id
		}
		if _, err := w.exec(q, id, bg); err != nil {
			return fmt.Errorf("text index: %w", err)
		}
	}
	if d.big {
		if _, err := w.exec(`INSERT OR IGNORE INTO fts_big(blob_id) VALUES(?)`, d.id); err != nil {
			return err
		}
	}
	return nil
}

// RebuildTextIndex implements store.TextIndexRebuilder: in one write, the
// account's blobs below the high-water mark lose their entries and are
// queued; the indexer then indexes them again (searches scan them
// meanwhile). Blobs shared with another account are re-indexed too, which
// is harmless.
func (s *Store) RebuildTextIndex(ctx context.Context, acct store.AccountID) (int, error) {
	var n int
	err := s.do(ctx, nil, func(w *wtx) error {
		const ids = `SELECT DISTINCT m.blob_id FROM messages m JOIN mailboxes x ON x.id=m.mailbox_id
			WHERE x.account_id=? AND m.blob_id <= (SELECT v FROM meta WHERE k='fts_indexed')`
		for _, t := range append(slices.Clone(ftsTables), "fts_cjk_body") {
			if _, err := w.exec(`DELETE FROM `+t+` WHERE rowid IN (`+ids+`)`, acct); err != nil {
				return err
			}
		}
		if _, err := w.exec(`DELETE FROM fts_cjk_hdr WHERE rowid IN (SELECT i.blob_id*8 + f.value FROM (`+ids+`) i, json_each('[1,2,3,4,5,6]') f)`, acct); err != nil {
			return err
		}
		if _, err := w.exec(`DELETE FROM fts_big WHERE blob_id IN (`+ids+`)`, acct); err != nil {
			return err
		}
		res, err := w.exec(`INSERT OR IGNORE INTO fts_pending(blob_id) `+ids, acct)
		if err != nil {
			return err
		}
		k, err := res.RowsAffected()
		n = int(k)
		return err
	})
	return n, err
}
