package importer

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/youju/youju/internal/fsutil"
	"github.com/youju/youju/internal/store"
)

// IMAPSecurity is how an IMAPSource connects.
type IMAPSecurity int

const (
	IMAPTLS      IMAPSecurity = iota // implicit TLS (imaps, port 993)
	IMAPStartTLS                     // STARTTLS on port 143 (RFC 9051 §6.2.1)
	IMAPPlain                        // no TLS: only for loopback (tests)
)

// IMAPSource pulls every folder of a remote IMAP account (QQ, 163, Gmail,
// Dovecot, ...) incrementally: per folder it remembers UIDVALIDITY and the
// last UID imported (RFC 9051 §2.3.1.1: UIDs only grow while UIDVALIDITY
// stays), so a second run fetches only what is new.
type IMAPSource struct {
	Addr               string // host:port
	User, Password     string
	Security           IMAPSecurity
	InsecureSkipVerify bool
	// StateFile keeps the per-folder UIDVALIDITY and last UID.
	StateFile string
	// Chunk is the number of UIDs per UID FETCH (0 = 200).
	Chunk int
	// Retries bound the reconnections after throttling (NO [UNAVAILABLE],
	// BYE, a dropped connection) before giving up (0 = 6); the wait
	// doubles from Backoff (0 = 2s) up to a minute.
	Retries int
	Backoff time.Duration
	Log     *slog.Logger

	mu     sync.Mutex // states, and the state file, between workers
	states map[string]*folderState
}

// folderState is what a run remembers of a remote folder.
type folderState struct {
	UIDValidity uint32 `json:"uidvalidity"`
	LastUID     uint32 `json:"last_uid"`
}

// Run fetches every new message and calls fn for each, folder after
// folder; after each chunk it calls flush (which must make everything
// given to fn durable) and only then records the chunk's last UID.
func (s *IMAPSource) Run(ctx context.Context, fn func(Message) error, flush func() error) error {
	return s.RunConcurrent(ctx, 1, func(int) (func(Message) error, func() error) { return fn, flush })
}

