package maillog

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/youju/youju/internal/testutil"
)

// gateOut is an output whose writes wait for the test: each write says
// it has started on entered, then waits for release.
type gateOut struct {
	entered chan string
	release chan struct{}
	mu      sync.Mutex
	writes  []string
}

func newGateOut() *gateOut {
	return &gateOut{entered: make(chan string, 100), release: make(chan struct{}, 100)}
}

func (g *gateOut) Write(p []byte) (int, error) {
	g.entered <- string(p)
	<-g.release
	g.mu.Lock()
	g.writes = append(g.writes, string(p))
	g.mu.Unlock()
	return len(p), nil
}

func recv(t *testing.T, c chan string) string {
	t.Helper()
	select {
	case s := <-c:
		return s
	case <-time.After(10 * time.Second): // a hang, not a timing
		t.Fatal("no write reached the output")
		return ""
	}
}

// TestWriterCoalesces: a line that finds the output idle is written at
// once, alone; the lines that come while that write is in progress go
// out together in the next one, in order; Close waits for them.
func TestWriterCoalesces(t *testing.T) {
	out := newGateOut()
	w := NewWriter(out)
	w.Write([]byte("line 0\n"))
	if got := recv(t, out.entered); got != "line 0\n" {
		t.Fatalf("first write %q", got)
	}
	var want strings.Builder
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&want, "line %d\n", i)
		w.Write([]byte(fmt.Sprintf("line %d\n", i)))
	}
	out.release <- struct{}{}
	if got := recv(t, out.entered); got != want.String() {
		t.Fatalf("second write %q, want %q", got, want.String())
	}
	out.release <- struct{}{}
	w.Close()
	if len(out.writes) != 2 {
		t.Fatalf("%d writes: %q", len(out.writes), out.writes)
	}
	// After Close a line goes straight out.
	out.release <- struct{}{}
	w.Write([]byte("late\n"))
	if len(out.writes) != 3 || out.writes[2] != "late\n" {
		t.Fatalf("after Close: %q", out.writes)
	}
}

// TestWriterKeepsEveryLine: many writers, lines bigger in total than the
// Writer holds (so some wait); after Close every line is out once, each
// writer's in its order, none torn.
func TestWriterKeepsEveryLine(t *testing.T) {
	out := &testutil.SyncBuffer{}
	w := NewWriter(out)
	const writers, lines = 8, 2000
	pad := strings.Repeat("x", 100)
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < lines; i++ {
				w.Write([]byte(fmt.Sprintf("%d %d %s\n", g, i, pad)))
			}
		}()
	}
	wg.Wait()
	w.Close()
	next := make([]int, writers)
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(got) != writers*lines {
		t.Fatalf("%d lines, want %d", len(got), writers*lines)
	}
	for _, l := range got {
		var g, i int
		var p string
		if _, err := fmt.Sscanf(l, "%d %d %s", &g, &i, &p); err != nil || p != pad || i != next[g] {
			t.Fatalf("line %q: writer %d expected %d", l, g, next[g])
		}
		next[g]++
	}
}

// BenchmarkLogLines writes a log line from many goroutines at once (as 20
// SMTP connections do), or from one, through slog's text handler to a
// file, straight and through a Writer; cpu-ns/line is the process's CPU
// time (getrusage, user and system, the Writer's goroutine included) per
// line.
func BenchmarkLogLines(b *testing.B) {
	for _, tc := range []struct {
		coalesce bool
		par      int // goroutines per core; 0: one goroutine in all
	}{{false, 10}, {true, 10}, {false, 0}, {true, 0}} {
		coalesce := tc.coalesce
		b.Run(fmt.Sprintf("writer=%v/goroutines=%d", coalesce, 2*tc.par), func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "log"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			var out io.Writer = f
			var w *Writer
			if coalesce {
				w = NewWriter(f)
				out = w
			}
			l := slog.New(slog.NewTextHandler(out, nil)).With("conn", "1f", "remote", "192.0.2.1")
			line := func() {
				Info(l, "spam verdict", slog.String("verdict", "ham"), slog.Float64("score", 0.5),
					slog.String("reasons", "NO_PTR(+1.5) DMARC_PASS(-1.0)"))
			}
			cpu0 := cpuTime()
			b.ResetTimer()
			if tc.par == 0 {
				for i := 0; i < b.N; i++ {
					line()
				}
			} else {
				b.SetParallelism(tc.par) // 20 goroutines on 2 cores, as 20 SMTP connections
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						line()
					}
				})
			}
			if w != nil {
				w.Close()
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/line")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
