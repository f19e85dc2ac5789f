package sqlite

import (
	"fmt"
	"testing"

	"github.com/youju/youju/internal/store"
)

// BenchmarkMailboxKeywords100k lists the keywords of a 100,000-message
// mailbox where one message in five carries one of 20 keywords, as SELECT
// does for its FLAGS response. It runs on a store of its own so that the
// keywords do not change the mailbox of the other benchmarks.
func BenchmarkMailboxKeywords100k(b *testing.B) {
	s := openStore(b, b.TempDir())
	a := newAccount(b, s, "kw@example.com")
	mb := inbox(b, s, a.ID)
	const batch = 10_000
	for i := 0; i < bigN; i += batch {
		datas := make([][]byte, batch)
		for j := range datas {
			datas[j] = testMessage(i + j)
		}
		bulkDeliver(b, s, a.ID, mb.ID, datas, func(j int) store.Flags {
			if (i+j)%5 != 0 {
				return store.Flags{System: store.FlagSeen}
			}
			return store.Flags{Keywords: []string{"$Forwarded", fmt.Sprintf("$label%d", (i+j)%20)}}
		})
	}
	if kws, err := s.MailboxKeywords(ctx, a.ID, mb.ID); err != nil || len(kws) != 5 {
		b.Fatalf("%q %v", kws, err) // $Forwarded and $label0, 5, 10, 15
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.MailboxKeywords(ctx, a.ID, mb.ID); err != nil {
			b.Fatal(err)
		}
	}
}
