package sieve

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/youju/youju/internal/store"
)

// StateScripts keeps scripts (and the vacation tracking) in the store's
// state (store.StateStore), for a store shared by several nodes: a script
// put through ManageSieve on node A runs at the next delivery on node B.
// Keys:
//
//	sieve/ACCOUNT/s/NAME     the script's source
//	sieve/ACCOUNT/active     the active script's name
//	sieve/ACCOUNT/v/KEY      a vacation response sent; expires after :days
//
// The compiled active script is cached per account by name and version,
// so a delivery costs two key reads and no compilation while the script
// is unchanged.
type StateScripts struct {
	State store.StateStore

	mu    sync.Mutex
	cache map[store.AccountID]stateActive
}

type stateActive struct {
	name    string
	version int64
	script  *Script
}

var (
	_ Scripts = (*StateScripts)(nil)
	_ Tracker = (*StateScripts)(nil)
)

func stateKey(acct store.AccountID, rest string) string {
	return "sieve/" + strconv.FormatInt(int64(acct), 10) + "/" + rest
}

func (s *StateScripts) get(ctx context.Context, key string) (store.StateEntry, bool, error) {
	m, err := s.State.GetState(ctx, key)
	e, ok := m[key]
	return e, ok, err
}

func (s *StateScripts) activeName(ctx context.Context, acct store.AccountID) (string, error) {
	e, _, err := s.get(ctx, stateKey(acct, "active"))
	return string(e.Value), err
}

// List implements Scripts.
func (s *StateScripts) List(ctx context.Context, acct store.AccountID) ([]ScriptInfo, error) {
	prefix := stateKey(acct, "s/")
	list, err := s.State.ListState(ctx, prefix, MaxScripts+1)
	if err != nil {
		return nil, err
	}
	active, err := s.activeName(ctx, acct)
	if err != nil {
		return nil, err
	}
	out := make([]ScriptInfo, 0, len(list))
	for _, e := range list {
		name := strings.TrimPrefix(e.Key, prefix)
		out = append(out, ScriptInfo{Name: name, Active: name == active})
	}
	return out, nil
}

// Get implements Scripts.
func (s *StateScripts) Get(ctx context.Context, acct store.AccountID, name string) (string, error) {
	if !ValidName(name) {
		return "", ErrNoScript
	}
	e, ok, err := s.get(ctx, stateKey(acct, "s/"+name))
	if err == nil && !ok {
		err = ErrNoScript
	}
	return string(e.Value), err
}

// Put implements Scripts.
func (s *StateScripts) Put(ctx context.Context, acct store.AccountID, name, src string) error {
	if !ValidName(name) {
		return ErrBadName
	}
	if len(src) > MaxScriptSize {
		return ErrScriptSize
	}
	if _, err := s.Get(ctx, acct, name); errors.Is(err, ErrNoScript) {
		list, err := s.List(ctx, acct)
		if err != nil {
			return err
		}
		if len(list) >= MaxScripts {
			return ErrTooMany
		}
	} else if err != nil {
		return err
	}
	_, err := s.State.PutState(ctx, stateKey(acct, "s/"+name), []byte(src), -1, 0)
	return err
}

// Delete implements Scripts; the active script cannot be deleted (RFC
// 5804 §2.10).
func (s *StateScripts) Delete(ctx context.Context, acct store.AccountID, name string) error {
	active, err := s.activeName(ctx, acct)
	if err != nil {
		return err
	}
	if active == name {
		return ErrActive
	}
	if _, err := s.Get(ctx, acct, name); err != nil {
		return err
	}
	return s.State.DeleteState(ctx, stateKey(acct, "s/"+name))
}

