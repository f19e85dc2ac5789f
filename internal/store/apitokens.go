package store

import (
	"context"
	"time"
)

// APIToken is a bearer token of the admin JSON API (docs/api.md), made by
// an admin account in the console or with "youju admin token create". The
// store keeps only the SHA-256 of the secret: the secret is 256 random
// bits, so a plain hash is as good as a slow one, and a copy of the
// database gives no usable token.
type APIToken struct {
	ID       int64
	Account  AccountID
	Name     string
	Hash     [32]byte // SHA-256 of the secret
	Created  time.Time
	LastUsed time.Time // zero: never
}

// APITokens stores the admin API's tokens. Optional, like WebSessions:
// without it the API answers 503.
type APITokens interface {
	// CreateAPIToken stores t (ErrExists if the account has one of that
	// name, ErrNotFound if the account is gone) and returns it with ID and
	// Created set.
	CreateAPIToken(ctx context.Context, t APIToken) (APIToken, error)
	// APITokenByHash returns the token of hash, or ErrNotFound.
	APITokenByHash(ctx context.Context, hash [32]byte) (APIToken, error)
	// APITokens lists the account's tokens by name.
	APITokens(ctx context.Context, acct AccountID) ([]APIToken, error)
	// DeleteAPIToken revokes one token of the account (ErrNotFound if it
	// has none of that id).
	DeleteAPIToken(ctx context.Context, acct AccountID, id int64) error
	// TouchAPIToken sets the last use of token id.
	TouchAPIToken(ctx context.Context, id int64, t time.Time) error
}
