package smtpd

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// TestConcurrentSenders: 20 clients, each on its own connection, send
// concurrentMessages messages each (500 without -race); every message is
// stored exactly once, as checked by Message-ID in the store.
func TestConcurrentSenders(t *testing.T) {
	const senders = 20
	e := newEnv(t)
	addr := e.start(e.server(Inbound), false)
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- sendMany(addr, i, concurrentMessages)
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	for _, a := range []store.Account{e.alice, e.bob} {
		for id, n := range messageIDs(t, e, a) {
			seen[id] += n
		}
	}
	want := senders * concurrentMessages
	if len(seen) != want {
		t.Errorf("%d distinct messages stored, want %d", len(seen), want)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s stored %d times", id, n)
		}
	}
}

// sendMany sends n messages over one connection, alternating recipients.
func sendMany(addr string, sender, n int) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello(fmt.Sprintf("sender%d.test", sender)); err != nil {
		return err
	}
	for j := 0; j < n; j++ {
		to := []string{"alice@example.com", "bob@example.com"}[j%2]
		id := fmt.Sprintf("s%d-m%d", sender, j)
		if err := c.Mail("load@remote.net", nil); err != nil {
			return fmt.Errorf("%s mail: %w", id, err)
		}
		if err := c.Rcpt(to, nil); err != nil {
			return fmt.Errorf("%s rcpt: %w", id, err)
		}
		w, err := c.Data()
		if err != nil {
			return fmt.Errorf("%s data: %w", id, err)
		}
		fmt.Fprintf(w, "From: <load@remote.net>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@load.test>\r\n\r\nbody %s\r\n", to, id, id, id)
		if err := w.Close(); err != nil {
			return fmt.Errorf("%s end of data: %w", id, err)
		}
	}
	return c.Quit()
}

var midRe = regexp.MustCompile(`(?m)^Message-ID: <([^>]+)>`)

// messageIDs counts the Message-IDs in an account's INBOX, from the
// envelope the store parsed at delivery (falling back to the raw message).
func messageIDs(t *testing.T, e *env, a store.Account) map[string]int {
	ctx := context.Background()
	mb, err := e.st.Mailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	err = e.st.ListMessages(ctx, a.ID, mb.ID, store.ListOptions{WithInfo: true}, func(m *store.Message) error {
		if info, err := message.UnmarshalInfo(m.Info); err == nil && info.Envelope.MessageID != "" {
			out[info.Envelope.MessageID]++
			return nil
		}
		r, err := e.st.OpenMessage(ctx, a.ID, mb.ID, m.UID)
		if err != nil {
			return err
		}
		defer r.Close()
		buf := make([]byte, r.Size())
		if _, err := r.ReadAt(buf, 0); err != nil {
			return err
		}
		if mm := midRe.FindSubmatch(buf); mm != nil {
			out[string(mm[1])]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
