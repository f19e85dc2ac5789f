package smtpd

import (
	"context"
	"sync"
	"time"
)

// lazyDeadline is context.WithDeadline(parent, deadline) whose timer is
// made only when something waits: at the first Done (or an Err past the
// deadline). A RCPT resolved from the resolver's cache never waits, and
// a timer and a registration with the connection's context per command
// were a visible share of the MX path's CPU. Once made, everything is
// the real context's.
type lazyDeadline struct {
	parent   context.Context
	deadline time.Time

	mu       sync.Mutex
	ctx      context.Context // nil until made
	cancel   context.CancelFunc
	canceled bool
}

// withLazyDeadline is context.WithDeadline made lazily (lazyDeadline).
func withLazyDeadline(parent context.Context, d time.Time) (context.Context, context.CancelFunc) {
	c := &lazyDeadline{parent: parent, deadline: d}
	return c, c.stop
}

// made returns the real context, making it if it is not yet.
func (c *lazyDeadline) made() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		c.ctx, c.cancel = context.WithDeadline(c.parent, c.deadline)
		if c.canceled {
			c.cancel()
		}
	}
	return c.ctx
}

// real returns the real context if it was made, else nil.
func (c *lazyDeadline) real() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ctx
}

func (c *lazyDeadline) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.canceled = true
	if c.cancel != nil {
		c.cancel()
	}
}

// Deadline is the earlier of the parent's and ours, as WithDeadline's.
func (c *lazyDeadline) Deadline() (time.Time, bool) {
	if pd, ok := c.parent.Deadline(); ok && pd.Before(c.deadline) {
		return pd, true
	}
	return c.deadline, true
}

func (c *lazyDeadline) Done() <-chan struct{} { return c.made().Done() }

// Err is nil without making the timer while nothing ended the context;
// otherwise it is the real context's (made now if need be), so that Err,
// Done and context.Cause agree.
func (c *lazyDeadline) Err() error {
	if r := c.real(); r != nil {
		return r.Err()
	}
	c.mu.Lock()
	canceled := c.canceled
	c.mu.Unlock()
	if !canceled && c.parent.Err() == nil && time.Now().Before(c.deadline) {
		return nil
	}
	return c.made().Err()
}

// Value is the parent's until the context is made or ends: context's
// own lookups of its cancellation find the real one, since
// propagateCancel calls Done first and Cause follows an Err that is not
// nil (made then).
func (c *lazyDeadline) Value(key any) any {
	if c.real() == nil && c.Err() == nil {
		return c.parent.Value(key)
	}
	return c.made().Value(key)
}
