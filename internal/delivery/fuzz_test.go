package delivery

import (
	"context"
	"strings"
	"testing"
)

// FuzzParseAddress: never panics; what it accepts is safe to put in a
// header (no CR/LF) and round-trips.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"a@b.c", "a+b@c.d", "\"q s\"@x.y", "@", "a@", "@b", "a@[127.0.0.1]", "ü@例え.jp", "a@b..c", "a\r\n@b.c", strings.Repeat("a", 70) + "@b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(a.String(), "\r\n\x00") {
			t.Fatalf("%q accepted with control characters", s)
		}
		b, err := ParseAddress(a.String())
		if err != nil || b != a {
			t.Fatalf("%q: round trip %v %v", s, b, err)
		}
		if len(a.Local) == 0 || len(a.Domain) == 0 {
			t.Fatalf("%q: empty part", s)
		}
	})
}

// FuzzResolve runs recipient resolution over arbitrary input against the
// fixture's aliases (loops, catch-all, plus-addressing): never panics,
// and every success has at least one target.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"alice@example.com", "alice+x@example.com", "team@example.com", "loop1@example.com", "z@example.org", "sales+q@example.com", "x@remote.net"} {
		f.Add(s, false)
	}
	fx := newFixture(f)
	r := &Resolver{Accounts: fx.st}
	f.Fuzz(func(t *testing.T, s string, relay bool) {
		res, err := r.Resolve(context.Background(), s, relay)
		if err == nil && len(res.Local)+len(res.Remote) == 0 {
			t.Fatalf("%q resolved to nothing", s)
		}
	})
}
