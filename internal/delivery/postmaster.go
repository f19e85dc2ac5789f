package delivery

import (
	"context"
	"errors"
	"strings"

	"github.com/youju/youju/internal/store"
)

// IsRole reports whether local is a role mailbox every mail domain must
// have: postmaster (RFC 5321 §4.5.1: "MUST support the reserved mailbox
// postmaster", case-insensitive) and abuse (RFC 2142 §2). Our own DMARC
// and TLS-RPT records send their reports to postmaster, too.
func IsRole(local string) bool {
	return strings.EqualFold(local, "postmaster") || strings.EqualFold(local, "abuse")
}

// roleFallback routes a role address of a local domain that has no
// account or alias of its own to the administrator (Resolver.Postmaster),
// so that postmaster@ and abuse@ of every domain always take mail. err is
// what the normal resolution said; ok is false when there is nothing to
// fall back on.
func (r *Resolver) roleFallback(ctx context.Context, addr Address, err error) (Resolution, error, bool) {
	if !IsRole(addr.Local) || r.Postmaster == nil || !errors.Is(err, ErrUnknownUser) {
		return Resolution{}, nil, false
	}
	admin := r.Postmaster(ctx)
	a, perr := ParseAddress(admin)
	if admin == "" || perr != nil || strings.EqualFold(a.Key(), addr.Key()) {
		return Resolution{}, nil, false
	}
	w := walk{r: r, ctx: ctx, seen: map[string]bool{addr.Key(): true}, accts: map[store.AccountID]bool{}, remote: map[string]bool{}}
	if err := w.target(a.String(), 1); err != nil {
		return Resolution{}, err, true
	}
	if len(w.res.Local) == 0 && len(w.res.Remote) == 0 {
		return Resolution{}, nil, false
	}
	w.res.Role = true
	return w.res, nil, true
}

// RoleOnly reports whether every recipient of env is a role address
// (postmaster, abuse). Such mail is not refused for failing DMARC (RFC 5321
// §4.5.1: postmaster takes reports of problems, which often come from
// broken senders); it is filed as Junk instead, and its
// Authentication-Results still say why.
func (env *Envelope) RoleOnly() bool {
	for _, r := range env.Rcpts {
		if !r.Role {
			return false
		}
	}
	return len(env.Rcpts) > 0
}
