package deliverytest

import (
	"context"
	"errors"
	"slices"
	"sync"
)

// Queue is an in-memory delivery.Queue that records what it is given, for
// the tests of the code that enqueues (delivery, smtpd); the real, durable
// queue is internal/delivery/queue and has its own tests. Use it as
// Queue[delivery.DSN]: it is generic over the DSN type only because
// delivery's own tests import this package, so importing delivery here
// would be an import cycle. The zero value is ready to use.
type Queue[DSN any] struct {
	mu   sync.Mutex
	msgs []Queued[DSN]
}

// Queued is one message handed to a Queue.
type Queued[DSN any] struct {
	From  string
	Rcpts []string
	Data  []byte
	DSN   DSN
}

// Enqueue records the message. Like the real queue, it refuses a message
// without recipients, so that a caller bug shows.
func (q *Queue[DSN]) Enqueue(ctx context.Context, from string, rcpts []string, data []byte, dsn DSN) error {
	if len(rcpts) == 0 {
		return errors.New("deliverytest: enqueue without recipients")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Copies: the caller may reuse its buffers once Enqueue returned.
	m := Queued[DSN]{From: from, Rcpts: slices.Clone(rcpts), Data: slices.Clone(data), DSN: dsn}
	q.mu.Lock()
	q.msgs = append(q.msgs, m)
	q.mu.Unlock()
	return nil
}

// List returns the recorded messages, oldest first.
func (q *Queue[DSN]) List() []Queued[DSN] {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.msgs)
}
