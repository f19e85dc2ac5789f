package sqlite

import (
	"context"
	"database/sql"

	"github.com/youju/youju/internal/store/textterms"
)

// The vocabulary of the text index (textterms.Vocab) is kept in text.db,
// one row of new words per indexer batch. Readers bring it up to date
// within their text.db snapshot before searching it, so it holds at least
// every word their postings can have; a word it holds beyond that (the
// indexer's batch rolled back) costs a lookup that finds nothing.

// queryer is what syncVocab reads through: a read transaction's
// connection or the indexer's write transaction.
type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// syncVocab loads the rows appended since the last load.
func syncVocab(ctx context.Context, v *textterms.Vocab, q queryer) error {
	rows, err := q.QueryContext(ctx, `SELECT seq, words FROM vocab WHERE seq > ? ORDER BY seq`, v.Seq())
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var words []byte
		if err := rows.Scan(&seq, &words); err != nil {
			return err
		}
		v.Load(seq, string(words))
	}
	return rows.Err()
}
