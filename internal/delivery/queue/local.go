package queue

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/maillog"
)

// LocalHooks returns Options.LocalDeliver and Options.IsLocalDomain backed
// by d (the server's Deliverer, with its Resolver and Store): DSNs for
// local senders go straight to their mailbox, through the same path as
// any delivery (aliases, quota, Received:). d.Queue may be this queue, for
// a local alias that forwards elsewhere.
func LocalHooks(d *delivery.Deliverer) (func(ctx context.Context, from string, rcpts []string, data []byte) error, func(domain string) bool) {
	deliver := func(ctx context.Context, from string, rcpts []string, data []byte) error {
		var rb [6]byte
		rand.Read(rb[:])
		env := &delivery.Envelope{ID: cmp.Or(maillog.IDFrom(ctx), "dsn."+hex.EncodeToString(rb[:])), From: from, Protocol: "local",
			Helo: d.Hostname, Time: time.Now()}
		for _, r := range rcpts {
			res, err := d.Resolver.Resolve(ctx, r, false)
			if err != nil {
				return err
			}
			env.Rcpts = append(env.Rcpts, delivery.Recipient{Address: r, Resolution: res})
		}
		return d.Deliver(ctx, env, data)
	}
	isLocal := func(domain string) bool {
		ok, err := d.Store.IsLocalDomain(context.Background(), domain)
		return err == nil && ok
	}
	return deliver, isLocal
}
