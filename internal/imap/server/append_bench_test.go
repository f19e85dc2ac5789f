package server

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// The APPEND benchmarks fill one INBOX with appendBenchN messages of
// about 10 KB over one connection, as the APPEND fill figure
// does, and report messages per second.
const appendBenchN = 5000

// appendBenchMsg is message i, padded to about 10 KB.
func appendBenchMsg(i int) string {
	body := strings.Repeat("All work and no play makes Jack a dull boy, message "+fmt.Sprint(i)+".\r\n", 200)
	return fmt.Sprintf("From: s%d@example.com\r\nTo: alice@example.org\r\nSubject: fill %d\r\nMessage-ID: <%d@fill.example.com>\r\n\r\n%s", i, i, i, body[:10000])
}

// appendBenchConn logs in on a plain connection and returns it with its reader.
func appendBenchConn(b *testing.B, ts *testServer) (net.Conn, *bufio.Reader) {
	c := ts.login(b)
	c.conn.SetReadDeadline(time.Time{}) // the fill takes longer than the client's line deadline
	return c.conn, c.r
}

// BenchmarkAppendPipelined sends appendBenchN APPENDs with LITERAL+
// (RFC 7888) without waiting for their answers, as a fill tool does, and
// reads the answers in a second goroutine.
func BenchmarkAppendPipelined(b *testing.B) {
	ts := startServer(b, nil)
	conn, r := appendBenchConn(b, ts)
	msgs := make([]string, appendBenchN)
	for i := range msgs {
		msgs[i] = appendBenchMsg(i)
	}
	b.ResetTimer()
	t0 := time.Now()
	for range b.N {
		errc := make(chan error, 1)
		go func() {
			w := bufio.NewWriterSize(conn, 64<<10)
			for i, m := range msgs {
				fmt.Fprintf(w, "p%d APPEND INBOX {%d+}\r\n%s\r\n", i, len(m), m)
			}
			errc <- w.Flush()
		}()
		for n := 0; n < appendBenchN; {
			l, err := r.ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			if l[0] == 'p' {
				if !strings.Contains(l, " OK [APPENDUID ") {
					b.Fatalf("APPEND: %q", l)
				}
				n++
			}
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*appendBenchN)/time.Since(t0).Seconds(), "msg/s")
}

// BenchmarkMultiAppend stores appendBenchN messages with MULTIAPPEND
// (RFC 3502) commands of 100 messages each, one command at a time.
func BenchmarkMultiAppend(b *testing.B) {
	ts := startServer(b, nil)
	conn, r := appendBenchConn(b, ts)
	const per = 100
	var cmds []string
	for i := 0; i < appendBenchN; i += per {
		var sb strings.Builder
		fmt.Fprintf(&sb, "m%d APPEND INBOX", i)
		for j := i; j < i+per; j++ {
			m := appendBenchMsg(j)
			fmt.Fprintf(&sb, " {%d+}\r\n%s", len(m), m)
		}
		sb.WriteString("\r\n")
		cmds = append(cmds, sb.String())
	}
	b.ResetTimer()
	t0 := time.Now()
	for range b.N {
		for _, cmd := range cmds {
			if _, err := conn.Write([]byte(cmd)); err != nil {
				b.Fatal(err)
			}
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					b.Fatal(err)
				}
				if l[0] == 'm' {
					if !strings.Contains(l, " OK [APPENDUID ") {
						b.Fatalf("MULTIAPPEND: %q", l)
					}
					break
				}
			}
		}
	}
	b.ReportMetric(float64(b.N*appendBenchN)/time.Since(t0).Seconds(), "msg/s")
}
