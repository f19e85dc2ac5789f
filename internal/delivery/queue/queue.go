// Package queue is youju's outbound mail queue: it takes messages for
// other domains (delivery.Queue), keeps them durably on disk, and delivers
// them by SMTP to the domains' MX hosts, a smarthost or a pinned transport,
// retrying temporary failures with exponential backoff over a lifetime,
// and reporting delays and failures to the sender with RFC 3464 delivery
// status notifications.
//
// Mail from a local domain is DKIM-signed (RFC 6376) once, at Enqueue,
// with every key the domain has (Ed25519 and RSA): the stored bytes are
// what every attempt sends, and a retry never re-signs with a different
// time stamp.
package queue

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/dkimkeys"
	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/maillog"
	"github.com/youju/youju/internal/metrics"
	"github.com/youju/youju/internal/reports"
)

// Options configure a Queue. Zero fields take the defaults in brackets.
type Options struct {
	Dir     string  // queue directory (required unless Storage is set)
	Storage Storage // where messages are kept [FileStorage(Dir)]
	// Lease is how long a claim on a message lasts without renewal; the
	// runner renews it every Lease/3 while it delivers, so only a node
	// that died (or lost the database) lets it lapse [2 min].
	Lease    time.Duration
	DataDir  string               // where dkimkeys finds the DKIM keys; "" and DKIMKeys nil: no signing
	Hostname string               // EHLO name, Reporting-MTA and MAILER-DAEMON domain [os hostname]
	Resolver dnsresolver.Resolver // [system resolver]

	// Dial opens connections [net.Dialer]. Tests rewrite port 25 here.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSConfig is the base of client TLS configurations (RootCAs for a
	// relay with a private CA; tests). ServerName is set per host.
	TLSConfig *tls.Config

	Smarthost  *Route           // relay everything through this host
	Transports map[string]Route // per destination domain (lower case), before Smarthost

	Lifetime      time.Duration // give up and bounce after [5 days]
	DelayNotice   time.Duration // tell the sender of a delay after [4 h]; <0: never
	RetryMin      time.Duration // first retry after [5 min], doubling...
	RetryMax      time.Duration // ...up to [1 h]
	MaxConcurrent int           // messages in delivery at once [20]
	MaxPerDomain  int           // connections per destination domain [4]
	IdleTimeout   time.Duration // keep an idle connection for reuse [10 s]

	ConnectTimeout time.Duration // [30 s]
	CommandTimeout time.Duration // per SMTP command, RFC 5321 §4.5.3.2 [5 min]
	DataTimeout    time.Duration // for the reply to the final dot [10 min]
	ScanInterval   time.Duration // re-read the directory for operator changes [1 min]

	// LocalDeliver delivers a DSN to a local sender; IsLocalDomain says
	// which senders are local. Without both, DSNs go through the queue.
	LocalDeliver  func(ctx context.Context, from string, rcpts []string, data []byte) error
	IsLocalDomain func(domain string) bool

	// DisableMTASTS skips MTA-STS policies (RFC 8461); they are honoured
	// by default for MX delivery.
	DisableMTASTS bool
	// TLSReport, if set, is told the TLS outcome of every new session to
	// an MX host, for the TLS reports we send (RFC 8460; tlsrpt.go).
	TLSReport func(reports.TLSSession)

	// DKIMKeys returns the signing keys of a domain [dkimkeys.Load(DataDir, domain)].
	DKIMKeys func(domain string) ([]dkimkeys.Key, error)

	Logger *slog.Logger
	Now    func() time.Time // [time.Now]; tests move time forward
}