// Rename implements Scripts (RFC 5804 §2.11.1: the active script stays
// active under its new name). The new name is taken only if nobody, on
// any node, took it first.
func (s *StateScripts) Rename(ctx context.Context, acct store.AccountID, from, to string) error {
	if !ValidName(to) {
		return ErrBadName
	}
	src, err := s.Get(ctx, acct, from)
	if err != nil {
		return err
	}
	ok, err := s.State.PutState(ctx, stateKey(acct, "s/"+to), []byte(src), 0, 0)
	if err != nil {
		return err
	}
	if !ok {
		return ErrExists
	}
	if active, err := s.activeName(ctx, acct); err != nil {
		return err
	} else if active == from {
		if _, err := s.State.PutState(ctx, stateKey(acct, "active"), []byte(to), -1, 0); err != nil {
			return err
		}
	}
	return s.State.DeleteState(ctx, stateKey(acct, "s/"+from))
}

// SetActive implements Scripts.
func (s *StateScripts) SetActive(ctx context.Context, acct store.AccountID, name string) error {
	if name == "" {
		return s.State.DeleteState(ctx, stateKey(acct, "active"))
	}
	if _, err := s.Get(ctx, acct, name); err != nil {
		return err
	}
	_, err := s.State.PutState(ctx, stateKey(acct, "active"), []byte(name), -1, 0)
	return err
}

// Active implements Scripts.
func (s *StateScripts) Active(ctx context.Context, acct store.AccountID) (*Script, string, error) {
	name, err := s.activeName(ctx, acct)
	if err != nil || name == "" {
		return nil, "", err
	}
	e, ok, err := s.get(ctx, stateKey(acct, "s/"+name))
	if err != nil || !ok {
		return nil, name, err // activated, then deleted by a racing node: nothing to run
	}
	s.mu.Lock()
	c, hit := s.cache[acct]
	s.mu.Unlock()
	if hit && c.name == name && c.version == e.Version {
		return c.script, name, nil
	}
	sc, err := Compile(string(e.Value))
	if err != nil {
		return nil, name, fmt.Errorf("script %q: %w", name, err)
	}
	s.mu.Lock()
	if s.cache == nil || len(s.cache) > 100000 {
		s.cache = map[store.AccountID]stateActive{}
	}
	s.cache[acct] = stateActive{name, e.Version, sc}
	s.mu.Unlock()
	return sc, name, nil
}

// Respond implements Tracker: the first node to record key for period
// answers, every other sees it recorded (RFC 5230 §4.2: one response per
// sender per period, whichever node delivers).
func (s *StateScripts) Respond(ctx context.Context, acct store.AccountID, key string, period time.Duration) (bool, error) {
	return s.State.PutState(ctx, stateKey(acct, "v/"+key), nil, 0, max(period, time.Second))
}

// Recorded implements Tracker.
func (s *StateScripts) Recorded(ctx context.Context, acct store.AccountID, key string) (bool, error) {
	_, ok, err := s.get(ctx, stateKey(acct, "v/"+key))
	return ok, err
}

// CopyFiles copies the scripts of the file store into s for every
// account that has none there yet (a node whose store became shared
// keeps the scripts its users had), and returns how many it copied.
func (s *StateScripts) CopyFiles(ctx context.Context, f *FileStore, accts []store.AccountID) (int, error) {
	n := 0
	for _, acct := range accts {
		have, err := s.List(ctx, acct)
		if err != nil || len(have) > 0 {
			if err != nil {
				return n, err
			}
			continue
		}
		list, err := f.List(ctx, acct)
		if err != nil {
			return n, err
		}
		for _, si := range list {
			src, err := f.Get(ctx, acct, si.Name)
			if err != nil {
				return n, err
			}
			if err := s.Put(ctx, acct, si.Name, src); err != nil {
				return n, err
			}
			if si.Active {
				if err := s.SetActive(ctx, acct, si.Name); err != nil {
					return n, err
				}
			}
			n++
		}
	}
	return n, nil
}

// Accounts lists the accounts that have a directory in the file store.
func (f *FileStore) Accounts() ([]store.AccountID, error) {
	ents, err := os.ReadDir(f.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []store.AccountID
	for _, e := range ents {
		if id, err := strconv.ParseInt(e.Name(), 10, 64); err == nil && e.IsDir() {
			out = append(out, store.AccountID(id))
		}
	}
	return out, nil
}
