package sqlite

import (
	"context"
	"database/sql"
	"sort"
	"strings"
	"sync"
	"unsafe"
)

// The vocabulary of the text index: every word (not CJK bigrams, looked up
// as they are) of every field and mailbox, to find the words that hold a
// piece of a SEARCH term. On disk it is appended to, one row of new words
// per indexer batch ("\x00"-separated: a word never holds "\x00"); in
// memory it is one string "\x00w1\x00w2\x00…\x00", searched with
// strings.Index (a few milliseconds for a million words) instead of a
// trigram index that would cost more than the postings of rare words.
//
// Readers bring it up to date within their text.db snapshot before
// searching it, so it holds at least every word their postings can have;
// a word it holds beyond that (the indexer's batch rolled back) costs a
// lookup that finds nothing.

type textVocab struct {
	mu    sync.Mutex
	seq   int64               // the last vocab row loaded
	buf   []byte              // "\x00w1\x00w2\x00…"
	offs  []int32             // start of each word in buf
	known map[string]struct{} // the words, to tell new ones
}

// queryer is what sync reads through: a read transaction's connection or
// the indexer's write transaction.
type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// sync loads the rows appended since the last load.
func (v *textVocab) sync(ctx context.Context, q queryer) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	rows, err := q.QueryContext(ctx, `SELECT seq, words FROM vocab WHERE seq > ? ORDER BY seq`, v.seq)
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
		for _, w := range strings.Split(string(words), "\x00") {
			v.addLocked(w)
		}
		v.seq = seq
	}
	return rows.Err()
}

func (v *textVocab) addLocked(w string) bool {
	if w == "" {
		return false
	}
	if v.known == nil {
		v.known = map[string]struct{}{}
		v.buf = []byte{0}
	}
	if _, ok := v.known[w]; ok {
		return false
	}
	v.offs = append(v.offs, int32(len(v.buf)))
	v.buf = append(v.buf, w...)
	v.buf = append(v.buf, 0)
	v.known[w] = struct{}{}
	return true
}

// addNew adds the words it lacks and returns them "\x00"-separated, for
// the vocab row of the batch ("" for none).
func (v *textVocab) addNew(words []string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var b strings.Builder
	for _, w := range words {
		if v.addLocked(w) {
			if b.Len() > 0 {
				b.WriteByte(0)
			}
			b.WriteString(w)
		}
	}
	return b.String()
}

// find returns the words that contain pattern (which may begin or end
// with "\x00" to anchor it at a word's start or end) and pass keep; false
// when more than max do.
func (v *textVocab) find(pattern string, keep func(w string) bool, max int) ([]string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	if len(v.buf) == 0 {
		return nil, true
	}
	buf := unsafe.String(&v.buf[0], len(v.buf)) // no copy: read-only under mu
	for at := 0; at < len(buf); {
		i := strings.Index(buf[at:], pattern)
		if i < 0 {
			break
		}
		pos := at + i
		if pattern[0] == 0 {
			pos++ // the match starts at the word
		}
		k := sort.Search(len(v.offs), func(k int) bool { return int(v.offs[k]) > pos }) - 1
		if k < 0 {
			at = pos + 1
			continue
		}
		start := int(v.offs[k])
		end := start + strings.IndexByte(buf[start:], 0)
		if w := buf[start:end]; keep(w) {
			if len(out) == max {
				return nil, false
			}
			out = append(out, strings.Clone(w))
		}
		at = end // next word
	}
	return out, true
}
