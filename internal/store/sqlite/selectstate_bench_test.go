package sqlite

import (
	"testing"
)

// BenchmarkSelectState100k is what SELECT asks of a 100,000-message
// mailbox: from the cache (warm) and from SQL (the mailbox not cached,
// as after a start). Goals: <= 0.5 ms and <= 50 ms for the whole SELECT.
func BenchmarkSelectState100k(b *testing.B) {
	s, a, mb := bigMailbox(b)
	if _, err := s.box(ctx, a.ID, mb.ID); err != nil {
		b.Fatal(err)
	}
	b.Run("cache", func(b *testing.B) {
		for b.Loop() {
			if st, err := s.SelectState(ctx, a.ID, mb.ID); err != nil || st.Len() != bigN || st.FirstUnseen == 0 {
				b.Fatal(err, st.Len())
			}
		}
	})
	b.Run("sqlite", func(b *testing.B) {
		for b.Loop() {
			if st, _, err := s.selectStateSQL(ctx, a.ID, mb.ID); err != nil || st.Len() != bigN || st.FirstUnseen == 0 {
				b.Fatal(err, st.Len())
			}
		}
	})
}

// BenchmarkCacheLoad100k loads the flag cache of a 100,000-message
// mailbox, as the first listing or search after a start does (in the
// background after a SELECT).
func BenchmarkCacheLoad100k(b *testing.B) {
	s, a, mb := bigMailbox(b)
	for b.Loop() {
		s.cache.reset()
		if bx, err := s.box(ctx, a.ID, mb.ID); err != nil || len(bx.msgs) != bigN {
			b.Fatal(err)
		}
	}
}
