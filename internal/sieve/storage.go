package sieve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/youju/youju/internal/fsutil"
	"github.com/youju/youju/internal/store"
)

// Storage errors.
var (
	ErrNoScript   = errors.New("sieve: no such script")
	ErrExists     = errors.New("sieve: a script of that name exists")
	ErrActive     = errors.New("sieve: the script is active")
	ErrBadName    = errors.New("sieve: invalid script name")
	ErrTooMany    = errors.New("sieve: too many scripts")
	ErrScriptSize = errors.New("sieve: script too large")
)

// MaxScripts bounds an account's scripts.
const MaxScripts = 32

// ScriptInfo is one stored script.
type ScriptInfo struct {
	Name   string
	Active bool
}

// Scripts keeps each account's scripts, one of them active. The file
// store below is the embedded implementation; a database backend can
// implement it the same way.
type Scripts interface {
	List(ctx context.Context, acct store.AccountID) ([]ScriptInfo, error)
	Get(ctx context.Context, acct store.AccountID, name string) (string, error)
	// Put stores a script (which the caller has compiled).
	Put(ctx context.Context, acct store.AccountID, name, src string) error
	Delete(ctx context.Context, acct store.AccountID, name string) error
	Rename(ctx context.Context, acct store.AccountID, from, to string) error
	// SetActive makes name the active script; "" deactivates.
	SetActive(ctx context.Context, acct store.AccountID, name string) error
	// Active returns the compiled active script, nil if there is none.
	Active(ctx context.Context, acct store.AccountID) (*Script, string, error)
}

// Tracker remembers the vacation responses sent (RFC 5230 §4.2).
type Tracker interface {
	// Respond reports whether key may be answered now, and if so records
	// that it was, for period.
	Respond(ctx context.Context, acct store.AccountID, key string, period time.Duration) (bool, error)
	// Recorded reports whether key is recorded (and not expired),
	// without recording it.
	Recorded(ctx context.Context, acct store.AccountID, key string) (bool, error)
}

// ValidName checks a script name (RFC 5804 §1.6: no control characters,
// UTF-8; we also bound the length).
func ValidName(name string) bool {
	if name == "" || len(name) > 128 || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == 0x2028 || r == 0x2029 {
			return false
		}
	}
	return true
}

// FileStore keeps scripts as files: DIR/ACCOUNTID/NAME.sieve (the name
// path-escaped), the active script's name in DIR/ACCOUNTID/active, and
// the vacation tracking in DIR/ACCOUNTID/vacation.json; every file is
// written with fsutil.WriteFileAtomic. Compiled active scripts are cached
// in memory, checked against the files' size and modification time (at
// every use, or once per Recheck), so a file changed behind the server's
// back is seen; a change made through the FileStore drops its entry.
type FileStore struct {
	Dir string
	// Recheck is how long a cached active script is used without looking
	// at its files again; 0 looks at every use. The server's one
	// FileStore, through which ManageSieve and the settings page write,
	// sets a second: a stat(2) per account and second rather than per
	// delivery, and a file changed behind its back (by hand, or by
	// `youju user sieve` in another process) is seen within that time.
	Recheck time.Duration
	now     func() time.Time // time.Now; tests set it

	mu    sync.Mutex
	cache map[store.AccountID]activeEntry
	locks map[store.AccountID]*sync.Mutex
	gen   uint64 // counts writes: an entry read across one is not cached
}

type activeEntry struct {
	name    string
	script  *Script
	stamp   [2]fileStamp // of "active" and of the script
	checked time.Time    // when the stamps were last found current
}

// fileStamp identifies a version of a file; the zero value is "absent".
type fileStamp struct {
	size int64
	mod  time.Time
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{fi.Size(), fi.ModTime()}
}

func (f *FileStore) acctDir(acct store.AccountID) string {
	return filepath.Join(f.Dir, strconv.FormatInt(int64(acct), 10))
}

func (f *FileStore) path(acct store.AccountID, name string) string {
	return filepath.Join(f.acctDir(acct), url.PathEscape(name)+".sieve")
}

