package importer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/youju/youju/internal/store"
)

// The "one running import per account" rule across the nodes of a
// cluster: with Jobs.Leases (a shared store's store.Leases) a job holds
// the lease import/ACCOUNT, renewed while it runs, so that a second
// import started through another node's settings page is refused. A
// node that dies mid-import loses the lease after jobLeaseTTL and the
// user can start again (the import is resumable, duplicates skipped).

const (
	jobLeaseTTL   = time.Minute
	jobLeaseRenew = 20 * time.Second
)

// jobLease is a held import lease; nil when the jobs are not shared.
type jobLease struct {
	leases store.Leases
	name   string
	holder string
}

func newHolder() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "import/" + hex.EncodeToString(b[:])
}

// acquire takes acct's lease; ok is false while another holds it.
func (j *Jobs) acquire(acct store.AccountID) (l *jobLease, ok bool, err error) {
	if j.Leases == nil {
		return nil, true, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l = &jobLease{leases: j.Leases, name: jobKey(acct), holder: newHolder()}
	ok, err = j.Leases.AcquireLease(ctx, l.name, l.holder, jobLeaseTTL)
	if err != nil || !ok {
		return nil, ok, err
	}
	return l, true, nil
}

// hold renews l until ctx ends, and calls lost (which cancels the job)
// if the lease was taken over: a job must not go on beside another.
// renewed is called after each renewal (the shared status's TTL follows
// the lease's).
func (l *jobLease) hold(ctx context.Context, lost, renewed func()) {
	if l == nil {
		return
	}
	t := time.NewTicker(jobLeaseRenew)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ok, err := l.leases.RenewLease(rctx, l.name, l.holder, jobLeaseTTL)
		cancel()
		if err == nil && !ok {
			lost()
			return
		}
		renewed()
	}
}

func (l *jobLease) release() {
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = l.leases.ReleaseLease(ctx, l.name, l.holder)
}
