package pop3

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/youju/youju/internal/notify"
	"github.com/youju/youju/internal/store"
)

// memStore is a small in-memory store.Store with just what POP3 and auth
// use, for the fuzz target and the failure-injection tests; the loopback
// tests use the real SQLite store. Other methods panic (nil embedded
// interface), which the session's recovery would log: a test would see it.
type memStore struct {
	store.Store
	mu         sync.Mutex
	hub        notify.Hub
	accts      map[string]store.Account
	boxes      map[store.MailboxID]*memBox
	nextBox    store.MailboxID
	failOpen   error // returned by OpenMessage when set
	failRemove error // returned by Remove when set
}

type memBox struct {
	mb   store.Mailbox
	msgs []memMsg // ascending UID
}

type memMsg struct {
	m    store.Message
	data []byte
}

func newMemStore() *memStore {
	return &memStore{accts: map[string]store.Account{}, boxes: map[store.MailboxID]*memBox{}}
}

func (s *memStore) addAccount(a store.Account) store.Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	a.ID = store.AccountID(len(s.accts) + 1)
	s.accts[a.Address] = a
	s.createLocked(a.ID, store.InboxName, "")
	for _, d := range store.DefaultMailboxes {
		s.createLocked(a.ID, d.Name, d.SpecialUse)
	}
	return a
}

func (s *memStore) createLocked(acct store.AccountID, name, special string) store.Mailbox {
	s.nextBox++
	b := &memBox{mb: store.Mailbox{ID: s.nextBox, AccountID: acct, Name: name, UIDValidity: 1000, UIDNext: 1, SpecialUse: special}}
	s.boxes[b.mb.ID] = b
	return b.mb
}

// add appends a message to a mailbox and returns its UID.
func (s *memStore) add(acct store.AccountID, name string, data string, date time.Time) store.UID {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.findLocked(acct, name)
	uid := b.mb.UIDNext
	b.mb.UIDNext++
	b.msgs = append(b.msgs, memMsg{m: store.Message{UID: uid, Size: int64(len(data)), InternalDate: date}, data: []byte(data)})
	return uid
}

func (s *memStore) findLocked(acct store.AccountID, name string) *memBox {
	for _, b := range s.boxes {
		if b.mb.AccountID == acct && strings.EqualFold(b.mb.Name, name) {
			return b
		}
	}
	return nil
}

func (s *memStore) box(acct store.AccountID, id store.MailboxID) (*memBox, error) {
	b := s.boxes[id]
	if b == nil || b.mb.AccountID != acct {
		return nil, store.ErrNotFound
	}
	return b, nil
}

func (s *memStore) Account(_ context.Context, addr string) (store.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accts[addr]
	if !ok {
		return a, store.ErrNotFound
	}
	return a, nil
}

func (s *memStore) AppPasswords(context.Context, store.AccountID) ([]store.AppPassword, error) {
	return nil, nil
}

func (s *memStore) TouchAppPassword(context.Context, int64, time.Time) error { return nil }

func (s *memStore) Notifier() store.Notifier { return &s.hub }

func (s *memStore) Mailboxes(_ context.Context, acct store.AccountID) ([]store.Mailbox, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Mailbox
	for _, b := range s.boxes {
		if b.mb.AccountID == acct {
			mb := b.mb
			mb.Messages = len(b.msgs)
			out = append(out, mb)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (s *memStore) Mailbox(_ context.Context, acct store.AccountID, name string) (store.Mailbox, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.findLocked(acct, name)
	if b == nil {
		return store.Mailbox{}, store.ErrNotFound
	}
	mb := b.mb
	mb.Messages = len(b.msgs)
	return mb, nil
}

func (s *memStore) CreateMailbox(_ context.Context, acct store.AccountID, name, special string) (store.Mailbox, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.findLocked(acct, name) != nil {
		return store.Mailbox{}, store.ErrExists
	}
	return s.createLocked(acct, name, special), nil
}

func (s *memStore) ListMessages(_ context.Context, acct store.AccountID, mbox store.MailboxID, _ store.ListOptions, fn func(*store.Message) error) error {
	s.mu.Lock()
	b, err := s.box(acct, mbox)
	var msgs []store.Message
	if err == nil {
		for _, m := range b.msgs {
			msgs = append(msgs, m.m)
		}
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	for i := range msgs {
		if err := fn(&msgs[i]); err != nil {
			return err
		}
	}
	return nil
}

type memReader struct {
	*bytes.Reader
}

func (memReader) Close() error { return nil }

func (s *memStore) OpenMessage(_ context.Context, acct store.AccountID, mbox store.MailboxID, uid store.UID) (store.MessageReader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failOpen != nil {
		return nil, s.failOpen
	}
	b, err := s.box(acct, mbox)
	if err != nil {
		return nil, err
	}
	for _, m := range b.msgs {
		if m.m.UID == uid {
			return memReader{bytes.NewReader(m.data)}, nil
		}
	}
	return nil, store.ErrNotFound
}

func (s *memStore) StoreFlags(_ context.Context, acct store.AccountID, mbox store.MailboxID, uids store.UIDSet, op store.FlagOp, f store.Flags, _ store.ModSeq) (store.StoreResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.box(acct, mbox)
	if err != nil {
		return store.StoreResult{}, err
	}
	if op != store.FlagAdd {
		return store.StoreResult{}, errors.New("memStore: only FlagAdd")
	}
	for i := range b.msgs {
		m := &b.msgs[i].m
		if uids.Contains(m.UID) {
			m.Flags.System |= f.System
			for _, k := range f.Keywords {
				if !hasKeyword(m.Flags.Keywords, k) {
					m.Flags.Keywords = append(m.Flags.Keywords, k)
				}
			}
		}
	}
	return store.StoreResult{}, nil
}

func (s *memStore) Remove(_ context.Context, acct store.AccountID, mbox store.MailboxID, uids store.UIDSet) ([]store.UID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failRemove != nil {
		return nil, s.failRemove
	}
	b, err := s.box(acct, mbox)
	if err != nil {
		return nil, err
	}
	var gone []store.UID
	kept := b.msgs[:0]
	for _, m := range b.msgs {
		if uids.Contains(m.m.UID) {
			gone = append(gone, m.m.UID)
		} else {
			kept = append(kept, m)
		}
	}
	b.msgs = kept
	return gone, nil
}

func (s *memStore) Move(ctx context.Context, acct store.AccountID, src store.MailboxID, uids store.UIDSet, dst store.MailboxID) (store.CopyResult, error) {
	s.mu.Lock()
	sb, err1 := s.box(acct, src)
	db, err2 := s.box(acct, dst)
	if err := errors.Join(err1, err2); err != nil {
		s.mu.Unlock()
		return store.CopyResult{}, err
	}
	var res store.CopyResult
	for _, m := range sb.msgs {
		if uids.Contains(m.m.UID) {
			nm := m
			nm.m.UID = db.mb.UIDNext
			db.mb.UIDNext++
			db.msgs = append(db.msgs, nm)
			res.Pairs = append(res.Pairs, store.UIDPair{Src: m.m.UID, Dst: nm.m.UID})
		}
	}
	s.mu.Unlock()
	_, err := s.Remove(ctx, acct, src, uids)
	return res, err
}

func (s *memStore) Close() error { return nil }
