// Package deliverytest has a tiny in-memory store for the tests of
// delivery and smtpd: only the methods that delivery uses work; every
// other store method panics (the embedded nil interface), so a test that
// strays is loud.
package deliverytest

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/youju/youju/internal/store"
)

// Stored is one delivered message.
type Stored struct {
	Account store.AccountID
	Data    []byte
}

// Store is the in-memory store.
type Store struct {
	store.Store // nil: unimplemented methods panic

	mu        sync.Mutex
	domains   map[string]bool
	accounts  map[string]store.Account
	aliases   map[string]store.Alias
	used      map[store.AccountID]int64
	Delivered []Stored
	// Fail, if set, is returned by Deliver, Quota and lookups (a broken disk).
	Fail error
	// TargetErr, if set, is the per-target error of Deliver for an account.
	TargetErr map[store.AccountID]error
	nextID    store.AccountID
}

// New returns an empty store.
func New() *Store {
	return &Store{domains: map[string]bool{}, accounts: map[string]store.Account{},
		aliases: map[string]store.Alias{}, used: map[store.AccountID]int64{}, TargetErr: map[store.AccountID]error{}}
}

// AddDomain adds a local domain.
func (s *Store) AddDomain(_ context.Context, d string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.domains[strings.ToLower(d)] = true
	return nil
}

// IsLocalDomain implements store.Accounts.
func (s *Store) IsLocalDomain(_ context.Context, d string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return false, s.Fail
	}
	return s.domains[strings.ToLower(d)], nil
}

// CreateAccount implements store.Accounts.
func (s *Store) CreateAccount(_ context.Context, a store.Account) (store.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	a.ID = s.nextID
	a.Address = strings.ToLower(a.Address)
	s.accounts[a.Address] = a
	return a, nil
}

// Put replaces an account (same ID), e.g. to change its quota.
func (s *Store) Put(a store.Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts[strings.ToLower(a.Address)] = a
}

// Account implements store.Accounts.
func (s *Store) Account(_ context.Context, addr string) (store.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return store.Account{}, s.Fail
	}
	a, ok := s.accounts[strings.ToLower(addr)]
	if !ok {
		return store.Account{}, store.ErrNotFound
	}
	a.UsedBytes = s.used[a.ID]
	return a, nil
}

// SetAlias implements store.Accounts.
func (s *Store) SetAlias(_ context.Context, a store.Alias) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.aliases[strings.ToLower(a.Address)] = a
	return nil
}

// Alias implements store.Accounts.
func (s *Store) Alias(_ context.Context, addr string) (store.Alias, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return store.Alias{}, s.Fail
	}
	a, ok := s.aliases[strings.ToLower(addr)]
	if !ok {
		return store.Alias{}, store.ErrNotFound
	}
	return a, nil
}

func (s *Store) byID(id store.AccountID) (store.Account, bool) {
	for _, a := range s.accounts {
		if a.ID == id {
			return a, true
		}
	}
	return store.Account{}, false
}

// Quota implements store.Mail.
func (s *Store) Quota(_ context.Context, id store.AccountID) (int64, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return 0, 0, s.Fail
	}
	a, ok := s.byID(id)
	if !ok {
		return 0, 0, store.ErrNotFound
	}
	return s.used[id], a.QuotaBytes, nil
}

// SetUsed sets the bytes an account uses.
func (s *Store) SetUsed(id store.AccountID, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used[id] = n
}

// Deliver implements store.Mail.
func (s *Store) Deliver(_ context.Context, d store.Delivery) ([]store.TargetResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return nil, s.Fail
	}
	res := make([]store.TargetResult, len(d.Targets))
	for i, t := range d.Targets {
		if err := s.TargetErr[t.Account]; err != nil {
			res[i].Err = err
			continue
		}
		if _, ok := s.byID(t.Account); !ok {
			res[i].Err = store.ErrNotFound
			continue
		}
		s.used[t.Account] += int64(len(d.Data))
		s.Delivered = append(s.Delivered, Stored{Account: t.Account, Data: append([]byte(nil), d.Data...)})
		res[i].UID = store.UID(len(s.Delivered))
	}
	return res, nil
}

// For returns the messages delivered to an account.
func (s *Store) For(id store.AccountID) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]byte
	for _, m := range s.Delivered {
		if m.Account == id {
			out = append(out, m.Data)
		}
	}
	return out
}

// ErrBroken is a convenient store failure.
var ErrBroken = errors.New("deliverytest: disk on fire")
