package maillog_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/youju/youju/internal/maillog"
	"github.com/youju/youju/internal/web"
)

// serveChain wires the mail log as internal/cli's serve does: the text
// handler of the server's log over out, behind the admin console's
// event ring. plain: slog's own text handler, as before
// maillog.TextHandler, for comparison.
func serveChain(out io.Writer, plain bool) *web.EventLog {
	var h slog.Handler = maillog.NewTextHandler(out, slog.LevelInfo)
	if plain {
		h = slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo})
	}
	events := web.NewEventLog(h)
	maillog.SetLogger(slog.New(events))
	return events
}

// handlers are the text handlers the benchmarks compare.
var handlers = []struct {
	name  string
	plain bool
}{{"maillog", false}, {"slog", true}}

// mxLines are the two mail log lines of a message of the MX path: its
// local delivery, then its receipt.
func mxLines() {
	maillog.Delivered(maillog.Msg{ID: "2.5987870ad7ca", From: "alice@example.test", To: []string{"bob@example.test"}, Proto: "local"},
		"", maillog.Result{Code: 250, Text: "INBOX"})
	maillog.Received(maillog.Msg{ID: "2.5987870ad7ca", From: "alice@example.test", To: []string{"bob@example.test"},
		Remote: "192.0.2.1", Proto: "smtp", Size: 10240}, "ESMTPS")
}

// BenchmarkMailLine is the cost of one mail log line of the MX path
// (the mean of "delivered" and "received") through the handlers serve
// wires, to io.Discard: what the SMTP goroutine spends before the line
// is queued.
func BenchmarkMailLine(b *testing.B) {
	for _, h := range handlers {
		b.Run("handler="+h.name, func(b *testing.B) {
			serveChain(io.Discard, h.plain)
			b.Cleanup(func() { maillog.SetLogger(nil) })
			b.ReportAllocs()
			for b.Loop() {
				mxLines()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/line")
		})
	}
}

// BenchmarkMailLineToFile is BenchmarkMailLine through serve's Writer to
// a file, from 20 goroutines on 2 cores (the connections of bench/compare);
// cpu-ns/line is the process's CPU time per line, the Writer's goroutine
// and the write(2)s included.
func BenchmarkMailLineToFile(b *testing.B) {
	for _, h := range handlers {
		b.Run("handler="+h.name, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "log"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			w := maillog.NewWriter(f)
			serveChain(w, h.plain)
			b.Cleanup(func() { maillog.SetLogger(nil) })
			b.ReportAllocs()
			cpu0 := maillog.CPUTime()
			b.SetParallelism(10)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					mxLines()
				}
			})
			w.Close()
			b.ReportMetric(float64(maillog.CPUTime()-cpu0)/float64(2*b.N), "cpu-ns/line")
		})
	}
}
