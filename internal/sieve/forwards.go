package sieve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/youju/youju/internal/store"
)

// Forwards lists the destinations of the script's redirect actions (RFC
// 5228 §4.2), lower-cased, each once, in script order. A destination
// built from variables (RFC 5229) cannot be known before a message
// arrives: it is listed as written, "${...}" and all, so that it still
// counts against the limit and appears in the log.
func (s *Script) Forwards() []string {
	var out []string
	var walk func([]*command)
	walk = func(cmds []*command) {
		for _, c := range cmds {
			switch {
			case c.act != nil && c.act.kind == "redirect":
				a := strings.ToLower(c.act.arg)
				if !slices.Contains(out, a) {
					out = append(out, a)
				}
			case c.ifc != nil:
				for _, b := range c.ifc.bodies {
					walk(b)
				}
				walk(c.ifc.els)
			}
		}
	}
	walk(s.cmds)
	return out
}

// ErrTooManyForwards refuses a script that would forward to more
// destinations than the limit allows.
var ErrTooManyForwards = errors.New("sieve: too many forwarding destinations")

// DefaultMaxForwards is the default bound on an account's forwarding
// destinations.
const DefaultMaxForwards = 5

// ForwardGuard wraps the script store used by the account's own tools
// (ManageSieve, the settings page) so that forwarding is never silent:
// a stolen password must not send a mailbox elsewhere without a trace
// (issue 16 point 5). When a Put or SetActive makes the active script
// forward to an address it did not forward to before, the change is
// refused past Max destinations, else allowed, and Added is called (it
// logs and tells the account's owner by mail).
type ForwardGuard struct {
	Scripts
	Max int // destinations per account; 0: DefaultMaxForwards; <0: none allowed
	// Added hears of each change that adds destinations: all is the
	// active script's whole list after it, added the new ones, via
	// the name of the tool ("managesieve", "web").
	Added func(ctx context.Context, acct store.AccountID, added, all []string)
}

func (g *ForwardGuard) max() int { return maxForwards(g.Max) }

// maxForwards is the limit a configured value gives: 0 is
// DefaultMaxForwards, below 0 none.
func maxForwards(m int) int {
	switch {
	case m == 0:
		return DefaultMaxForwards
	case m < 0:
		return 0
	}
	return m
}

// forwardsFor is how long a destination that a variable redirect
// expanded to holds its place among the account's destinations.
const forwardsFor = 30 * 24 * time.Hour

// AllowForward decides at delivery whether the script s of acct may
// redirect a message to the (expanded) address to, within max
// destinations per account (as ForwardGuard.Max). A destination written
// in the script was counted when the script was stored. One built from
// variables (RFC 5229: redirect "${addr}") is known only now, so each
// new one takes one of the places the literal destinations leave, for
// forwardsFor, recorded in t; past them the redirect is refused. isNew
// says that to took a place just now (it is to be logged and announced
// like a forward added to a script).
func AllowForward(ctx context.Context, t Tracker, acct store.AccountID, s *Script, max int, to string) (ok, isNew bool, err error) {
	to = strings.ToLower(to)
	literal := 0
	for _, f := range s.Forwards() {
		if f == to {
			return true, false, nil
		}
		if !strings.Contains(f, "${") {
			literal++
		}
	}
	if t == nil {
		return false, false, nil // nowhere to remember it: no place
	}
	key := "fwd\x00" + to
	if seen, err := t.Recorded(ctx, acct, key); err != nil || seen {
		return seen, false, err
	}
	for i := range maxForwards(max) - literal {
		// Claiming a numbered place is one atomic Respond, so two
		// deliveries at once cannot both take the last one.
		claimed, err := t.Respond(ctx, acct, "fwdplace\x00"+strconv.Itoa(i), forwardsFor)
		if err != nil {
			return false, false, err
		}
		if claimed {
			_, err := t.Respond(ctx, acct, key, forwardsFor)
			return true, true, err
		}
	}
	return false, false, nil
}

// activeForwards is the active script's destinations.
func (g *ForwardGuard) activeForwards(ctx context.Context, acct store.AccountID) (string, []string, error) {
	s, name, err := g.Scripts.Active(ctx, acct)
	if err != nil || s == nil {
		// A broken active script forwards nothing (it is not run).
		return name, nil, nil
	}
	return name, s.Forwards(), nil
}

// check compares the destinations of src (about to become active) with
// the current ones; it returns the new ones, or an error past the limit.
func (g *ForwardGuard) check(ctx context.Context, acct store.AccountID, src string) (added, all []string, err error) {
	s, err := Compile(src)
	if err != nil {
		return nil, nil, nil // the store refuses it, or it is never run
	}
	all = s.Forwards()
	_, before, err := g.activeForwards(ctx, acct)
	if err != nil {
		return nil, nil, err
	}
	for _, a := range all {
		if !slices.Contains(before, a) {
			added = append(added, a)
		}
	}
	if len(added) > 0 && len(all) > g.max() {
		return nil, nil, fmt.Errorf("%w: %d, at most %d per account", ErrTooManyForwards, len(all), g.max())
	}
	return added, all, nil
}

// Put stores a script, checking it first if it is the active one.
func (g *ForwardGuard) Put(ctx context.Context, acct store.AccountID, name, src string) error {
	active, _, err := g.activeForwards(ctx, acct)
	if err != nil {
		return err
	}
	if active != name {
		return g.Scripts.Put(ctx, acct, name, src)
	}
	added, all, err := g.check(ctx, acct, src)
	if err != nil {
		return err
	}
	if err := g.Scripts.Put(ctx, acct, name, src); err != nil {
		return err
	}
	g.added(ctx, acct, added, all)
	return nil
}

// SetActive activates a script, checking its destinations first.
func (g *ForwardGuard) SetActive(ctx context.Context, acct store.AccountID, name string) error {
	if name == "" {
		return g.Scripts.SetActive(ctx, acct, name)
	}
	src, err := g.Scripts.Get(ctx, acct, name)
	if err != nil {
		return g.Scripts.SetActive(ctx, acct, name) // its own error
	}
	added, all, err := g.check(ctx, acct, src)
	if err != nil {
		return err
	}
	if err := g.Scripts.SetActive(ctx, acct, name); err != nil {
		return err
	}
	g.added(ctx, acct, added, all)
	return nil
}

func (g *ForwardGuard) added(ctx context.Context, acct store.AccountID, added, all []string) {
	if len(added) > 0 && g.Added != nil {
		g.Added(ctx, acct, added, all)
	}
}
