package pop3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"
	"time"

	"github.com/youju/youju/internal/store"
)

// The maildrop lock across nodes. RFC 1939 §8: the server acquires an
// exclusive-access lock on the maildrop. Within this process the lock is
// a map (server.go), as cheap as it gets; when the store is shared by
// several nodes (store.Leases) the session also takes a lease in the
// database, held by this node and session, renewed while the session
// lives, and taken over by another node once it expired (a node that
// died does not lock its users out for longer than LeaseTTL). A session
// on another node then gets -ERR [IN-USE] (RFC 2449 §8.1.1).

// DefaultLeaseTTL is LeaseTTL's default: a dead node's sessions keep
// their maildrops locked at most this long.
const DefaultLeaseTTL = time.Minute

// releaseTimeout bounds giving a lease back after the session's context
// ended.
const releaseTimeout = 5 * time.Second

// lease is a session's maildrop lease in a shared store.
type lease struct {
	leases store.Leases
	name   string
	holder string
	ttl    time.Duration
	stop   chan struct{}
	done   chan struct{}

	mu   sync.Mutex
	lost bool // a renewal found the lease taken: the session must not UPDATE
}

// leaseName is the lease of an account's maildrop.
func leaseName(id store.AccountID) string { return "pop3:" + strconv.FormatInt(int64(id), 10) }

// nodeID names this server in lease holders, with the connection's ID.
func newNodeID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// acquireLease takes the maildrop lease of acct if the store is shared;
// it returns nil, nil when it is not. taken reports another holder.
func (s *session) acquireLease(acct store.AccountID) (l *lease, taken bool, err error) {
	ls, ok := store.As[store.Leases](s.srv.Store)
	if !ok {
		return nil, false, nil
	}
	l = &lease{leases: ls, name: leaseName(acct), ttl: orDefault(s.srv.LeaseTTL, DefaultLeaseTTL),
		holder: s.srv.node + "/" + strconv.FormatUint(s.raw.ID, 10)}
	got, err := ls.AcquireLease(s.ctx(), l.name, l.holder, l.ttl)
	if err != nil || !got {
		return nil, !got, err
	}
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.renew(s)
	return l, false, nil
}

// renew extends the lease every third of its TTL until release. When the
// lease was taken over (this node was cut off from the database for
// longer than the TTL), the session is closed: another session may own
// the maildrop now, and this one must not delete from it.
func (l *lease) renew(s *session) {
	defer close(l.done)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(s.ctx(), l.ttl/3)
		ok, err := l.leases.RenewLease(ctx, l.name, l.holder, l.ttl)
		cancel()
		if err != nil {
			// Not lost yet: the next tick tries again, and another node
			// can only take it after the TTL.
			s.log.Warn("pop3: renewing the maildrop lease", "err", err)
			continue
		}
		if !ok {
			l.mu.Lock()
			l.lost = true
			l.mu.Unlock()
			s.log.Warn("pop3: maildrop lease lost; closing the session")
			s.close()
			return
		}
	}
}

// held confirms, just before the UPDATE state deletes anything, that the
// lease is still this session's (and renews it).
func (l *lease) held(ctx context.Context) bool {
	l.mu.Lock()
	lost := l.lost
	l.mu.Unlock()
	if lost {
		return false
	}
	ok, err := l.leases.RenewLease(ctx, l.name, l.holder, l.ttl)
	return err == nil && ok
}

// release stops the renewals and gives the lease back.
func (l *lease) release() {
	close(l.stop)
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	_ = l.leases.ReleaseLease(ctx, l.name, l.holder)
}