// RunConcurrent is Run with n connections, each pulling whole folders;
// sink(i) gives worker i its own fn and flush (they run concurrently).
func (s *IMAPSource) RunConcurrent(ctx context.Context, n int, sink func(i int) (func(Message) error, func() error)) error {
	if s.Chunk <= 0 {
		s.Chunk = 200
	}
	if s.Retries <= 0 {
		s.Retries = 6
	}
	if s.Backoff <= 0 {
		s.Backoff = 2 * time.Second
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	n = max(1, n)
	states, err := s.loadState()
	if err != nil {
		return err
	}
	s.states = states
	var folders []remoteFolder
	err = s.retry(ctx, func() error {
		var err error
		folders, err = s.listFolders()
		return err
	})
	if err != nil {
		return err
	}
	work := make(chan remoteFolder, len(folders))
	for _, f := range folders {
		work <- f
	}
	close(work)
	// One worker's failure stops the others at their next chunk.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		fn, flush := sink(i)
		go func() { errs <- s.worker(ctx, work, fn, flush) }()
	}
	var first error
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

// remoteFolder is a selectable folder of the remote account.
type remoteFolder struct{ remote, name, special string }

// retry runs f, waiting and trying again after throttling.
func (s *IMAPSource) retry(ctx context.Context, f func() error) error {
	wait := s.Backoff
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || !retryable(err) || attempt >= s.Retries {
			return err
		}
		s.Log.Warn("import: remote server refused or dropped us; backing off", "wait", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
}

// connect dials and logs in.
func (s *IMAPSource) connect() (*imapclient.Client, error) {
	c, err := s.dial()
	if err != nil {
		return nil, err
	}
	if err := c.Login(s.User, s.Password).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("login as %s: %w", s.User, err)
	}
	return c, nil
}

// listFolders lists the folders to pull (views such as \All left out).
func (s *IMAPSource) listFolders() ([]remoteFolder, error) {
	c, err := s.connect()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		return nil, fmt.Errorf("LIST: %w", err)
	}
	var out []remoteFolder
	for _, l := range list {
		if hasAttr(l.Attrs, imap.MailboxAttrNoSelect) || hasAttr(l.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		name, su := l.Mailbox, specialAttr(l.Attrs)
		if l.Delim != 0 && l.Delim != '/' {
			name = strings.ReplaceAll(name, string(l.Delim), "/")
		}
		if MapFolder(name, su).Skip {
			continue
		}
		out = append(out, remoteFolder{l.Mailbox, name, su})
	}
	c.Logout().Wait()
	return out, nil
}

// worker pulls folders from work over one connection, reconnecting
// after throttling.
func (s *IMAPSource) worker(ctx context.Context, work <-chan remoteFolder, fn func(Message) error, flush func() error) error {
	var c *imapclient.Client
	defer func() {
		if c != nil {
			c.Logout().Wait()
			c.Close()
		}
	}()
	for f := range work {
		err := s.retry(ctx, func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if c == nil {
				var err error
				if c, err = s.connect(); err != nil {
					return err
				}
			}
			err := s.pullFolder(ctx, c, f, fn, flush)
			if err != nil {
				c.Close()
				c = nil
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", f.remote, err)
		}
	}
	return nil
}

// retryable reports whether err is throttling or a dropped connection (QQ
// and 163 answer "NO [UNAVAILABLE]", "NO ... frequency limited" or "* BYE"
// when a client is too fast), as opposed to a refused login or a bug.
func retryable(err error) bool {
	if errors.Is(err, ErrStore) || errors.Is(err, context.Canceled) {
		return false // ours, not the remote's: retrying could store twice
	}
	var ie *imap.Error
	if errors.As(err, &ie) {
		if ie.Type == imap.StatusResponseTypeBye {
			return true
		}
		switch ie.Code {
		case imap.ResponseCodeAuthenticationFailed, imap.ResponseCodeAuthorizationFailed:
			return false
		case imap.ResponseCodeUnavailable, imap.ResponseCodeLimit, imap.ResponseCodeServerBug:
			return true
		}
		t := strings.ToLower(ie.Text)
		return strings.Contains(t, "limit") || strings.Contains(t, "frequen") || strings.Contains(t, "try again") || strings.Contains(t, "unavailable")
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

func (s *IMAPSource) dial() (*imapclient.Client, error) {
	host, _, _ := net.SplitHostPort(s.Addr)
	opts := &imapclient.Options{
		TLSConfig: &tls.Config{ServerName: host, InsecureSkipVerify: s.InsecureSkipVerify},
		Dialer:    &net.Dialer{Timeout: 30 * time.Second},
	}
	switch s.Security {
	case IMAPTLS:
		return imapclient.DialTLS(s.Addr, opts)
	case IMAPStartTLS:
		return imapclient.DialStartTLS(s.Addr, opts)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("import: refusing to send a password without TLS to %s", host)
	}
	return imapclient.DialInsecure(s.Addr, opts)
}

// pullFolder fetches the new messages of one folder in UID chunks.
func (s *IMAPSource) pullFolder(ctx context.Context, c *imapclient.Client, f remoteFolder, fn func(Message) error, flush func() error) error {
	name, su := f.name, f.special
	s.mu.Lock()
	st := s.states[f.remote]
	if st == nil {
		st = &folderState{}
		s.states[f.remote] = st
	}
	s.mu.Unlock()
	sel, err := c.Select(f.remote, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return fmt.Errorf("EXAMINE: %w", err)
	}
	if sel.UIDValidity != st.UIDValidity {
		// A new UIDVALIDITY means the UIDs were renumbered: start over
		// (the digests in the account's state skip what we have).
		s.mu.Lock()
		st.UIDValidity, st.LastUID = sel.UIDValidity, 0
		s.mu.Unlock()
	}
	if sel.NumMessages == 0 || (sel.UIDNext != 0 && uint32(sel.UIDNext) <= st.LastUID+1) {
		return nil
	}
	// Ask which UIDs exist above the last one: UIDs may be sparse (QQ's
	// start near 10^9), so walking ranges would cost empty round trips.
	var since imap.UIDSet
	since.AddRange(imap.UID(st.LastUID+1), 0)
	found, err := c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{since}}, nil).Wait()
	if err != nil {
		return fmt.Errorf("UID SEARCH: %w", err)
	}
	var uids []imap.UID
	for _, u := range found.AllUIDs() {
		if uint32(u) > st.LastUID { // "n:*" also matches the last UID when it is below n
			uids = append(uids, u)
		}
	}
	slices.Sort(uids)
	opts := &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}
	for len(uids) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := uids[:min(s.Chunk, len(uids))]
		uids = uids[len(chunk):]
		if err := s.fetchChunk(c, chunk, opts, name, su, fn); err != nil {
			return err
		}
		// Stored before recorded: a crash here re-fetches the chunk, and
		// the account's digests skip what is already there.
		if err := flush(); err != nil {
			return err
		}
		if err := s.saveState(st, uint32(chunk[len(chunk)-1])); err != nil {
			return err
		}
	}
	return nil
}

