package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/youju/youju/internal/store"
)

// Live updates of the webmail: a page keeps one server-sent events
// stream (HTML Living Standard §9.2, text/event-stream) fed by the
// store's notifier, the hub IMAP IDLE listens to. An event only says
// that a mailbox changed; the page then fetches the list again, so no
// mail content travels in the stream and a lost event costs nothing
// but a late refresh (the notifier guarantees at least one event).
//
// Bounds: a few streams per session (tabs), a global cap, a heartbeat
// that also re-checks the session, so a stream ends within
// liveCheckEvery of a sign-out or expiry on any node, and never keeps
// an idle session alive (the check does not touch it).

const (
	maxLivePerSession = 4
	maxLiveTotal      = 2000
	liveCheckEvery    = 15 * time.Second
	liveMaxAge        = time.Hour // then the browser reconnects (and re-authenticates)
)

// liveStreams counts the open streams.
type liveStreams struct {
	mu    sync.Mutex
	total int
	per   map[[32]byte]int
}

var live = &liveStreams{per: map[[32]byte]int{}}

func (l *liveStreams) acquire(k [32]byte) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= maxLiveTotal || l.per[k] >= maxLivePerSession {
		return false
	}
	l.total++
	l.per[k]++
	return true
}

func (l *liveStreams) release(k [32]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.per[k]--; l.per[k] <= 0 {
		delete(l.per, k)
	}
}

// notifierOf returns the store's change hub, nil without one.
func (s *server) notifierOf() store.Notifier {
	n, ok := s.opt.Store.(interface{ Notifier() store.Notifier })
	if !ok {
		return nil
	}
	return n.Notifier()
}

// liveURL is the events URL of a folder page ("" without a notifier).
func (s *server) liveURL(box store.MailboxID) string {
	if s.notifierOf() == nil {
		return ""
	}
	return "/mail/events?box=" + strconv.FormatInt(int64(box), 10)
}

// mailEvents streams "change" events of the account's mailboxes.
func (s *server) mailEvents(w http.ResponseWriter, r *http.Request) {
	_, sess, ok := s.currentSession(r)
	hub := s.notifierOf()
	if !ok || hub == nil {
		// 204 tells EventSource to stop reconnecting.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !live.acquire(sess.key) {
		http.Error(w, "too many live streams", http.StatusTooManyRequests)
		return
	}
	defer live.release(sess.key)
	events, cancel := hub.Subscribe(sess.account)
	defer cancel()
	rc := http.NewResponseController(w)
	// The server's read timeout would end the stream (net/http cancels
	// the request when its background read times out).
	rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // a proxy in front must not buffer it
	write := func(format string, args ...any) bool {
		// The server's write timeout is for pages: each event gets its own.
		rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// retry: how long the browser waits before reconnecting.
	if !write("retry: 5000\n: live\n\n") {
		return
	}
	tick := time.NewTicker(liveCheckEvery)
	defer tick.Stop()
	end := time.NewTimer(liveMaxAge)
	defer end.Stop()
	ctx := r.Context()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		case <-end.C:
			return
		case <-tick.C:
			if !s.sessionAlive(r, sess) {
				write("event: signedout\ndata: {}\n\n")
				return
			}
			if !write(": ping\n\n") {
				return
			}
		case e, ok := <-events:
			if !ok {
				return
			}
			if !write("event: change\ndata: {\"mailbox\":%d,\"mailboxes\":%t}\n\n", e.Mailbox, e.Mailboxes) {
				return
			}
		}
	}
}

// liveState answers a page without a list of its own (the reading view,
// compose) after a change event: the folder tree as our server's HTML,
// for its unread counts, and for ?uid= whether that message of ?box= is
// gone (moved or deleted in another tab or client), so the reading view
// can say so instead of offering actions on nothing. JSON, no-store; one
// mailbox list and at most one one-row lookup per event.
func (s *server) liveState(w http.ResponseWriter, r *http.Request) {
	sess, acct, ms, ok := s.mailSession(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	box, _ := strconv.ParseInt(q.Get("box"), 10, 64)
	mp := &mailPage{CanCompose: s.opt.Submit != nil}
	var err error
	if mp.Folders, err = s.folders(r, ms, acct.ID, store.MailboxID(box)); err != nil {
		s.mailError(w, r, err)
		return
	}
	gone := false
	if uid, perr := strconv.ParseUint(q.Get("uid"), 10, 32); perr == nil && uid > 0 {
		gone, err = s.messageGone(r, ms, acct.ID, store.MailboxID(box), store.UID(uid))
		if err != nil {
			s.mailError(w, r, err)
			return
		}
	}
	p := s.newPage(r)
	p.Address, p.CSRF, p.Mail = acct.Address, sess.csrf, mp
	var b bytes.Buffer
	if err := pages["mail"][p.Lang].ExecuteTemplate(&b, "folders", p); err != nil {
		s.mailError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{"folders": b.String(), "gone": gone})
}

// messageGone reports whether uid is no longer in box (a mailbox that is
// gone, or not the account's, counts as gone).
func (s *server) messageGone(r *http.Request, ms store.Mail, acct store.AccountID, box store.MailboxID, uid store.UID) (bool, error) {
	found := false
	err := ms.ListMessages(r.Context(), acct, box, store.ListOptions{UIDs: store.UIDSet{{Lo: uid, Hi: uid}}},
		func(*store.Message) error { found = true; return nil })
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	return !found, err
}

// sessionAlive reports whether sess still exists and has not expired,
// without refreshing its idle timer.
func (s *server) sessionAlive(r *http.Request, sess *session) bool {
	ws, err := s.opt.Sessions.WebSession(r.Context(), sess.key)
	if err != nil {
		return false
	}
	now := s.opt.Now()
	return now.Sub(ws.LastSeen) <= s.opt.SessionIdle && now.Sub(ws.Created) <= s.opt.SessionMax
}
