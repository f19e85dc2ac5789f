package server

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"math/rand"
	"mime"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/postgres"
)

// The text benchmarks run on their own INBOX of benchMessages() messages of
// a few KB each, a third with Chinese text (UTF-8 or GB18030), in 8bit,
// QP and base64, so that the index's size and speed are those of real
// mail rather than of one repeated line. YOUJU_TEXT_BENCH_DIR keeps the
// store across runs.
var (
	textBenchOnce sync.Once
	textBenchTS   *testServer
	textBenchScan *testServer
	textBenchErr  error
	textVocab     = newBenchVocab()
)

// benchVocab is a Zipf-distributed vocabulary of made-up Latin words and
// two-character Chinese words.
type benchVocab struct {
	latin, han []string
}

func newBenchVocab() *benchVocab {
	r := rand.New(rand.NewSource(1))
	v := &benchVocab{}
	// Letters drawn with their frequency in English text, words of 2 to
	// 10 letters: about as many distinct trigrams as real text has.
	const freq = "eeeeeeeeeeeetttttttttaaaaaaaaoooooooiiiiiiinnnnnnnsssssshhhhhhrrrrrrddddllllcccuuummmwwffggyyppbbvkjxqz"
	for len(v.latin) < 20000 {
		b := make([]byte, 2+r.Intn(9))
		for i := range b {
			b[i] = freq[r.Intn(len(freq))]
		}
		v.latin = append(v.latin, string(b))
	}
	for len(v.han) < 6000 {
		v.han = append(v.han, string([]rune{rune(0x4E00 + r.Intn(3000)), rune(0x4E00 + r.Intn(3000))}))
	}
	return v
}

