package control

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/youju/youju/internal/store"
)

// The admin API's tokens (store.APITokens) over the control socket, so
// that "youju admin token" works while the server holds the store.

var errNoTokens = errors.New("this store keeps no API tokens")

func apiTokens(s store.Accounts) (store.APITokens, error) {
	for {
		if t, ok := s.(store.APITokens); ok {
			return t, nil
		}
		u, ok := s.(interface{ Unwrap() store.Store })
		if !ok {
			return nil, errNoTokens
		}
		s = u.Unwrap()
	}
}

func init() {
	methods["CreateAPIToken"] = one(func(s store.Accounts, ctx context.Context, t store.APIToken) (store.APIToken, error) {
		ts, err := apiTokens(s)
		if err != nil {
			return store.APIToken{}, err
		}
		return ts.CreateAPIToken(ctx, t)
	})
	methods["APITokenByHash"] = one(func(s store.Accounts, ctx context.Context, h [32]byte) (store.APIToken, error) {
		ts, err := apiTokens(s)
		if err != nil {
			return store.APIToken{}, err
		}
		return ts.APITokenByHash(ctx, h)
	})
	methods["APITokens"] = one(func(s store.Accounts, ctx context.Context, id store.AccountID) ([]store.APIToken, error) {
		ts, err := apiTokens(s)
		if err != nil {
			return nil, err
		}
		return ts.APITokens(ctx, id)
	})
	methods["DeleteAPIToken"] = func(ctx context.Context, s store.Accounts, args []json.RawMessage) (any, error) {
		acct, err := arg[store.AccountID](args, 0)
		if err != nil {
			return nil, err
		}
		id, err := arg[int64](args, 1)
		if err != nil {
			return nil, err
		}
		ts, err := apiTokens(s)
		if err != nil {
			return nil, err
		}
		return struct{}{}, ts.DeleteAPIToken(ctx, acct, id)
	}
	methods["TouchAPIToken"] = func(ctx context.Context, s store.Accounts, args []json.RawMessage) (any, error) {
		id, err := arg[int64](args, 0)
		if err != nil {
			return nil, err
		}
		t, err := arg[time.Time](args, 1)
		if err != nil {
			return nil, err
		}
		ts, err := apiTokens(s)
		if err != nil {
			return nil, err
		}
		return struct{}{}, ts.TouchAPIToken(ctx, id, t)
	}
}

var _ store.APITokens = (*Client)(nil)

// CreateAPIToken implements store.APITokens through the running server.
func (c *Client) CreateAPIToken(ctx context.Context, t store.APIToken) (out store.APIToken, err error) {
	return out, c.call(ctx, "CreateAPIToken", &out, t)
}

// APITokenByHash implements store.APITokens through the running server.
func (c *Client) APITokenByHash(ctx context.Context, h [32]byte) (out store.APIToken, err error) {
	return out, c.call(ctx, "APITokenByHash", &out, h)
}

// APITokens implements store.APITokens through the running server.
func (c *Client) APITokens(ctx context.Context, id store.AccountID) (out []store.APIToken, err error) {
	return out, c.call(ctx, "APITokens", &out, id)
}

// DeleteAPIToken implements store.APITokens through the running server.
func (c *Client) DeleteAPIToken(ctx context.Context, acct store.AccountID, id int64) error {
	return c.call(ctx, "DeleteAPIToken", nil, acct, id)
}

// TouchAPIToken implements store.APITokens through the running server.
func (c *Client) TouchAPIToken(ctx context.Context, id int64, t time.Time) error {
	return c.call(ctx, "TouchAPIToken", nil, id, t)
}