func (o *Options) defaults() {
	dur := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	dur(&o.Lifetime, 5*24*time.Hour)
	dur(&o.DelayNotice, 4*time.Hour)
	dur(&o.RetryMin, 5*time.Minute)
	dur(&o.RetryMax, time.Hour)
	dur(&o.IdleTimeout, 10*time.Second)
	dur(&o.ConnectTimeout, 30*time.Second)
	dur(&o.CommandTimeout, 5*time.Minute)
	dur(&o.DataTimeout, 10*time.Minute)
	dur(&o.ScanInterval, time.Minute)
	dur(&o.Lease, 2*time.Minute)
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 20
	}
	if o.MaxPerDomain <= 0 {
		o.MaxPerDomain = 4
	}
	if o.Hostname == "" {
		o.Hostname = "localhost"
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Dial == nil {
		d := &net.Dialer{}
		o.Dial = d.DialContext
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DKIMKeys == nil && o.DataDir != "" {
		dataDir := o.DataDir
		o.DKIMKeys = func(domain string) ([]dkimkeys.Key, error) { return dkimkeys.Load(dataDir, domain) }
	}
	t := make(map[string]Route, len(o.Transports))
	for k, v := range o.Transports {
		t[strings.ToLower(k)] = v
	}
	o.Transports = t
}

// Queue is the outbound queue. It implements delivery.Queue.
type Queue struct {
	opt   Options
	dir   *Dir // nil unless the storage is a queue directory
	store Storage
	pool  pool
	keys  keyCache
	sts   stsCache

	mu       sync.Mutex
	due      map[string]time.Time // id -> next attempt
	inflight map[string]bool
	domSem   map[string]chan struct{}
	lastKick time.Time
	lastScan time.Time

	wake   chan struct{}
	sem    chan struct{}
	wg     sync.WaitGroup
	cancel context.CancelFunc
	done   chan struct{}
}

var _ delivery.Queue = (*Queue)(nil)

var (
	mDeliveries = metrics.NewCounter("youju_queue_deliveries_total",
		"Outbound recipients by outcome: sent, deferred (temporary failure) or bounced.", "result")
	mEnqueued = metrics.NewCounter("youju_queue_enqueued_total", "Messages accepted into the outbound queue.")
	mDSNs     = metrics.NewCounter("youju_queue_dsn_total", "Delivery status notifications generated, by action.", "action")
)

// Open opens the queue in opt.Dir and loads its index; messages left by a
// previous run are due at their recorded time. Call Start to deliver.
func Open(opt Options) (*Queue, error) {
	if opt.Dir == "" && opt.Storage == nil {
		return nil, errors.New("queue: no directory")
	}
	opt.defaults()
	var d *Dir
	stor := opt.Storage
	if stor == nil {
		var err error
		if d, err = OpenDir(opt.Dir); err != nil {
			return nil, err
		}
		d.removeOrphans()
		stor = FileStorage(d)
	}
	q := &Queue{opt: opt, dir: d, store: stor, due: map[string]time.Time{}, inflight: map[string]bool{},
		domSem: map[string]chan struct{}{}, wake: make(chan struct{}, 1),
		sem: make(chan struct{}, opt.MaxConcurrent)}
	q.keys.load = opt.DKIMKeys
	if err := q.rescan(); err != nil {
		return nil, err
	}
	metrics.NewGaugeFunc("youju_queue_messages", "Messages in the outbound queue.", func() float64 {
		return float64(q.Len())
	})
	return q, nil
}

// Dir returns the queue's directory (nil for another Storage).
func (q *Queue) Dir() *Dir { return q.dir }

// Storage returns where the queue keeps its messages.
func (q *Queue) Storage() Storage { return q.store }

func (q *Queue) log() *slog.Logger { return q.opt.Logger }

// rescan rebuilds the index from the state files: the operator commands
// change them behind the runner's back.
func (q *Queue) rescan() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	due, err := q.store.Due(ctx)
	if err != nil {
		return err
	}
	q.mu.Lock()
	q.due = due
	q.lastScan = time.Now()
	q.mu.Unlock()
	return nil
}

