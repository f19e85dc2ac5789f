package netserver

import (
	"container/list"
	"net/netip"
	"sync"
)

// limiter counts the open connections of a Server: in total, per address,
// and those not yet authenticated, oldest first.
type limiter struct {
	total, perIP, preAuth int // 0: no limit

	mu      sync.Mutex
	conns   map[*Conn]struct{}
	byIP    map[netip.Addr]int
	pre     list.List // of *Conn, oldest first
	closing bool
	idle    chan struct{} // closed once closing and empty
}

func (l *limiter) init(total, perIP, preAuth int) {
	l.total, l.perIP, l.preAuth = total, perIP, preAuth
	l.conns = make(map[*Conn]struct{})
	l.byIP = make(map[netip.Addr]int)
	l.idle = make(chan struct{})
}

// acquire counts c in, or says no. When the server is full but some
// connections have not logged in, the oldest of those is displaced
// (victim, already uncounted; the caller closes it), as Dovecot's login
// processes do: a flood of idle connections then cannot keep out a user
// who logs in promptly, and connections that did log in are never
// touched. The per-address limit displaces nobody; perIP says it refused.
func (l *limiter) acquire(c *Conn, closing bool) (victim *Conn, ok, perIP bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if closing || l.closing {
		return nil, false, false
	}
	if l.perIP > 0 && l.byIP[c.Remote] >= l.perIP {
		return nil, false, true
	}
	full := l.total > 0 && len(l.conns) >= l.total || l.preAuth > 0 && l.pre.Len() >= l.preAuth
	if full {
		if l.preAuth == 0 || l.pre.Len() == 0 {
			return nil, false, false
		}
		victim = l.pre.Front().Value.(*Conn)
		l.remove(victim)
	}
	l.conns[c] = struct{}{}
	l.byIP[c.Remote]++
	c.counted = true
	c.preAuth = l.pre.PushBack(c)
	return victim, true, false
}

func (l *limiter) release(c *Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.remove(c)
}

// remove uncounts c; l.mu is held.
func (l *limiter) remove(c *Conn) {
	if !c.counted {
		return
	}
	c.counted = false
	delete(l.conns, c)
	if l.byIP[c.Remote]--; l.byIP[c.Remote] <= 0 {
		delete(l.byIP, c.Remote)
	}
	if c.preAuth != nil {
		l.pre.Remove(c.preAuth)
		c.preAuth = nil
	}
	if l.closing && len(l.conns) == 0 {
		close(l.idle)
	}
}

func (l *limiter) authenticated(c *Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.preAuth != nil {
		l.pre.Remove(c.preAuth)
		c.preAuth = nil
	}
}

// snapshot lists the open connections; with shutdown, it also marks the
// limiter closing (and idle at once if nothing is open).
func (l *limiter) snapshot(shutdown bool) []*Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if shutdown && !l.closing {
		l.closing = true
		if len(l.conns) == 0 {
			close(l.idle)
		}
	}
	cs := make([]*Conn, 0, len(l.conns))
	for c := range l.conns {
		cs = append(cs, c)
	}
	return cs
}

// counts returns the open connections and those not authenticated.
func (l *limiter) counts() (open, preAuth int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns), l.pre.Len()
}
