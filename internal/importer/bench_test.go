package importer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/youju/youju/internal/testutil"
)

// BenchmarkIMAPImportFromDovecot imports 2,000 messages of 10 KB from a
// local Dovecot into a fresh store per iteration and reports messages/s
// and MB/s (goal: ≥ 1,000 msg/s). The figure depends on the machine's
// load: quote it with the load average.
func BenchmarkIMAPImportFromDovecot(b *testing.B) {
	const n = 2000
	d := testutil.StartDovecot(b, func(md string) {
		body := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789\r\n", 133)
		for i := 0; i < n; i++ {
			m := fmt.Sprintf("From: a@example.org\r\nSubject: bench %d\r\nMessage-ID: <%d@bench>\r\n\r\n%s", i, i, body)
			os.WriteFile(filepath.Join(md, "cur", fmt.Sprintf("%d.M%d.bench:2,S", 1600000000+i, i)), []byte(m), 0o644)
		}
	})
	b.ResetTimer()
	var bytes int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st, a := openTestStore(b)
		dir := b.TempDir()
		b.StartTimer()
		s, err := pull(b, st, a.ID, d, dir, 0)
		if err != nil || s.Imported != n {
			b.Fatalf("%+v %v", s, err)
		}
		bytes += s.Bytes
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(n*b.N)/sec, "msg/s")
	b.ReportMetric(float64(bytes)/1e6/sec, "MB/s")
}
