package server

import (
	"context"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
)

// blockingSearch is a store whose Search runs until its context ends (a
// long query), and reports that end on cancelled.
type blockingSearch struct {
	store.Store
	cancelled chan error
}

func (b *blockingSearch) Search(ctx context.Context, acct store.AccountID, mbox store.MailboxID, q store.Query) ([]store.UID, error) {
	select {
	case <-ctx.Done():
		b.cancelled <- ctx.Err()
		return nil, ctx.Err()
	case <-time.After(30 * time.Second):
		b.cancelled <- nil
		return nil, nil
	}
}

// A client that hangs up while its SEARCH runs has the store call
// cancelled (issue 13 point 5), instead of the query running on for
// nobody.
func TestHangupCancelsStoreCall(t *testing.T) {
	bs := &blockingSearch{cancelled: make(chan error, 1)}
	ts := startServer(t, func(s *Server) {
		bs.Store = s.Store
		s.Store = bs
	})
	ts.deliver(t, "INBOX", "Subject: one\r\n\r\nbody\r\n", 0)
	c := ts.login(t)
	c.ok("SELECT INBOX")
	c.send("a1 SEARCH BODY nothing")
	time.Sleep(300 * time.Millisecond) // the command is running, the watch on
	c.conn.Close()
	select {
	case err := <-bs.cancelled:
		if err == nil {
			t.Fatal("the store call ran to its end after the client hung up")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the store call was not cancelled")
	}
}