func (v *benchVocab) text(r *rand.Rand, z *rand.Zipf, han bool, n int) string {
	var b strings.Builder
	for i := range n {
		if han {
			b.WriteString(v.han[z.Uint64()])
			if i%12 == 11 {
				b.WriteString("，")
			}
			continue
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(v.latin[z.Uint64()])
	}
	return b.String()
}

func textBenchMsg(r *rand.Rand, z *rand.Zipf, i int) string {
	han := i%3 == 0
	var b strings.Builder
	name := textVocab.text(r, z, han, 2)
	fmt.Fprintf(&b, "From: %s <u%d@example.com>\r\nTo: alice@example.org\r\n", mime.BEncoding.Encode("UTF-8", name), i%5000)
	if i%4 == 0 {
		fmt.Fprintf(&b, "Cc: u%d@example.net\r\n", i%777)
	}
	fmt.Fprintf(&b, "Subject: %s\r\nDate: Mon, 2 Nov 2026 10:00:00 +0800\r\nMessage-ID: <%d@bench.example.com>\r\nMIME-Version: 1.0\r\n",
		mime.BEncoding.Encode("UTF-8", textVocab.text(r, z, han, 3+r.Intn(5))), i)
	body := textVocab.text(r, z, han, 150+r.Intn(450))
	switch i % 4 {
	case 0:
		fmt.Fprintf(&b, "Content-Type: text/plain; charset=GB18030\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n",
			wrap76(base64.StdEncoding.EncodeToString([]byte(gb18030(body)))))
	case 1:
		var q strings.Builder
		w := quotedprintable.NewWriter(&q)
		w.Write([]byte(body))
		w.Close()
		fmt.Fprintf(&b, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n%s\r\n", q.String())
	default:
		fmt.Fprintf(&b, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n", body)
	}
	return b.String()
}

func wrap76(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s)
	return b.String()
}

func textBenchServers(b *testing.B) (*testServer, *testServer) {
	textBenchOnce.Do(func() {
		dir := os.Getenv("YOUJU_TEXT_BENCH_DIR")
		if dir == "" {
			dir, textBenchErr = os.MkdirTemp("", "youju-text-bench")
			if textBenchErr != nil {
				return
			}
		}
		textBenchTS, textBenchErr = fillTextBench(b, dir, benchMessages())
		if textBenchErr != nil {
			return
		}
		textBenchScan, textBenchErr = serveBench(scanOnly{textBenchTS.st}, textBenchTS.acct)
		if textBenchErr != nil {
			return
		}
		reportIndexSize(b, dir, textBenchTS.st)
	})
	if textBenchErr != nil {
		b.Fatal(textBenchErr)
	}
	return textBenchTS, textBenchScan
}

func fillTextBench(b *testing.B, dir string, n int) (*testServer, error) {
	start := time.Now()
	st, acct, inbox, err := fillInbox(dir, n, 16, func(w int) func(int) ([]byte, store.Flags) {
		r := rand.New(rand.NewSource(int64(w)))
		z := rand.NewZipf(r, 1.1, 20, uint64(len(textVocab.han)-1)) // han is the shorter list
		return func(i int) ([]byte, store.Flags) { return []byte(textBenchMsg(r, z, i)), store.Flags{} }
	})
	if err != nil {
		return nil, err
	}
	b.Logf("delivered in %v", time.Since(start))
	waitIndexed(b, st, acct.ID, inbox.ID)
	b.Logf("delivered and indexed in %v", time.Since(start))
	if c, ok := st.(interface{ CompactTextIndex(context.Context) error }); ok {
		if err := c.CompactTextIndex(context.Background()); err != nil {
			return nil, err
		}
	}
	b.Logf("delivered, indexed and compacted in %v", time.Since(start))
	return serveBench(st, acct)
}

// reportIndexSize logs the text index's size (mail/text.db, pages in
// use) against the mail's (the stored messages' bytes).
func reportIndexSize(b *testing.B, dir string, st store.Store) {
	if ps, ok := st.(*postgres.Store); ok {
		idx, mail, err := ps.TextIndexSize(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("mail %.1f MB, text index %.1f MB (%.1f%%)", float64(mail)/1e6, float64(idx)/1e6, 100*float64(idx)/float64(mail))
		return
	}
	idx, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "index.db")+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	defer idx.Close()
	var mail int64
	if err := idx.QueryRow(`SELECT SUM(length) FROM blobs`).Scan(&mail); err != nil {
		b.Fatal(err)
	}
	txt, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "text.db")+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	defer txt.Close()
	var pages, free, size int64
	if err := txt.QueryRow(`SELECT * FROM pragma_page_count, pragma_freelist_count, pragma_page_size`).Scan(&pages, &free, &size); err != nil {
		b.Fatal(err)
	}
	used := (pages - free) * size
	b.Logf("mail %.1f MB, text index %.1f MB (%.1f%%)", float64(mail)/1e6, float64(used)/1e6, 100*float64(used)/float64(mail))
	rows, err := txt.Query(`SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 8`)
	if err == nil {
		defer rows.Close()
		for rows.Next() {
			var name string
			var n int64
			rows.Scan(&name, &n)
			b.Logf("  %s %.1f MB", name, float64(n)/1e6)
		}
	}
}

// BenchmarkTextSearch100k times each text key of SEARCH on the big INBOX,
// answered with the text index and by a scan (the same store behind a
// server that does not see the index).
func BenchmarkTextSearch100k(b *testing.B) {
	ts, scan := textBenchServers(b)
	progs := []struct{ name, cmd string }{
		{"SUBJECT", "UID SEARCH SUBJECT " + longWord(300)},
		{"FROM", "UID SEARCH FROM u1234@"},
		{"BODY", "UID SEARCH BODY " + longWord(2000)},
		{"BODY-many", "UID SEARCH BODY " + commonWord(5)},
		{"BODY-3-many", "UID SEARCH BODY " + commonWord(5)[:3]},
		{"TO", "UID SEARCH TO alice@"},
		{"CC", "UID SEARCH CC u12@"},
		{"BCC", "UID SEARCH BCC nobody"},
		{"HEADER", "UID SEARCH HEADER Message-ID <4242@"},
		{"TEXT", "UID SEARCH TEXT " + longWord(1500)},
		{"BODY-CJK-2", fmt.Sprintf("UID SEARCH CHARSET UTF-8 BODY {6+}\r\n%s", textVocab.han[500])},
		{"SUBJECT-CJK-2", fmt.Sprintf("UID SEARCH CHARSET UTF-8 SUBJECT {6+}\r\n%s", textVocab.han[100])},
	}
	for _, side := range []struct {
		name string
		ts   *testServer
	}{{"index", ts}, {"scan", scan}} {
		c := benchClient(b, side.ts)
		// A scan of 100k bodies takes longer than the harness's 10 s.
		c.deadline = time.Now().Add(time.Hour)
		c.conn.SetReadDeadline(c.deadline)
		for _, p := range progs {
			b.Run(side.name+"/"+p.name, func(b *testing.B) {
				hits := len(strings.Fields(c.ok(p.cmd)[0])) - 2
				for b.Loop() {
					// Another search in between, untimed: the session's
					// result cache (resultcache.go) must not answer.
					b.StopTimer()
					c.run(b, "UID SEARCH UID 1 SUBJECT zz")
					b.StartTimer()
					c.run(b, p.cmd)
				}
				b.ReportMetric(float64(hits), "hits")
			})
		}
	}
}

// commonWord is the first word of at least 5 letters from rank on: in
// thousands of messages.
func commonWord(rank int) string {
	for _, w := range textVocab.latin[rank:] {
		if len(w) >= 5 {
			return w
		}
	}
	return textVocab.latin[rank]
}

// longWord is the first word of at least 7 letters from rank on: a term as
// selective as a real one (short words are inside many others).
func longWord(rank int) string {
	for _, w := range textVocab.latin[rank:] {
		if len(w) >= 7 {
			return w
		}
	}
	return textVocab.latin[rank]
}
