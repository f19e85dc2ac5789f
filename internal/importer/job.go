package importer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/youju/youju/internal/store"
)

// Jobs runs the self-service imports of the settings page (issue 17
// point 2) in the background: at most one per account (also against a
// `youju import` of the same account: the state's lock), with progress
// for the page to poll and a notice mail when it ends. The remote
// password lives only in the running job: it is dropped when the job
// ends, never written anywhere.
type Jobs struct {
	DataDir string
	Target  Target
	// Notify, if set, puts a notice in the account's INBOX when a job
	// ends (subject and plain-text body, both bilingual).
	Notify func(ctx context.Context, acct store.AccountID, subject, body string)
	Log    *slog.Logger
	// Security is how jobs connect (default implicit TLS, as every
	// provider of the page's table offers on port 993; tests use plain
	// IMAP to a local Dovecot).
	Security           IMAPSecurity
	InsecureSkipVerify bool // tests
	// Retries and Backoff are IMAPSource's (0: its defaults).
	Retries int
	Backoff time.Duration
	// Leases, if set (a store shared by several nodes), makes the one
	// running import per account hold on every node (joblease.go).
	Leases store.Leases
	// State, if set (a store shared by several nodes), shares each job's
	// progress so that every node shows it (jobshare.go).
	State store.StateStore

	mu     sync.Mutex
	jobs   map[store.AccountID]*JobStatus
	shared map[store.AccountID]time.Time // last progress write to State
}

// JobStatus is what the page shows of an account's last import.
type JobStatus struct {
	Account    string    `json:"account"` // the address imported into
	State      string    `json:"state"`   // "running", "done", "failed"
	Host       string    `json:"host"`
	User       string    `json:"user"`
	Read       int       `json:"read"`
	Imported   int       `json:"imported"`
	Duplicates int       `json:"duplicates"`
	Skipped    int       `json:"skipped"`
	Failed     int       `json:"failed"`
	Bytes      int64     `json:"bytes"`
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished,omitzero"`
	Error      string    `json:"error,omitempty"`
	Rate       float64   `json:"rate,omitempty"` // messages read a second, in the shared copy
}

// ErrJobRunning refuses a second import into an account.
var ErrJobRunning = errors.New("import: an import into this account is already running")

// jobTimeout bounds one job (a big mailbox at a throttling provider
// takes hours; a day is the end).
const jobTimeout = 24 * time.Hour

// Start begins importing user's mailbox at host:port into the account
// acct (address) with password; it returns at once.
func (j *Jobs) Start(acct store.AccountID, address, host string, port int, user, password string) error {
	return j.StartWith(acct, address, host, port, user, password, false)
}

// StartWith is Start; with starttls the job connects to a plain port
// (usually 143) and upgrades with STARTTLS (RFC 9051 §6.2.1) instead of
// implicit TLS, for a host that offers only that. Jobs whose Security is
// IMAPPlain (tests against a local Dovecot) stay plain.
func (j *Jobs) StartWith(acct store.AccountID, address, host string, port int, user, password string, starttls bool) error {
	if host == "" || strings.ContainsAny(host, " /@") || port <= 0 || port > 65535 || user == "" || password == "" {
		return errors.New("import: host, port, user and password are required")
	}
	j.mu.Lock()
	if j.jobs == nil {
		j.jobs = map[store.AccountID]*JobStatus{}
	}
	if st := j.jobs[acct]; st != nil && st.State == "running" {
		j.mu.Unlock()
		return ErrJobRunning
	}
	st := &JobStatus{Account: address, State: "running", Host: host, User: user, Started: time.Now()}
	prev := j.jobs[acct]
	j.jobs[acct] = st
	j.mu.Unlock()
	sec := j.Security
	if starttls && sec == IMAPTLS {
		sec = IMAPStartTLS
	}
	lease, ok, err := j.acquire(acct)
	if err != nil || !ok {
		j.mu.Lock()
		j.jobs[acct] = prev
		j.mu.Unlock()
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		return ErrJobRunning // running on another node
	}
	src := &IMAPSource{Addr: net.JoinHostPort(host, strconv.Itoa(port)), User: user, Password: password,
		Security: sec, InsecureSkipVerify: j.InsecureSkipVerify, Log: j.log(), Retries: j.Retries, Backoff: j.Backoff,
		StateFile: filepath.Join(StateDir(j.DataDir, address), "imap-"+fileSafe(user+"@"+host)+".json")}
	j.progress(acct, func(*JobStatus) {}, true)
	go j.run(acct, address, src, lease)
	return nil
}

