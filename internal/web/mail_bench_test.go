package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
)

// BenchmarkMailList100k is the server time of opening a 100,000-message
// folder at its first page (and at a page deep inside it): the handler
// alone, no network. The folder is filled once, outside the timings.
//
// cold-ms is the very first open, right after the fill, with nothing
// cached and the text indexer catching up (the worst case a user meets).
// The timed loops run once the indexer has caught up, so that they
// measure the page, not the indexer's batches beside it; cpu-ms/op is the
// process's CPU per page (getrusage), which a loaded machine does not
// inflate the way it does the wall time.
func BenchmarkMailList100k(b *testing.B) {
	e := newEnv(b, nil)
	ctx := context.Background()
	inbox, err := e.st.Mailbox(ctx, e.acct.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	const total, batch = 100_000, 2_000
	for done := 0; done < total; done += batch {
		ms := make([]store.AppendMessage, batch)
		for i := range ms {
			ms[i] = store.AppendMessage{Data: []byte(plainMail(done + i)), InternalDate: time.Unix(1.7e9+int64(done+i), 0)}
		}
		res, err := e.st.AppendMessages(ctx, e.acct.ID, []store.Append{{Mailbox: inbox.ID, Messages: ms}})
		if err != nil || res[0].Err != nil {
			b.Fatal(err, res)
		}
	}
	id, _, err := e.srv.sessions.create(ctx, e.acct.ID, false)
	if err != nil {
		b.Fatal(err)
	}
	get := func(b *testing.B, path, want string) {
		req := httptest.NewRequest("GET", path, nil)
		req.RemoteAddr = "127.0.0.1:50000" // a local browser over plain HTTP
		req.AddCookie(&http.Cookie{Name: "youju-session", Value: id})
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
			b.Fatalf("%s: %d", path, rec.Code)
		}
	}
	first := fmt.Sprintf("/mail/%d", inbox.ID)
	t0 := time.Now()
	get(b, first, "message 99999")
	cold := time.Since(t0)
	waitTextIndex(b, e.st)
	for _, c := range []struct{ name, path, want string }{
		{"first-page", first, "message 99999"},
		{"page-1000", fmt.Sprintf("/mail/%d?p=1000", inbox.ID), "message 49999"},
	} {
		b.Run(c.name, func(b *testing.B) {
			cpu0 := processCPU()
			for b.Loop() {
				get(b, c.path, c.want)
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
			if c.name == "first-page" {
				b.ReportMetric(float64(cold)/float64(time.Millisecond), "cold-ms")
			}
		})
	}
}

// waitTextIndex waits until the store's text indexer has caught up.
func waitTextIndex(b *testing.B, st store.TextIndexStatus) {
	for {
		n, err := st.TextIndexPending(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// processCPU is the CPU time the process has used (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
