package importer

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/youju/youju/internal/fsutil"
	"github.com/youju/youju/internal/store"
)

// State is the per-account record of what was imported, so that a second
// run copies nothing and a run killed halfway resumes without duplicates.
// It lives in DATA/import/ACCOUNT/state, one line per event:
//
//	B <TAB> mailbox id <TAB> UID lower bound <TAB> folder   a batch begins
//	K <TAB> sha256 [<TAB> id key]                           one of its messages
//	E                                                       the batch is stored
//	A                                                       nothing of it was (quota, size)
//
// A batch is written (and fsynced) before AppendMessages and closed after
// it returns. A batch left open by a crash is settled at the next Open by
// asking the store for the digests of the messages at or above the lower
// bound in that mailbox: an Append is all or none, so the keys found there
// were stored and the others were not.
type State struct {
	// mu makes a State shared by concurrent Importers (IMAP workers): one
	// batch at a time is begun, stored and ended (the store has one
	// writer anyway; the workers overlap their network reads).
	mu   sync.Mutex
	path string
	f    *os.File
	lock *os.File // flock held while open
	w    *bufio.Writer
	seen map[string]bool // folder + "\x00" + sha256 hex
	// ids are the id keys (dedupe.go) of the messages imported, in any
	// folder: with Importer.Dedupe a message whose Message-ID, size and
	// date match one of them is skipped.
	ids  map[string]bool
	idOf map[string]string // sha256 -> id key, for messages that have one
}

// StateDir is the directory of an account's import state in a data
// directory.
func StateDir(dataDir, account string) string {
	return filepath.Join(dataDir, "import", account)
}

// openBatch is an unfinished batch found in the file.
type openBatch struct {
	mbox   store.MailboxID
	since  store.UID
	folder string
	keys   []string
	ids    []string // id key of each of keys, "" if none
}

// OpenState loads (and compacts) the state in dir, settling an unfinished
// batch through t.
func OpenState(ctx context.Context, dir string, t Target, acct store.AccountID) (*State, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &State{path: filepath.Join(dir, "state"), seen: map[string]bool{}, ids: map[string]bool{}, idOf: map[string]string{}}
	// One import per account at a time: two would both settle and append.
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("another import into this account is running (%s): %w", dir, err)
	}
	s.lock = lock
	opens, err := s.load()
	if err != nil {
		s.lock.Close()
		return nil, err
	}
	for _, open := range opens {
		if len(open.keys) == 0 {
			continue
		}
		have, err := t.Digests(ctx, acct, open.mbox, open.since)
		if err != nil {
			s.lock.Close()
			return nil, fmt.Errorf("import state: settling an unfinished batch: %w", err)
		}
		set := map[string]bool{}
		for _, h := range have {
			set[h] = true
		}
		for i, k := range open.keys {
			if set[k] {
				s.seen[open.folder+"\x00"+k] = true
				s.addID(k, open.ids[i])
			}
		}
	}
	if err := s.compact(); err != nil {
		s.lock.Close()
		return nil, err
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.lock.Close()
		return nil, err
	}
	s.f, s.w = f, bufio.NewWriterSize(f, 64<<10)
	return s, nil
}

// load reads the file; it returns the batches left unfinished (by a
// crash, or by a failure whose outcome was unknown while other workers
// went on).
func (s *State) load() ([]*openBatch, error) {
	f, err := os.Open(s.path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var cur *openBatch
	var opens []*openBatch
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), "\t", 4)
		switch {
		case f[0] == "B" && len(f) == 4:
			id, _ := strconv.ParseInt(f[1], 10, 64)
			since, _ := strconv.ParseUint(f[2], 10, 32)
			if cur != nil {
				opens = append(opens, cur)
			}
			cur = &openBatch{mbox: store.MailboxID(id), since: store.UID(since), folder: f[3]}
		case f[0] == "K" && (len(f) == 2 || len(f) == 3) && cur != nil:
			cur.keys = append(cur.keys, f[1])
			id := ""
			if len(f) == 3 {
				id = f[2]
			}
			cur.ids = append(cur.ids, id)
		case f[0] == "E" && cur != nil:
			for i, k := range cur.keys {
				s.seen[cur.folder+"\x00"+k] = true
				s.addID(k, cur.ids[i])
			}
			cur = nil
		case f[0] == "A":
			cur = nil
		}
		// Anything else is a torn last line of a crash: ignored.
	}
	if cur != nil {
		opens = append(opens, cur)
	}
	return opens, sc.Err()
}

// compact rewrites the file atomically with one closed batch per folder.
func (s *State) compact() error {
	by := map[string][]string{}
	for k := range s.seen {
		folder, h, _ := strings.Cut(k, "\x00")
		by[folder] = append(by[folder], h)
	}
	var b strings.Builder
	for folder, hs := range by {
		fmt.Fprintf(&b, "B\t0\t0\t%s\n", folder)
		for _, h := range hs {
			if id := s.idOf[h]; id != "" {
				fmt.Fprintf(&b, "K\t%s\t%s\n", h, id)
			} else {
				fmt.Fprintf(&b, "K\t%s\n", h)
			}
		}
		b.WriteString("E\n")
	}
	return fsutil.WriteFileAtomic(s.path, []byte(b.String()), 0o600)
}

// Has reports whether a message with digest h was imported into folder.
func (s *State) Has(folder, h string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[folder+"\x00"+h]
}

// begin records, durably, that a batch is about to be stored.
func (s *State) begin(mbox store.MailboxID, since store.UID, folder string, keys, ids []string) error {
	fmt.Fprintf(s.w, "B\t%d\t%d\t%s\n", mbox, since, folder)
	for i, k := range keys {
		if ids[i] != "" {
			fmt.Fprintf(s.w, "K\t%s\t%s\n", k, ids[i])
		} else {
			fmt.Fprintf(s.w, "K\t%s\n", k)
		}
	}
	return s.sync()
}

// end records that the batch was stored (E), or that nothing of it was (A).
func (s *State) end(folder string, keys, ids []string, stored bool) error {
	if !stored {
		s.w.WriteString("A\n")
		return s.sync()
	}
	for i, k := range keys {
		s.seen[folder+"\x00"+k] = true
		s.addID(k, ids[i])
	}
	s.w.WriteString("E\n")
	return s.sync()
}

func (s *State) sync() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("import state: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("import state: %w", err)
	}
	return nil
}

// Close closes the file.
func (s *State) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.w.Flush()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.lock.Close()
	s.f = nil
	return err
}
