package cli

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/managesieve"
	"github.com/youju/youju/internal/netserver"
	"github.com/youju/youju/internal/sieve"
	"github.com/youju/youju/internal/store"
)

// sieveStore is where scripts and the vacation tracking are kept.
type sieveStore interface {
	sieve.Scripts
	sieve.Tracker
}

// sharedState returns the store's state seam when the store is shared by
// several nodes (PostgreSQL): the per-node state of the data directory
// (Sieve scripts, greylisting, the learning filter, send counters) then
// lives there. The embedded SQLite server keeps its files.
func sharedState(s store.Store) (store.StateStore, bool) {
	if !store.Shared(s) {
		return nil, false
	}
	return store.As[store.StateStore](s)
}

// sieveScripts is the one script store of the server, shared by
// ManageSieve and delivery so that its cache of compiled active scripts
// sees every change: DATA/sieve, or the shared store's state on a
// cluster, into which the scripts of DATA/sieve are copied once (for the
// accounts that have none there yet).
func (d *deps) sieveScripts() sieveStore {
	if d.sieve != nil {
		return d.sieve
	}
	files := &sieve.FileStore{Dir: filepath.Join(d.dataDir, "sieve")}
	st, ok := sharedState(d.store)
	if !ok {
		// Every write of ManageSieve and the settings page goes through
		// this store; the stat(2) of the files per delivery that would
		// catch other writers is done once a second instead.
		files.Recheck = time.Second
		d.sieve = files
		return files
	}
	shared := &sieve.StateScripts{State: st}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	accts, err := files.Accounts()
	if err != nil {
		d.log.Warn("sieve: listing the scripts of the data directory", "err", err)
	} else if len(accts) > 0 {
		d.copySieveFiles(ctx, files, shared, accts)
	}
	d.sieve = shared
	return shared
}

// copySieveFiles copies the scripts of DATA/sieve into the shared store
// and then renames the directory to sieve.copied (kept as a backup), so
// that a script its user later deletes is not copied back at the next
// start.
func (d *deps) copySieveFiles(ctx context.Context, files *sieve.FileStore, shared *sieve.StateScripts, accts []store.AccountID) {
	n, err := shared.CopyFiles(ctx, files, accts)
	if err != nil {
		d.log.Warn("sieve: copying the scripts of the data directory into the shared store", "err", err)
		return
	}
	d.log.Info("sieve: scripts of the data directory copied into the shared store", "scripts", n)
	if err := os.Rename(files.Dir, files.Dir+".copied"); err != nil {
		d.log.Warn("sieve: renaming the copied scripts' directory", "err", err)
	}
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
	ss := d.sieveScripts()
	return &delivery.Sieve{Scripts: ss, Tracker: ss, MaxForwards: d.cfg.Spam.MaxForwards}
}

// manageSieve is the ManageSieve server (port 4190).
func (d *deps) manageSieve(conns netserver.Limits) *managesieve.Server {
	c := d.cfg
	return &managesieve.Server{
		Scripts: d.userSieveScripts(), Auth: d.auth, TLSConfig: d.tls.Config(), Hostname: c.Hostname,
		AllowPlaintextLoopback: c.Auth.AllowPlaintextLoopback, Limits: conns, Logger: d.log,
	}
}