// fetchChunk runs one UID FETCH (FLAGS INTERNALDATE BODY.PEEK[]) and
// gives each message to fn.
func (s *IMAPSource) fetchChunk(c *imapclient.Client, uids []imap.UID, opts *imap.FetchOptions, name, su string, fn func(Message) error) error {
	cmd := c.Fetch(imap.UIDSetNum(uids...), opts)
	defer cmd.Close()
	for {
		md := cmd.Next()
		if md == nil {
			break
		}
		m, ok, err := readFetched(md)
		if err != nil {
			return err
		}
		if !ok {
			continue // expunged meanwhile: the server sent FLAGS only
		}
		m.Folder, m.SpecialUse = name, su
		if err := fn(m); err != nil {
			return err
		}
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("UID FETCH: %w", err)
	}
	return nil
}

// maxPrealloc bounds the buffer a message literal gets at once from the
// size the server announces; a bigger one grows as it is read.
const maxPrealloc = 64 << 20

// readFetched reads one message of a FETCH answer: its flags, date and
// bytes. The bytes go into one buffer of the literal's size (imapclient's
// Collect grows one from nothing: a copy and a garbage buffer per
// doubling, a fifth of the importer's CPU at 10 KB a message). ok is
// false without a body.
func readFetched(md *imapclient.FetchMessageData) (m Message, ok bool, err error) {
	for {
		item := md.Next()
		if item == nil {
			return m, ok, nil
		}
		switch it := item.(type) {
		case imapclient.FetchItemDataFlags:
			m.Flags = imapFlags(it.Flags)
		case imapclient.FetchItemDataInternalDate:
			m.InternalDate = it.Time
		case imapclient.FetchItemDataBodySection:
			if it.Literal == nil || ok {
				continue
			}
			if n := it.Literal.Size(); n >= 0 && n <= maxPrealloc {
				m.Data = make([]byte, n)
				_, err = io.ReadFull(it.Literal, m.Data)
			} else {
				m.Data, err = io.ReadAll(it.Literal)
			}
			if err != nil {
				return m, false, err
			}
			ok = true
		}
	}
}

func hasAttr(attrs []imap.MailboxAttr, a imap.MailboxAttr) bool {
	for _, x := range attrs {
		if strings.EqualFold(string(x), string(a)) {
			return true
		}
	}
	return false
}

// specialAttr is the RFC 6154 attribute of a LIST answer, if any.
func specialAttr(attrs []imap.MailboxAttr) string {
	for _, a := range attrs {
		switch strings.ToLower(string(a)) {
		case `\sent`, `\drafts`, `\trash`, `\junk`, `\archive`, `\all`, `\flagged`, `\important`:
			return string(a)
		}
	}
	return ""
}

// imapFlags maps IMAP flags to ours; \Recent is not a flag one can set
// (RFC 9051 drops it), other backslash flags are unknown and dropped.
func imapFlags(fl []imap.Flag) store.Flags {
	names := make([]string, len(fl))
	for i, x := range fl {
		names[i] = string(x)
	}
	return store.FlagsFromNames(names)
}

func (s *IMAPSource) loadState() (map[string]*folderState, error) {
	out := map[string]*folderState{}
	b, err := os.ReadFile(s.StateFile)
	if os.IsNotExist(err) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", s.StateFile, err)
	}
	return out, nil
}

// saveState records last as st's last UID, durably.
func (s *IMAPSource) saveState(st *folderState, last uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st.LastUID = last
	b, err := json.MarshalIndent(s.states, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.StateFile), 0o700); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(s.StateFile, b, 0o600)
}
