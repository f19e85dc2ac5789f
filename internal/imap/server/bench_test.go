package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/youju/youju/internal/store"
)

// The benchmarks run on an INBOX of benchMessages messages (the issue's
// 100k by default; YOUJU_BENCH_MESSAGES overrides it). The store is filled
// once per run, or kept in YOUJU_BENCH_DIR across runs.
var (
	benchOnce sync.Once
	benchTS   *testServer
	benchErr  error
)

func benchMessages() int {
	if n, err := strconv.Atoi(os.Getenv("YOUJU_BENCH_MESSAGES")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

func benchMsg(i int) string {
	return fmt.Sprintf("From: Sender %d <s%d@example.com>\r\nTo: alice@example.org\r\nSubject: benchmark message %d\r\n"+
		"Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <%d@bench.example.com>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
		"Hello, this is message %d.\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello, this is message %d.</p>\r\n--b--\r\n", i, i, i, i, i, i)
}

// benchServer starts (once) a server on a store with the big INBOX; a
// third of the messages are \Seen... rather: every third is unseen.
func benchServer(b *testing.B) *testServer {
	benchOnce.Do(func() {
		dir := os.Getenv("YOUJU_BENCH_DIR")
		if dir == "" {
			dir, benchErr = os.MkdirTemp("", "youju-imap-bench")
			if benchErr != nil {
				return
			}
		}
		benchTS, benchErr = fillBenchStore(dir, benchMessages())
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchTS
}

func fillBenchStore(dir string, n int) (*testServer, error) {
	st, acct, _, err := fillInbox(dir, n, 32, func(int) func(int) ([]byte, store.Flags) {
		return func(i int) ([]byte, store.Flags) {
			var f store.SysFlags
			if i%3 != 0 {
				f = store.FlagSeen
			}
			return []byte(benchMsg(i)), store.Flags{System: f}
		}
	})
	if err != nil {
		return nil, err
	}
	return serveBench(st, acct)
}

// benchClient logs in and selects INBOX.
func benchClient(b *testing.B, ts *testServer) *client {
	c := ts.login(b)
	c.ok("SELECT INBOX")
	return c
}

// run sends cmd and counts the response lines until the tagged one.
func (c *client) run(b *testing.B, cmd string) int {
	c.n++
	tag := "b" + strconv.Itoa(c.n)
	c.send(tag + " " + cmd)
	lines := 0
	for {
		l := c.readResponse()
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				b.Fatalf("%s: %s", cmd, l)
			}
			return lines
		}
		lines++
	}
}

// BenchmarkSelect100k is a warm SELECT (the mailbox's flag cache loaded).
// Besides the wall time, which on a shared machine is mostly waiting for
// a core, it reports the process's CPU time per SELECT (server and
// client), which the load does not inflate.
func BenchmarkSelect100k(b *testing.B) {
	c := benchClient(b, benchServer(b))
	// The first SELECT loads the flag cache in the background; a listing
	// waits for that load, so the timed SELECTs are the warm ones.
	ts := benchTS
	m, err := ts.st.Mailbox(context.Background(), ts.acct.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	errStop := errors.New("stop")
	if err := ts.st.ListMessages(context.Background(), ts.acct.ID, m.ID, store.ListOptions{}, func(*store.Message) error { return errStop }); err != errStop {
		b.Fatal(err)
	}
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		c.run(b, "SELECT INBOX")
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

func BenchmarkUIDFetchAllFlags(b *testing.B) {
	ts := benchServer(b)
	c := benchClient(b, ts)
	b.ResetTimer()
	for b.Loop() {
		if n := c.run(b, "UID FETCH 1:* (UID FLAGS)"); n < benchMessages() {
			b.Fatalf("%d responses", n)
		}
	}
}

func BenchmarkFetchLast50EnvelopeStructure(b *testing.B) {
	c := benchClient(b, benchServer(b))
	n := benchMessages()
	cmd := fmt.Sprintf("FETCH %d:* (UID ENVELOPE BODYSTRUCTURE RFC822.SIZE)", n-49)
	b.ResetTimer()
	for b.Loop() {
		if got := c.run(b, cmd); got != 50 {
			b.Fatalf("%d responses", got)
		}
	}
}

func BenchmarkUIDSearchUnseen(b *testing.B) {
	c := benchClient(b, benchServer(b))
	b.ResetTimer()
	for b.Loop() {
		c.run(b, "UID SEARCH UNSEEN")
	}
}

func BenchmarkUIDFetchAllEnvelope(b *testing.B) {
	c := benchClient(b, benchServer(b))
	b.ResetTimer()
	for b.Loop() {
		if n := c.run(b, "UID FETCH 1:* (ENVELOPE)"); n < benchMessages() {
			b.Fatalf("%d responses", n)
		}
	}
}

// BenchmarkSelect100kCold is the first SELECT after the store is opened
// (the server started): nothing of the mailbox is in memory. The store is
// reopened, and the client logs in, outside the timed part.
func BenchmarkSelect100kCold(b *testing.B) {
	dir := os.Getenv("YOUJU_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	} else {
		// Not the directory of benchServer, whose store holds its lock.
		dir = filepath.Join(dir, "cold")
	}
	var ts *testServer
	stop := func() {
		if ts != nil {
			ts.srv.Shutdown(context.Background())
			ts.st.Close()
		}
	}
	defer stop()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		stop()
		var err error
		if ts, err = fillBenchStore(dir, benchMessages()); err != nil {
			b.Fatal(err)
		}
		c := ts.login(b)
		b.StartTimer()
		if n := c.run(b, "SELECT INBOX"); n < 5 {
			b.Fatalf("%d responses", n)
		}
		b.StopTimer()
		c.conn.Close()
		b.StartTimer()
	}
}

// BenchmarkSearchSubjectNumber is bench/compare's SEARCH SUBJECT on the
// big INBOX: a common word and a number that is also a prefix of others
// ("message 4242" is in 11 subjects), answered with the text index.
func BenchmarkSearchSubjectNumber(b *testing.B) {
	ts := benchServer(b)
	inbox, err := ts.st.Mailbox(context.Background(), ts.acct.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	waitIndexed(b, ts.st, ts.acct.ID, inbox.ID)
	c := benchClient(b, ts)
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c.run(b, fmt.Sprintf(`UID SEARCH SUBJECT "message %d"`, 4242+i%100))
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}
