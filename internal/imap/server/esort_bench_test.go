package server

import (
	"fmt"
	"testing"
)

// BenchmarkESort measures the extended SORT (RFC 5267) on the benchmark
// INBOX (100k messages by default). "Cold" runs alternate between two
// programs that find every message, ALL and UID 1:*, both answered by the
// index, so that no run is answered
// from the session's result cache: each pays for the whole search and
// sort, as the first page does. "Pages" walks the result 50 at a time with
// one program, as a client paging a sorted mailbox does. Plain is the
// unextended SORT, which returns every number, for comparison: PARTIAL
// must not cost more.
func BenchmarkESort(b *testing.B) {
	ts := benchServer(b)
	programs := [2]string{"ALL", "UID 1:*"}
	for _, key := range []string{"DATE", "SUBJECT", "FROM", "REVERSE ARRIVAL"} {
		for _, ret := range []string{"RETURN (PARTIAL 1:50) ", "RETURN (COUNT) ", ""} {
			name := fmt.Sprintf("Cold/%s/%s", key, map[string]string{"": "Plain", "RETURN (COUNT) ": "Count", "RETURN (PARTIAL 1:50) ": "Partial"}[ret])
			b.Run(name, func(b *testing.B) {
				c := benchClient(b, ts)
				i := 0
				for b.Loop() {
					i++
					c.run(b, fmt.Sprintf("SORT %s(%s) UTF-8 %s", ret, key, programs[i%2]))
				}
			})
		}
		b.Run("Pages/"+key, func(b *testing.B) {
			c := benchClient(b, ts)
			c.run(b, "SORT RETURN (COUNT) ("+key+") UTF-8 ALL") // the first page
			i := 0
			b.ResetTimer()
			for b.Loop() {
				c.run(b, fmt.Sprintf("SORT RETURN (PARTIAL %d:%d) (%s) UTF-8 ALL", i*50+1, i*50+50, key))
				i++
			}
		})
	}
	b.Run("SearchPartialLast", func(b *testing.B) {
		c := benchClient(b, ts)
		for b.Loop() {
			c.run(b, "UID SEARCH RETURN (PARTIAL -1:-50) UNSEEN")
		}
	})
}
