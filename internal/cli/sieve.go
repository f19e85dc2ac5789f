package cli

import (
	"context"
	"path/filepath"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/managesieve"
	"github.com/youju/youju/internal/netserver"
	"github.com/youju/youju/internal/sieve"
	"github.com/youju/youju/internal/store"
)

// sieveScripts is the one script store of the server (DATA/sieve), shared
// by ManageSieve and delivery so that its cache of compiled active scripts
// sees every change.
func (d *deps) sieveScripts() *sieve.FileStore {
	if d.sieve == nil {
		d.sieve = &sieve.FileStore{Dir: filepath.Join(d.dataDir, "sieve")}
	}
	return d.sieve
}

// userSieveScripts is the script store as the account's own tools see it
// (ManageSieve, the settings page): a new forwarding destination is
// limited ([spam] max_forwards), logged and announced to the user by mail.
func (d *deps) userSieveScripts() sieve.Scripts {
	return &sieve.ForwardGuard{Scripts: d.sieveScripts(), Max: d.cfg.Spam.MaxForwards,
		Added: func(ctx context.Context, acct store.AccountID, added, all []string) {
			if d.deliverer != nil {
				d.deliverer.ForwardAdded(ctx, acct, added, all)
			}
		}}
}

// sieveDelivery makes local delivery run the accounts' Sieve scripts.
func (d *deps) sieveDelivery() *delivery.Sieve {
	fs := d.sieveScripts()
	return &delivery.Sieve{Scripts: fs, Tracker: fs}
}

// manageSieve is the ManageSieve server (port 4190).
func (d *deps) manageSieve(conns netserver.Limits) *managesieve.Server {
	c := d.cfg
	return &managesieve.Server{
		Scripts: d.userSieveScripts(), Auth: d.auth, TLSConfig: d.tls.Config(), Hostname: c.Hostname,
		AllowPlaintextLoopback: c.Auth.AllowPlaintextLoopback, Limits: conns, Logger: d.log,
	}
}
