package delivery

import "context"

// DSN holds the RFC 3461 parameters of a message: RET and ENVID from MAIL
// (§4.3, §4.4), NOTIFY and ORCPT per recipient (§4.1, §4.2). The outbound
// sender uses them when it reports delays or failures.
type DSN struct {
	Ret   string    `json:"ret,omitempty"`   // "FULL", "HDRS" or ""
	EnvID string    `json:"envid,omitempty"` // decoded xtext
	Rcpts []RcptDSN `json:"rcpts,omitempty"` // parallel to the recipients, or empty
}

// RcptDSN holds the DSN parameters of one recipient.
type RcptDSN struct {
	Notify []string `json:"notify,omitempty"` // NEVER, or SUCCESS/FAILURE/DELAY
	ORcpt  string   `json:"orcpt,omitempty"`  // "rfc822;addr" or "utf-8;addr"
}

// Queue takes messages for other domains. Enqueue returns only when the
// message is on stable storage: after that, acknowledging it is safe.
// The implementation is internal/delivery/queue.
type Queue interface {
	Enqueue(ctx context.Context, from string, rcpts []string, data []byte, dsn DSN) error
}
