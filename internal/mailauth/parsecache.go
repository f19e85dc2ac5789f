package mailauth

import (
	"strings"
	"sync"
)

// parseCache keeps what a function that depends on its input alone
// (a record's parse, a domain's organizational domain) made of a string,
// by that string: an entry never goes stale, a changed record is another
// key. In a burst from a few senders the same few records and domains
// come with every message, and their work is then done once. It holds at
// most size entries of inputs up to maxLen bytes; safe for concurrent
// use.
type parseCache[V any] struct {
	size, maxLen int
	f            func(string) V

	mu sync.Mutex
	m  map[string]V
}

func newParseCache[V any](size, maxLen int, f func(string) V) *parseCache[V] {
	return &parseCache[V]{size: size, maxLen: maxLen, f: f, m: map[string]V{}}
}

// get returns f(s), from the cache if it is there.
func (c *parseCache[V]) get(s string) V {
	c.mu.Lock()
	v, ok := c.m[s]
	c.mu.Unlock()
	if ok {
		return v
	}
	v = c.f(s)
	if len(s) > c.maxLen {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.size {
		// Full: drop some entries (the map's order is random enough
		// that a flood of throwaway inputs cannot pin good ones).
		n := 0
		for k := range c.m {
			delete(c.m, k)
			if n++; n == c.size/8 {
				break
			}
		}
	}
	c.m[strings.Clone(s)] = v // s may be part of a larger string
	return v
}
