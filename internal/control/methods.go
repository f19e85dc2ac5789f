package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/youju/youju/internal/store"
)

// method runs one store.Accounts call from JSON arguments.
type method func(ctx context.Context, a store.Accounts, args []json.RawMessage) (any, error)

// arg decodes args[i] into a T.
func arg[T any](args []json.RawMessage, i int) (T, error) {
	var v T
	if i >= len(args) {
		return v, fmt.Errorf("missing argument %d", i+1)
	}
	return v, json.Unmarshal(args[i], &v)
}

// one adapts a method of one argument and a result.
func one[A, R any](f func(store.Accounts, context.Context, A) (R, error)) method {
	return func(ctx context.Context, s store.Accounts, args []json.RawMessage) (any, error) {
		a, err := arg[A](args, 0)
		if err != nil {
			return nil, err
		}
		return f(s, ctx, a)
	}
}

// oneErr adapts a method of one argument that returns only an error.
func oneErr[A any](f func(store.Accounts, context.Context, A) error) method {
	return one(func(s store.Accounts, ctx context.Context, a A) (struct{}, error) { return struct{}{}, f(s, ctx, a) })
}

// methods are every store.Accounts method, by name.
var methods = map[string]method{
	"AddDomain":     oneErr(store.Accounts.AddDomain),
	"DeleteDomain":  oneErr(store.Accounts.DeleteDomain),
	"IsLocalDomain": one(store.Accounts.IsLocalDomain),
	"Domains": func(ctx context.Context, s store.Accounts, _ []json.RawMessage) (any, error) {
		return s.Domains(ctx)
	},
	"CreateAccount": one(store.Accounts.CreateAccount),
	"Account":       one(store.Accounts.Account),
	"AccountByID":   one(store.Accounts.AccountByID),
	"ListAccounts": func(ctx context.Context, s store.Accounts, _ []json.RawMessage) (any, error) {
		return s.ListAccounts(ctx)
	},
	"AccountsPage":   one(store.Accounts.AccountsPage),
	"UpdateAccount":  oneErr(store.Accounts.UpdateAccount),
	"DeleteAccount":  oneErr(store.Accounts.DeleteAccount),
	"SetAlias":       oneErr(store.Accounts.SetAlias),
	"DeleteAlias":    oneErr(store.Accounts.DeleteAlias),
	"Alias":          one(store.Accounts.Alias),
	"AddAppPassword": one(store.Accounts.AddAppPassword),
	"AppPasswords":   one(store.Accounts.AppPasswords),
	"ListAliases": func(ctx context.Context, s store.Accounts, _ []json.RawMessage) (any, error) {
		return s.ListAliases(ctx)
	},
	"DeleteAppPassword": func(ctx context.Context, s store.Accounts, args []json.RawMessage) (any, error) {
		id, err := arg[store.AccountID](args, 0)
		if err != nil {
			return nil, err
		}
		name, err := arg[string](args, 1)
		if err != nil {
			return nil, err
		}
		return struct{}{}, s.DeleteAppPassword(ctx, id, name)
	},
	"RebuildTextIndex": one(func(s store.Accounts, ctx context.Context, id store.AccountID) (int, error) {
		r, ok := s.(store.TextIndexRebuilder)
		if !ok {
			return 0, errors.New("this store has no text index")
		}
		return r.RebuildTextIndex(ctx, id)
	}),
	"TextIndexPending": func(ctx context.Context, s store.Accounts, _ []json.RawMessage) (any, error) {
		r, ok := s.(store.TextIndexStatus)
		if !ok {
			return nil, errors.New("this store has no text index")
		}
		return r.TextIndexPending(ctx)
	},
	"TouchAppPassword": func(ctx context.Context, s store.Accounts, args []json.RawMessage) (any, error) {
		id, err := arg[int64](args, 0)
		if err != nil {
			return nil, err
		}
		t, err := arg[time.Time](args, 1)
		if err != nil {
			return nil, err
		}
		return struct{}{}, s.TouchAppPassword(ctx, id, t)
	},
}

var _ store.Accounts = (*Client)(nil)

// The Client side: each store.Accounts method is one call.

func (c *Client) AddDomain(ctx context.Context, name string) error {
	return c.call(ctx, "AddDomain", nil, name)
}
func (c *Client) DeleteDomain(ctx context.Context, name string) error {
	return c.call(ctx, "DeleteDomain", nil, name)
}
func (c *Client) Domains(ctx context.Context) (ds []store.Domain, err error) {
	return ds, c.call(ctx, "Domains", &ds)
}
func (c *Client) IsLocalDomain(ctx context.Context, name string) (ok bool, err error) {
	return ok, c.call(ctx, "IsLocalDomain", &ok, name)
}
func (c *Client) CreateAccount(ctx context.Context, a store.Account) (out store.Account, err error) {
	return out, c.call(ctx, "CreateAccount", &out, a)
}
func (c *Client) Account(ctx context.Context, address string) (out store.Account, err error) {
	return out, c.call(ctx, "Account", &out, address)
}
func (c *Client) AccountByID(ctx context.Context, id store.AccountID) (out store.Account, err error) {
	return out, c.call(ctx, "AccountByID", &out, id)
}
func (c *Client) ListAccounts(ctx context.Context) (out []store.Account, err error) {
	return out, c.call(ctx, "ListAccounts", &out)
}
func (c *Client) AccountsPage(ctx context.Context, p store.AccountPage) (out []store.Account, err error) {
	return out, c.call(ctx, "AccountsPage", &out, p)
}
func (c *Client) UpdateAccount(ctx context.Context, a store.Account) error {
	return c.call(ctx, "UpdateAccount", nil, a)
}
func (c *Client) DeleteAccount(ctx context.Context, id store.AccountID) error {
	return c.call(ctx, "DeleteAccount", nil, id)
}
func (c *Client) SetAlias(ctx context.Context, a store.Alias) error {
	return c.call(ctx, "SetAlias", nil, a)
}
func (c *Client) DeleteAlias(ctx context.Context, address string) error {
	return c.call(ctx, "DeleteAlias", nil, address)
}
func (c *Client) Alias(ctx context.Context, address string) (out store.Alias, err error) {
	return out, c.call(ctx, "Alias", &out, address)
}
func (c *Client) ListAliases(ctx context.Context) (out []store.Alias, err error) {
	return out, c.call(ctx, "ListAliases", &out)
}
func (c *Client) AddAppPassword(ctx context.Context, p store.AppPassword) (out store.AppPassword, err error) {
	return out, c.call(ctx, "AddAppPassword", &out, p)
}
func (c *Client) AppPasswords(ctx context.Context, id store.AccountID) (out []store.AppPassword, err error) {
	return out, c.call(ctx, "AppPasswords", &out, id)
}
func (c *Client) DeleteAppPassword(ctx context.Context, id store.AccountID, name string) error {
	return c.call(ctx, "DeleteAppPassword", nil, id, name)
}
func (c *Client) TouchAppPassword(ctx context.Context, id int64, t time.Time) error {
	return c.call(ctx, "TouchAppPassword", nil, id, t)
}

// RebuildTextIndex asks the running server to rebuild an account's text
// index (store.TextIndexRebuilder).
func (c *Client) RebuildTextIndex(ctx context.Context, id store.AccountID) (n int, err error) {
	return n, c.call(ctx, "RebuildTextIndex", &n, id)
}

// TextIndexPending asks the running server how many messages wait for
// the text index (store.TextIndexStatus).
func (c *Client) TextIndexPending(ctx context.Context) (n int64, err error) {
	return n, c.call(ctx, "TextIndexPending", &n)
}