// Enqueue signs the message if its From domain has DKIM keys, and stores
// it durably; it returns only when the message is on stable storage.
func (q *Queue) Enqueue(ctx context.Context, from string, rcpts []string, data []byte, dsn delivery.DSN) error {
	if len(rcpts) == 0 {
		return errors.New("queue: enqueue without recipients")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	signed, err := q.sign(data)
	if err != nil {
		// Unsigned mail may land in spam; lost mail is worse.
		q.log().Warn("queue: DKIM signing failed, sending unsigned", "err", err)
		signed = data
	}
	now := q.opt.Now()
	st := newState(q.store.NewID(now), from, rcpts, dsn, int64(len(signed)), now)
	st.Origin = maillog.IDFrom(ctx)
	st.Account = accountFrom(ctx)
	if err := q.store.Add(ctx, st, signed); err != nil {
		return err
	}
	mEnqueued.With().Inc()
	q.mu.Lock()
	q.due[st.ID] = st.NextAttempt
	q.mu.Unlock()
	q.poke()
	q.log().Info("queue: enqueued", "id", st.ID, "from", from, "rcpts", len(rcpts), "size", len(signed))
	maillog.Queued(ctx, st.ID, from, rcpts, st.Size)
	return nil
}

func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Start runs the delivery loop until Shutdown.
func (q *Queue) Start(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	q.cancel = cancel
	q.done = make(chan struct{})
	go func() {
		defer close(q.done)
		q.run(ctx)
	}()
}

// Shutdown stops the runner: attempts in progress are cut (their messages
// stay queued and are retried at the next start) and idle connections
// closed, then the storage if it has a Close method. It waits for the
// workers or until ctx is done.
func (q *Queue) Shutdown(ctx context.Context) error {
	if q.cancel == nil {
		return nil
	}
	q.cancel()
	idle := make(chan struct{})
	go func() {
		<-q.done
		q.wg.Wait()
		close(idle)
	}()
	var err error
	select {
	case <-idle:
	case <-ctx.Done():
		err = ctx.Err()
	}
	q.pool.reap(0)
	if c, ok := q.store.(interface{ Close() }); ok {
		// A database storage's connections (pgqueue); the queue directory
		// has nothing to close.
		c.Close()
	}
	return err
}

// Flush makes every message due now (youju queue flush).
func (q *Queue) Flush() error {
	_, err := q.Retry("")
	return err
}

// Retry makes message id, or all for "", due now.
func (q *Queue) Retry(id string) (int, error) {
	n, err := q.store.Retry(context.Background(), id, q.opt.Now())
	if err == nil {
		err = q.rescan()
		q.poke()
	}
	return n, err
}

// Delete removes message id without a bounce.
func (q *Queue) Delete(id string) error {
	if err := q.store.Remove(context.Background(), id); err != nil {
		return err
	}
	q.mu.Lock()
	delete(q.due, id)
	q.mu.Unlock()
	return nil
}

// List returns the queued messages, oldest first.
func (q *Queue) List() ([]*State, error) { return q.store.List(context.Background()) }

// Show returns the state and bytes of message id.
func (q *Queue) Show(id string) (*State, []byte, error) {
	ctx := context.Background()
	st, err := q.store.State(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	data, err := q.store.Data(ctx, id)
	return st, data, err
}

// Len returns the number of queued messages not held.
func (q *Queue) Len() int {
	q.mu.Lock()
	n := len(q.due)
	q.mu.Unlock()
	if w, ok := q.store.(Waiting); ok {
		n += w.Waiting()
	}
	return n
}

func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(addr[i+1:])
}

func (q *Queue) String() string { return fmt.Sprintf("queue(%s)", q.opt.Dir) }

// Hold stops message id from being tried until Release.
func (q *Queue) Hold(ctx context.Context, id string) error {
	if err := q.store.SetHeld(ctx, id, true); err != nil {
		return err
	}
	q.forget(id)
	return nil
}

// Release lets a held message be tried again, now.
func (q *Queue) Release(ctx context.Context, id string) error {
	if err := q.store.SetHeld(ctx, id, false); err != nil {
		return err
	}
	if _, err := q.store.Retry(ctx, id, q.opt.Now()); err != nil {
		return err
	}
	err := q.rescan()
	q.poke()
	return err
}

// HoldFrom holds every queued message of sender addr (its envelope
// sender or its submitting account): the automatic hold of an account
// that looks compromised, and youju queue hold --all-from.
func (q *Queue) HoldFrom(ctx context.Context, addr string) (int, error) {
	n, err := q.store.HoldFrom(ctx, addr)
	if err == nil {
		err = q.rescan()
	}
	return n, err
}

type accountKey struct{}

// WithAccount records in ctx the account that submitted a message, so
// that Enqueue keeps it in the State (HoldFrom matches it).
func WithAccount(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, accountKey{}, addr)
}

func accountFrom(ctx context.Context) string {
	s, _ := ctx.Value(accountKey{}).(string)
	return s
}
