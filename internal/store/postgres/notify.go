package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/notify"
	"github.com/youju/youju/internal/store"
)

// Change notification across nodes. Every write transaction that has
// events sends, before its COMMIT, one NOTIFY per event on the store's
// channel; PostgreSQL delivers them to the listeners only if and when the
// transaction commits. The payload is "NODE ACCOUNT MAILBOX MODSEQ", or
// "NODE ACCOUNT M" when the list of mailboxes changed.
//
// Each store keeps one connection that LISTENs and publishes what other
// nodes send into the local hub (its own are published after commit
// already, and skipped). A lost connection may have lost notifications:
// after reconnecting, the listener publishes a "resync" event for every
// mailbox of every account with a subscriber, so that every session asks
// the store for its changes (a spurious event costs one
// Changes call). NOOP and IDLE's own timers cover anything else.

// payloads encodes events for NOTIFY.
func (s *Store) payloads(events []store.Event) []string {
	out := make([]string, 0, len(events))
	for _, e := range events {
		if e.Mailboxes {
			out = append(out, fmt.Sprintf("%s %d M", s.node, e.Account))
		} else {
			out = append(out, fmt.Sprintf("%s %d %d %d", s.node, e.Account, e.Mailbox, e.ModSeq))
		}
	}
	return out
}

// parsePayload decodes a notification; ok is false for a malformed one
// and for this node's own.
func (s *Store) parsePayload(p string) (store.Event, bool) {
	f := strings.Fields(p)
	if len(f) < 3 || f[0] == s.node {
		return store.Event{}, false
	}
	acct, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || acct <= 0 {
		return store.Event{}, false
	}
	e := store.Event{Account: store.AccountID(acct)}
	if len(f) == 3 && f[2] == "M" {
		e.Mailboxes = true
		return e, true
	}
	if len(f) != 4 {
		return store.Event{}, false
	}
	mb, err1 := strconv.ParseInt(f[2], 10, 64)
	ms, err2 := strconv.ParseUint(f[3], 10, 64)
	if err1 != nil || err2 != nil || mb <= 0 {
		return store.Event{}, false
	}
	e.Mailbox, e.ModSeq = store.MailboxID(mb), store.ModSeq(ms)
	return e, true
}

// notifyOthers queues the NOTIFYs of t's events in t (sent at commit).
func (s *Store) notifyOthers(t *tx) error {
	if len(t.events) == 0 {
		return nil
	}
	_, err := t.Exec(t.ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, s.channel, s.payloads(t.events))
	return err
}

// listen opens the LISTEN connection.
func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	cfg := s.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = "youju-listen-" + s.node
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: listen: %w", err)
	}
	if _, err := c.Exec(ctx, `LISTEN `+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		c.Close(ctx)
		return nil, fmt.Errorf("postgres: listen: %w", err)
	}
	return c, nil
}

// listener publishes other nodes' notifications until Close, reconnecting
// (with a resync) when the connection is lost.
func (s *Store) listener(c *pgx.Conn) {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-s.closing
		cancel()
	}()
	backoff := 100 * time.Millisecond
	for {
		if c != nil {
			err := s.receive(ctx, c)
			c.Close(context.Background())
			c = nil
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("postgres listen connection lost", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		var err error
		if c, err = s.listen(ctx); err != nil {
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		s.textWork.setAll() // the events lost with the connection
		s.resync(ctx)
	}
}

// receive publishes notifications until the connection fails.
func (s *Store) receive(ctx context.Context, c *pgx.Conn) error {
	for {
		n, err := c.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if e, ok := s.parsePayload(n.Payload); ok {
			s.noteText(e)
			s.note.Publish(e)
		}
	}
}

// resync tells every subscribed account's sessions to look again: an
// event for each of its mailboxes (a session acts on the events of the
// mailbox it selected) and one for its list of mailboxes.
func (s *Store) resync(ctx context.Context) {
	accts := s.note.accounts()
	if len(accts) == 0 {
		return
	}
	var events []store.Event
	rows, _ := s.pool.Query(ctx, `SELECT account_id, id, highestmodseq FROM mailboxes WHERE account_id = ANY($1)`, accts)
	var e store.Event
	_, err := pgx.ForEachRow(rows, []any{&e.Account, &e.Mailbox, &e.ModSeq}, func() error {
		events = append(events, e)
		return nil
	})
	if err != nil {
		s.log.Warn("postgres resync", "err", err)
	}
	for _, a := range accts {
		events = append(events, store.Event{Account: a, Mailboxes: true})
	}
	s.publish(events)
}

// notifier wraps the hub to know which accounts have subscribers (for
// resync).
type notifier struct {
	store.Notifier
	mu   sync.Mutex
	subs map[store.AccountID]int
}

func newNotifier(n store.Notifier) *notifier {
	return &notifier{Notifier: n, subs: map[store.AccountID]int{}}
}

// Subscribe implements store.Notifier.
func (n *notifier) Subscribe(acct store.AccountID) (<-chan store.Event, func()) {
	ch, cancel := n.Notifier.Subscribe(acct)
	return ch, n.counted(acct, cancel)
}

// SubscribeWake passes the hub's waking subscription through (see
// internal/notify.Hub): without it an IMAP session in IDLE needs a
// goroutine of its own to forward events, which on this backend cost
// every idle session about 2 KiB more than on SQLite (issue 13: idle
// memory per session unchanged).
func (n *notifier) SubscribeWake(acct store.AccountID, wake func()) (<-chan store.Event, func()) {
	wn, ok := n.Notifier.(interface {
		SubscribeWake(store.AccountID, func()) (<-chan store.Event, func())
	})
	if !ok { // a notifier of the caller's (Options): forward and wake
		src, cancel := n.Subscribe(acct)
		return notify.Forward(src, cancel, wake)
	}
	ch, cancel := wn.SubscribeWake(acct, wake)
	return ch, n.counted(acct, cancel)
}

// counted records a subscriber of acct until the returned cancel.
func (n *notifier) counted(acct store.AccountID, cancel func()) func() {
	n.mu.Lock()
	n.subs[acct]++
	n.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			n.mu.Lock()
			if n.subs[acct]--; n.subs[acct] <= 0 {
				delete(n.subs, acct)
			}
			n.mu.Unlock()
		})
	}
}

func (n *notifier) accounts() []store.AccountID {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]store.AccountID, 0, len(n.subs))
	for a := range n.subs {
		out = append(out, a)
	}
	return out
}
