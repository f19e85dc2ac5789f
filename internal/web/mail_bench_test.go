package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
)

// BenchmarkMailList100k is the server time of opening a 100,000-message
// folder at its first page (and at a page deep inside it): the handler
// alone, no network. The folder is filled once, outside the timings.
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
	for _, c := range []struct{ name, path, want string }{
		{"first-page", fmt.Sprintf("/mail/%d", inbox.ID), "message 99999"},
		{"page-1000", fmt.Sprintf("/mail/%d?p=1000", inbox.ID), "message 49999"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				get(b, c.path, c.want)
			}
		})
	}
}
