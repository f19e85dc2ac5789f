package web

import (
	"context"
	"sync"
	"time"

	"github.com/youju/youju/internal/store"
)

// memSessions keeps web sessions in memory, for a store without
// store.WebSessions (and for a web handler with no store): sessions end
// at a restart and are not shared between nodes.
type memSessions struct {
	mu   sync.Mutex
	m    map[[32]byte]store.WebSession
	totp map[store.AccountID]*memTOTP
}

type memTOTP struct {
	secret string
	step   int64
}

// maxMemSessions bounds memory: past it, the least recently used session
// is dropped.
const maxMemSessions = 10_000

func newMemSessions() *memSessions {
	return &memSessions{m: map[[32]byte]store.WebSession{}, totp: map[store.AccountID]*memTOTP{}}
}

var _ store.WebSessions = (*memSessions)(nil)

func (m *memSessions) CreateWebSession(_ context.Context, s store.WebSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.m) >= maxMemSessions {
		var oldest store.WebSession
		for _, o := range m.m {
			if oldest.LastSeen.IsZero() || o.LastSeen.Before(oldest.LastSeen) {
				oldest = o
			}
		}
		delete(m.m, oldest.ID)
	}
	m.m[s.ID] = s
	return nil
}

func (m *memSessions) WebSession(_ context.Context, id [32]byte) (store.WebSession, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.m[id]
	if !ok {
		return s, store.ErrNotFound
	}
	return s, nil
}

func (m *memSessions) TouchWebSession(_ context.Context, id [32]byte, t time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.m[id]; ok {
		s.LastSeen = t
		m.m[id] = s
	}
	return nil
}

func (m *memSessions) DeleteWebSession(_ context.Context, id [32]byte) error {
	m.mu.Lock()
	delete(m.m, id)
	m.mu.Unlock()
	return nil
}

func (m *memSessions) DeleteAccountWebSessions(_ context.Context, acct store.AccountID, keep [32]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, s := range m.m {
		if s.Account == acct && k != keep {
			delete(m.m, k)
		}
	}
	return nil
}

func (m *memSessions) ExpireWebSessions(_ context.Context, idle, created time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, s := range m.m {
		if s.LastSeen.Before(idle) || s.Created.Before(created) {
			delete(m.m, k)
			n++
		}
	}
	return n, nil
}

func (m *memSessions) WebTOTP(_ context.Context, acct store.AccountID) (string, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.totp[acct]
	if !ok {
		return "", 0, store.ErrNotFound
	}
	return t.secret, t.step, nil
}

func (m *memSessions) SetWebTOTP(_ context.Context, acct store.AccountID, secret string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if secret == "" {
		delete(m.totp, acct)
	} else {
		m.totp[acct] = &memTOTP{secret: secret}
	}
	return nil
}

func (m *memSessions) UseWebTOTPStep(_ context.Context, acct store.AccountID, step int64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.totp[acct]
	if !ok || t.step >= step {
		return false, nil
	}
	t.step = step
	return true, nil
}