func (j *Jobs) log() *slog.Logger {
	if j.Log != nil {
		return j.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Status returns the account's current or last job: the shared one when
// the jobs share their progress (it may run on another node), else this
// node's.
func (j *Jobs) Status(acct store.AccountID) (JobStatus, bool) {
	if st, ok := j.sharedStatus(acct); ok {
		return st, true
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	st := j.jobs[acct]
	if st == nil {
		return JobStatus{}, false
	}
	return *st, true
}

// run is the job; src (and with it the password) is garbage once it
// returns.
func (j *Jobs) run(acct store.AccountID, address string, src *IMAPSource, lease *jobLease) {
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	defer lease.release()
	go lease.hold(ctx, cancel, func() { j.progress(acct, func(*JobStatus) {}, true) })
	log := j.log().With("account", address, "remote", src.User+"@"+src.Addr)
	log.Info("import from the settings page started")
	stats, err := j.pull(ctx, acct, address, src)
	src.Password = ""
	final := j.progress(acct, func(st *JobStatus) {
		setStats(st, stats)
		st.Finished = time.Now()
		st.State = "done"
		if err != nil {
			st.State, st.Error = "failed", err.Error()
		}
	}, true)
	log.Info("import from the settings page ended", "state", final.State, "imported", stats.Imported,
		"duplicates", stats.Duplicates, "err", err)
	if j.Notify != nil {
		subject, body := jobNotice(final)
		j.Notify(ctx, acct, subject, body)
	}
}

func (j *Jobs) pull(ctx context.Context, acct store.AccountID, address string, src *IMAPSource) (Stats, error) {
	state, err := OpenState(ctx, StateDir(j.DataDir, address), j.Target, acct)
	if err != nil {
		return Stats{}, err
	}
	defer state.Close()
	im := &Importer{T: j.Target, Account: acct, State: state, Progress: func(s Stats) {
		j.progress(acct, func(st *JobStatus) { setStats(st, s) }, false)
	}}
	err = src.Run(ctx, func(m Message) error { return im.Add(ctx, m) }, func() error { return im.Flush(ctx) })
	if err == nil {
		err = im.Flush(ctx)
	}
	return im.Stats(), err
}

func setStats(st *JobStatus, s Stats) {
	st.Read, st.Imported, st.Duplicates, st.Skipped, st.Failed, st.Bytes = s.Read, s.Imported, s.Duplicates, s.Skipped, s.Failed, s.Bytes
}

// jobNotice is the notice mail's subject and body (Chinese, then
// English).
func jobNotice(st JobStatus) (string, string) {
	var b strings.Builder
	remote := st.User + " @ " + st.Host
	if st.State == "done" {
		fmt.Fprintf(&b, "邮箱搬家已完成：从 %s 导入了 %d 封邮件（%d 封已存在，跳过）。\r\n\r\n", remote, st.Imported, st.Duplicates)
		fmt.Fprintf(&b, "Your import from %s is complete: %d messages imported, %d already here (skipped).\r\n", remote, st.Imported, st.Duplicates)
	} else {
		fmt.Fprintf(&b, "邮箱搬家未完成：从 %s 导入了 %d 封邮件后出错：%s\r\n可在设置页面重新开始，已导入的邮件不会重复。\r\n\r\n", remote, st.Imported, st.Error)
		fmt.Fprintf(&b, "Your import from %s stopped after %d messages: %s\r\nStart it again on the settings page: what was imported is not copied twice.\r\n", remote, st.Imported, st.Error)
	}
	b.WriteString("\r\n您的授权码（应用密码）没有被保存。/ Your app password was not kept.\r\n")
	if st.State == "done" {
		return "邮箱搬家完成 / Import complete", b.String()
	}
	return "邮箱搬家出错 / Import failed", b.String()
}

// fileSafe maps a name onto the characters safe in a file name.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".@-_", r)) {
			return r
		}
		return '_'
	}, s)
}
