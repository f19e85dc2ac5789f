package spam

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/youju/youju/internal/fsutil"
)

// SendLimitFile holds per-account message limits, DATA/spam/sendlimits.json:
// {"ACCOUNT-ID": [hour, day]}. The CLI writes it (youju user set
// --send-limit); the server rereads it when it changed, at most every
// few seconds, so a change applies without a restart.
type SendLimitFile struct {
	Path string

	mu      sync.Mutex
	checked time.Time
	mtime   time.Time
	limits  map[string][2]int
}

// Lookup is a SendLimits.Override.
func (f *SendLimitFile) Lookup(acct int64) (hour, day int, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := time.Now(); now.Sub(f.checked) > 5*time.Second {
		f.checked = now
		if st, err := os.Stat(f.Path); err == nil && !st.ModTime().Equal(f.mtime) {
			if m, err := readSendLimits(f.Path); err == nil {
				f.limits, f.mtime = m, st.ModTime()
			}
		} else if err != nil {
			f.limits = nil
		}
	}
	v, ok := f.limits[strconv.FormatInt(acct, 10)]
	return v[0], v[1], ok
}

func readSendLimits(path string) (map[string][2]int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string][2]int{}, nil
	}
	if err != nil {
		return nil, err
	}
	m := map[string][2]int{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("spam: %s: %w", path, err)
	}
	return m, nil
}

// SetSendLimit records acct's limits (hour, day; -1 = none); hour 0
// removes the account's own limits (the server's apply again).
func SetSendLimit(path string, acct int64, hour, day int) error {
	m, err := readSendLimits(path)
	if err != nil {
		return err
	}
	k := strconv.FormatInt(acct, 10)
	if hour == 0 {
		delete(m, k)
	} else {
		m[k] = [2]int{hour, day}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, b, 0o600)
}
