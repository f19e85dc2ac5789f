package spam

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/youju/youju/internal/fsutil"
	"github.com/youju/youju/internal/store"
)

// Global is the account number of the global model, which every
// training also feeds: a new account is protected from its first day.
const Global = 0

// Filter is the learning filter: a Model per account plus the global
// one, each in DIR/ACCOUNT.model (gob), loaded on first use, bounded to
// MaxTokens tokens, written atomically by Flush.
type Filter struct {
	Dir       string // "" keeps the models in memory
	MaxTokens int    // per model (default 200000: a few MiB)
	// State, if set, keeps the models in the store shared by every node
	// (bayesshared.go) instead of Dir.
	State store.StateStore

	mu      sync.Mutex
	models  map[int64]*filterModel
	learnMu sync.Mutex // one Learn at a time: its check and training are one step
}

type filterModel struct {
	mu    sync.RWMutex
	m     *Model
	dirty bool
}

func (f *Filter) maxTokens() int {
	if f.MaxTokens > 0 {
		return f.MaxTokens
	}
	return 200000
}

func (f *Filter) path(acct int64) string {
	return filepath.Join(f.Dir, fmt.Sprintf("%d.model", acct))
}

// model returns acct's model, loading it on first use.
func (f *Filter) model(acct int64) (*filterModel, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fm := f.models[acct]; fm != nil {
		return fm, nil
	}
	m := NewModel()
	if f.Dir != "" {
		b, err := os.ReadFile(f.path(acct))
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, err
		default:
			if err := gob.NewDecoder(bytes.NewReader(b)).Decode(m); err != nil {
				return nil, fmt.Errorf("spam: %s: %w", f.path(acct), err)
			}
			if m.Counts == nil {
				m.Counts = map[string][2]uint32{}
			}
		}
	}
	if f.models == nil {
		f.models = map[int64]*filterModel{}
	}
	fm := &filterModel{m: m}
	f.models[acct] = fm
	return fm, nil
}

// Train learns one message of acct as spam or ham (untrain: forgets a
// previous training, when a user changes their mind), in acct's model
// and the global one.
func (f *Filter) Train(acct int64, tokens []string, spam, untrain bool) error {
	if f.State != nil {
		return f.trainShared(acct, tokens, spam, untrain)
	}
	for _, a := range []int64{acct, Global} {
		fm, err := f.model(a)
		if err != nil {
			return err
		}
		fm.mu.Lock()
		fm.m.Train(tokens, spam, untrain)
		if len(fm.m.Counts) > f.maxTokens()*11/10 {
			fm.m.Prune(f.maxTokens())
		}
		fm.dirty = true
		fm.mu.Unlock()
		if acct == Global {
			break
		}
	}
	return nil
}

// Classify returns the spam probability of tokens for acct: from its
// own model once it has learnt enough (the global one fills in tokens
// it has not seen), else from the global model. ok is false when
// neither knows enough.
func (f *Filter) Classify(acct int64, tokens []string) (p float64, ok bool, err error) {
	if f.State != nil {
		return f.classifyShared(acct, tokens)
	}
	g, err := f.model(Global)
	if err != nil {
		return 0.5, false, err
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	if acct != Global {
		a, err := f.model(acct)
		if err != nil {
			return 0.5, false, err
		}
		a.mu.RLock()
		p, ok = a.m.Classify(tokens, g.m)
		a.mu.RUnlock()
		if ok {
			return p, true, nil
		}
	}
	p, ok = g.m.Classify(tokens, nil)
	return p, ok, nil
}

// Flush writes the models that changed.
func (f *Filter) Flush() error {
	if f.Dir == "" || f.State != nil {
		return nil
	}
	f.mu.Lock()
	ids := make(map[int64]*filterModel, len(f.models))
	for k, v := range f.models {
		ids[k] = v
	}
	f.mu.Unlock()
	var first error
	for acct, fm := range ids {
		fm.mu.Lock()
		if !fm.dirty {
			fm.mu.Unlock()
			continue
		}
		var b bytes.Buffer
		err := gob.NewEncoder(&b).Encode(fm.m)
		fm.dirty = false
		fm.mu.Unlock()
		if err == nil {
			if err = os.MkdirAll(f.Dir, 0o700); err == nil {
				err = fsutil.WriteFileAtomic(f.path(acct), b.Bytes(), 0o600)
			}
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Classes reports how many ham and spam messages acct's model learnt.
func (f *Filter) Classes(acct int64) (ham, spam uint32, err error) {
	if f.State != nil {
		return f.classesShared(acct)
	}
	fm, err := f.model(acct)
	if err != nil {
		return 0, 0, err
	}
	fm.mu.RLock()
	defer fm.mu.RUnlock()
	return fm.m.Ham, fm.m.Spam, nil
}
