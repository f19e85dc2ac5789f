package pop3

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
)

// fillInbox delivers n small messages to the account, many at once so that
// the store groups the commits.
func fillInbox(b *testing.B, st store.Store, acct store.AccountID, n int) {
	b.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var mu sync.Mutex
	var firstErr error
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			msg := fmt.Sprintf("From: a@example.net\r\nSubject: message %d\r\n\r\n%s\r\n", i, strings.Repeat("x", 200+i%300))
			_, err := st.Deliver(context.Background(), store.Delivery{Data: []byte(msg), Targets: []store.Target{{Account: acct}}})
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
}

// BenchmarkMaildrop100k measures, on a 100,000-message maildrop over a
// loopback socket: login (the snapshot) with STAT, a full LIST and a full
// UIDL. The goal of issue 4 is <= 100 ms for each.
func BenchmarkMaildrop100k(b *testing.B) {
	const n = 100_000
	st, a := sqliteFixture(b, store.POP3Options{}, nil)
	t0 := time.Now()
	fillInbox(b, st, a.ID, n)
	b.Logf("filled %d messages in %s", n, time.Since(t0))
	ts := startServer(b, st, nil)
	stat := fmt.Sprintf("+OK %d *", n)

	// The store's share of the login: the one scan that the snapshot is.
	b.Run("loadMaildrop", func(b *testing.B) {
		for b.Loop() {
			d, err := loadMaildrop(context.Background(), st, a)
			if err != nil || d.count != n {
				b.Fatal(d.count, err)
			}
		}
	})
	b.Run("Login+STAT", func(b *testing.B) {
		for b.Loop() {
			c := dial(b, ts.addr)
			c.login("alice")
			c.do("STAT", stat)
			c.do("QUIT", "+OK*")
			c.conn.Close()
		}
	})
	for _, cmd := range []string{"LIST", "UIDL"} {
		b.Run(cmd, func(b *testing.B) {
			c := dial(b, ts.addr)
			c.login("alice")
			for b.Loop() {
				c.do(cmd, "+OK*")
				if got, err := c.drain(); got != n || err != nil {
					b.Fatalf("%s: %d lines, %v", cmd, got, err)
				}
			}
			c.do("QUIT", "+OK*")
		})
	}
}

// BenchmarkRETR measures streaming throughput of RETR (1 MB message,
// byte-stuffed) over a loopback socket.
func BenchmarkRETR(b *testing.B) {
	var msg strings.Builder
	msg.WriteString("Subject: big\r\n\r\n")
	for i := 0; msg.Len() < 1<<20; i++ {
		fmt.Fprintf(&msg, ".%d the quick brown fox jumps over the lazy dog 0123456789\r\n", i)
	}
	st, _ := sqliteFixture(b, store.POP3Options{}, []string{msg.String()})
	ts := startServer(b, st, nil)
	c := dial(b, ts.addr)
	c.login("alice")
	b.SetBytes(int64(msg.Len()))
	for b.Loop() {
		c.do("RETR 1", "+OK*")
		if _, err := c.drain(); err != nil {
			b.Fatal(err)
		}
	}
}
