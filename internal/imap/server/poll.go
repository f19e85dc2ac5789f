package server

import (
	"time"

	"github.com/youju/youju/internal/store"
)

// Looking for changes without an event. On one node every change is an
// event in this process and a session asks the store only when one came.
// On a store shared by several nodes (store.Shared) events come through
// the database and one may be lost with a connection (the store resyncs
// after reconnecting, but a notification sent while the listener was
// down is gone); so a session also looks on its own: at NOOP and CHECK
// (RFC 9051 §6.1.2: NOOP is how a client polls for updates), in IDLE
// every PollInterval, and at the first command after PollInterval
// without a look.

// DefaultPollInterval is PollInterval's default.
const DefaultPollInterval = 30 * time.Second

// pollEvery is how often a session with a mailbox selected looks for
// changes on its own; 0 when the store is not shared (events suffice).
func (s *Server) pollEvery() time.Duration {
	if !store.Shared(s.Store) {
		return 0
	}
	return orDur(s.PollInterval, DefaultPollInterval)
}

// pollDue reports whether the selected mailbox was not looked at for
// pollEvery.
func (c *conn) pollDue() bool {
	every := c.srv.pollEvery()
	return every > 0 && c.sel != nil && time.Since(c.sel.looked) >= every
}

// pollDeadline is when an IDLE wait ending at until must wake to look for
// changes, and whether that is before until.
func (c *conn) pollDeadline(until time.Time) (time.Time, bool) {
	every := c.srv.pollEvery()
	if every <= 0 || c.sel == nil {
		return until, false
	}
	if t := c.sel.looked.Add(every); t.Before(until) {
		return t, true
	}
	return until, false
}
