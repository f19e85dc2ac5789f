package auth

import (
	"context"
	"net/netip"
	"runtime"
	"sync"
)

// verifyMemoryBudget is the memory the argon2id runs of logins may take
// together by default: MaxVerifications defaults to what fits in it.
const verifyMemoryBudget = 256 << 20

// defaultMaxVerifications is max(2, NumCPU) argon2id runs at once, capped
// so that their memory (argonMemory KiB each) stays within
// verifyMemoryBudget: more runs than cores only queue for the CPU while
// each holds its 19 MiB.
func defaultMaxVerifications() int {
	n := max(2, runtime.NumCPU())
	return min(n, verifyMemoryBudget/(argonMemory<<10))
}

// verifySlots bounds the password verifications (argon2id runs) in flight:
// perAddr per address (as throttleNet counts addresses) and len(global) in
// all. Callers wait for a slot without holding any lock, and give up when
// their context ends.
type verifySlots struct {
	global  chan struct{}
	perAddr int

	mu    sync.Mutex
	addrs map[netip.Prefix]*addrSlots // only addresses with callers: bounded by the connections
}

type addrSlots struct {
	ch    chan struct{}
	users int
}

func newVerifySlots(total, perAddr int) *verifySlots {
	return &verifySlots{global: make(chan struct{}, total), perAddr: perAddr, addrs: make(map[netip.Prefix]*addrSlots)}
}

// acquire waits for a slot of remote's address, then for a global one, and
// returns the function that gives both back.
func (v *verifySlots) acquire(ctx context.Context, remote netip.Addr) (func(), error) {
	n := throttleNet(remote)
	v.mu.Lock()
	s := v.addrs[n]
	if s == nil {
		s = &addrSlots{ch: make(chan struct{}, v.perAddr)}
		v.addrs[n] = s
	}
	s.users++
	v.mu.Unlock()
	drop := func() {
		v.mu.Lock()
		if s.users--; s.users == 0 {
			delete(v.addrs, n)
		}
		v.mu.Unlock()
	}
	select {
	case s.ch <- struct{}{}:
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	}
	select {
	case v.global <- struct{}{}:
	case <-ctx.Done():
		<-s.ch
		drop()
		return nil, ctx.Err()
	}
	return func() {
		<-v.global
		<-s.ch
		drop()
	}, nil
}

// verifier runs the password verifications of one attempt in one slot,
// taken at the first verification that is not served from the cache.
type verifier struct {
	a       *Authenticator
	ctx     context.Context
	remote  netip.Addr
	release func()
	err     error // the context ended while waiting for a slot
}

// verify is VerifyPassword within the attempt's slot.
func (v *verifier) verify(hash, pw string) bool {
	if v.release == nil {
		if v.err != nil {
			return false
		}
		if v.release, v.err = v.a.slots.acquire(v.ctx, v.remote); v.err != nil {
			return false
		}
	}
	if h := v.a.opt.OnVerify; h != nil {
		h(1)
		defer h(-1)
	}
	return VerifyPassword(hash, pw)
}

// done gives the slot back.
func (v *verifier) done() {
	if v.release != nil {
		v.release()
		v.release = nil
	}
}