// lock serialises the writes of one account.
func (f *FileStore) lock(acct store.AccountID) func() {
	f.mu.Lock()
	if f.locks == nil {
		f.locks = map[store.AccountID]*sync.Mutex{}
	}
	l := f.locks[acct]
	if l == nil {
		l = &sync.Mutex{}
		f.locks[acct] = l
	}
	delete(f.cache, acct)
	f.gen++
	f.mu.Unlock()
	l.Lock()
	return func() {
		f.mu.Lock()
		delete(f.cache, acct)
		f.gen++
		f.mu.Unlock()
		l.Unlock()
	}
}

func (f *FileStore) activeName(acct store.AccountID) (string, error) {
	b, err := os.ReadFile(filepath.Join(f.acctDir(acct), "active"))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	return strings.TrimSpace(string(b)), err
}

// List implements Scripts.
func (f *FileStore) List(ctx context.Context, acct store.AccountID) ([]ScriptInfo, error) {
	ents, err := os.ReadDir(f.acctDir(acct))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	active, err := f.activeName(acct)
	if err != nil {
		return nil, err
	}
	var out []ScriptInfo
	for _, e := range ents {
		n, ok := strings.CutSuffix(e.Name(), ".sieve")
		if !ok || strings.HasPrefix(n, ".") && strings.Contains(n, ".tmp") {
			continue
		}
		name, err := url.PathUnescape(n)
		if err != nil {
			continue
		}
		out = append(out, ScriptInfo{Name: name, Active: name == active})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Get implements Scripts.
func (f *FileStore) Get(ctx context.Context, acct store.AccountID, name string) (string, error) {
	if !ValidName(name) {
		return "", ErrNoScript
	}
	b, err := os.ReadFile(f.path(acct, name))
	if errors.Is(err, os.ErrNotExist) {
		return "", ErrNoScript
	}
	return string(b), err
}

// Put implements Scripts.
func (f *FileStore) Put(ctx context.Context, acct store.AccountID, name, src string) error {
	if !ValidName(name) {
		return ErrBadName
	}
	if len(src) > MaxScriptSize {
		return ErrScriptSize
	}
	defer f.lock(acct)()
	p := f.path(acct, name)
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		list, err := f.List(ctx, acct)
		if err != nil {
			return err
		}
		if len(list) >= MaxScripts {
			return ErrTooMany
		}
	}
	if err := os.MkdirAll(f.acctDir(acct), 0o700); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(p, []byte(src), 0o600)
}

// Delete implements Scripts; the active script cannot be deleted (RFC
// 5804 §2.10).
func (f *FileStore) Delete(ctx context.Context, acct store.AccountID, name string) error {
	defer f.lock(acct)()
	active, err := f.activeName(acct)
	if err != nil {
		return err
	}
	if active == name {
		return ErrActive
	}
	if err := os.Remove(f.path(acct, name)); errors.Is(err, os.ErrNotExist) || !ValidName(name) {
		return ErrNoScript
	} else if err != nil {
		return err
	}
	return fsutil.SyncDir(f.acctDir(acct))
}

// Rename implements Scripts (RFC 5804 §2.11.1: the active script stays
// active under its new name).
func (f *FileStore) Rename(ctx context.Context, acct store.AccountID, from, to string) error {
	if !ValidName(to) {
		return ErrBadName
	}
	defer f.lock(acct)()
	if _, err := os.Stat(f.path(acct, to)); err == nil {
		return ErrExists
	}
	if !ValidName(from) {
		return ErrNoScript
	}
	if err := os.Rename(f.path(acct, from), f.path(acct, to)); errors.Is(err, os.ErrNotExist) {
		return ErrNoScript
	} else if err != nil {
		return err
	}
	if err := fsutil.SyncDir(f.acctDir(acct)); err != nil {
		return err
	}
	if active, _ := f.activeName(acct); active == from {
		return f.writeActive(acct, to)
	}
	return nil
}

func (f *FileStore) writeActive(acct store.AccountID, name string) error {
	p := filepath.Join(f.acctDir(acct), "active")
	if name == "" {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	return fsutil.WriteFileAtomic(p, []byte(name+"\n"), 0o600)
}

// SetActive implements Scripts.
func (f *FileStore) SetActive(ctx context.Context, acct store.AccountID, name string) error {
	defer f.lock(acct)()
	if name != "" {
		if !ValidName(name) {
			return ErrNoScript
		}
		if _, err := os.Stat(f.path(acct, name)); err != nil {
			return ErrNoScript
		}
	}
	return f.writeActive(acct, name)
}

// Active implements Scripts. A stored script that no longer compiles
// (a newer youju stored it, or the file was edited by hand) is an error.
func (f *FileStore) Active(ctx context.Context, acct store.AccountID) (*Script, string, error) {
	var now time.Time
	if f.Recheck > 0 {
		now = f.clock()
	}
	f.mu.Lock()
	e, ok := f.cache[acct]
	gen := f.gen
	f.mu.Unlock()
	if ok && f.Recheck > 0 && now.Sub(e.checked) < f.Recheck {
		return e.script, e.name, nil
	}
	activeStamp := stampOf(filepath.Join(f.acctDir(acct), "active"))
	if ok && e.stamp[0] == activeStamp && (e.name == "" || e.stamp[1] == stampOf(f.path(acct, e.name))) {
		if f.Recheck > 0 {
			e.checked = now
			f.remember(acct, e, gen)
		}
		return e.script, e.name, nil
	}
	name, err := f.activeName(acct)
	if err != nil || name == "" {
		if err == nil {
			f.remember(acct, activeEntry{stamp: [2]fileStamp{activeStamp}, checked: now}, gen)
		}
		return nil, "", err
	}
	scriptStamp := stampOf(f.path(acct, name))
	src, err := f.Get(ctx, acct, name)
	if err != nil {
		return nil, name, err
	}
	s, err := Compile(src)
	if err != nil {
		return nil, name, fmt.Errorf("script %q: %w", name, err)
	}
	f.remember(acct, activeEntry{name: name, script: s, stamp: [2]fileStamp{activeStamp, scriptStamp}, checked: now}, gen)
	return s, name, nil
}

func (f *FileStore) clock() time.Time {
	if f.now != nil {
		return f.now()
	}
	return time.Now()
}

// remember caches e unless a write through f began since gen was read:
// e may then describe the files before it.
func (f *FileStore) remember(acct store.AccountID, e activeEntry, gen uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gen != gen {
		return
	}
	if f.cache == nil {
		f.cache = map[store.AccountID]activeEntry{}
	}
	if len(f.cache) > 100000 {
		clear(f.cache)
	}
	f.cache[acct] = e
}

// maxTracked bounds the senders remembered per account.
const maxTracked = 10000

// Respond implements Tracker with a JSON file per account.
func (f *FileStore) Respond(ctx context.Context, acct store.AccountID, key string, period time.Duration) (bool, error) {
	unlock := f.lockTracker(acct)
	defer unlock()
	p := filepath.Join(f.acctDir(acct), "vacation.json")
	seen := map[string]int64{}
	if b, err := os.ReadFile(p); err == nil {
		_ = json.Unmarshal(b, &seen)
	}
	now := time.Now().Unix()
	if until, ok := seen[key]; ok && until > now {
		return false, nil
	}
	for k, until := range seen {
		if until <= now {
			delete(seen, k)
		}
	}
	if len(seen) >= maxTracked {
		return false, nil // rather no reply than an unbounded file
	}
	seen[key] = now + int64(period/time.Second)
	b, _ := json.Marshal(seen)
	if err := os.MkdirAll(f.acctDir(acct), 0o700); err != nil {
		return false, err
	}
	return true, fsutil.WriteFileAtomic(p, b, 0o600)
}

// Recorded implements Tracker.
func (f *FileStore) Recorded(ctx context.Context, acct store.AccountID, key string) (bool, error) {
	unlock := f.lockTracker(acct)
	defer unlock()
	seen := map[string]int64{}
	b, err := os.ReadFile(filepath.Join(f.acctDir(acct), "vacation.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_ = json.Unmarshal(b, &seen)
	until, ok := seen[key]
	return ok && until > time.Now().Unix(), nil
}

// lockTracker serialises the tracking of one account without dropping
// the compiled-script cache.
func (f *FileStore) lockTracker(acct store.AccountID) func() {
	f.mu.Lock()
	if f.locks == nil {
		f.locks = map[store.AccountID]*sync.Mutex{}
	}
	l := f.locks[-acct-1]
	if l == nil {
		l = &sync.Mutex{}
		f.locks[-acct-1] = l
	}
	f.mu.Unlock()
	l.Lock()
	return l.Unlock
}
