package pgqueue_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/delivery/queue"
	"github.com/youju/youju/internal/delivery/queue/pgqueue"
	"github.com/youju/youju/internal/store/postgres"
	"github.com/youju/youju/internal/store/postgres/pgtest"
)

// sink is a local SMTP server standing for every remote domain (the
// queues relay to it as their smarthost). It records each message by its
// Subject and when it took it.
type sink struct {
	addr    string
	mu      sync.Mutex
	got     map[string]int
	at      map[string]time.Time
	started atomic.Int32
	// hang, while set, makes DATA wait for the gate and then fail: a
	// remote server that is slow while a node dies.
	hang atomic.Bool
	gate chan struct{}
}

func newSink(t testing.TB) *sink {
	s := &sink{got: map[string]int{}, at: map[string]time.Time{}, gate: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }))
	srv.Domain = "sink.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *sink) count(subject string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[subject]
}

func (s *sink) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.got {
		n += c
	}
	return n
}

type sinkSession struct{ s *sink }

func (x *sinkSession) Reset()                               {}
func (x *sinkSession) Logout() error                        { return nil }
func (x *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (x *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (x *sinkSession) Data(r io.Reader) error {
	x.s.started.Add(1)
	if x.s.hang.Load() {
		<-x.s.gate
		return &smtp.SMTPError{Code: 451, Message: "try later"}
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	subj := ""
	for _, l := range strings.Split(string(b), "\r\n") {
		if v, ok := strings.CutPrefix(l, "Subject: "); ok {
			subj = v
			break
		}
	}
	x.s.mu.Lock()
	x.s.got[subj]++
	x.s.at[subj] = time.Now()
	x.s.mu.Unlock()
	return nil
}

// setup migrates a fresh schema and returns its DSN and name.
func setup(t testing.TB) (dsn, schema string) {
	schema = pgtest.NewSchema(t)
	pgtest.Open(t, schema, postgres.Options{}) // creates the tables
	return pgtest.DSN(t), schema
}

func openStorage(t testing.TB, dsn, schema string) *pgqueue.Storage {
	s, err := pgqueue.Open(context.Background(), dsn, pgqueue.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func options(s queue.Storage, sinkAddr string, lease time.Duration) queue.Options {
	return queue.Options{
		Storage:        s,
		Hostname:       "mx.youju.test",
		Smarthost:      &queue.Route{Addr: sinkAddr, TLS: queue.TLSNone},
		RetryMin:       20 * time.Millisecond,
		RetryMax:       50 * time.Millisecond,
		CommandTimeout: 5 * time.Second,
		ConnectTimeout: 5 * time.Second,
		Lease:          lease,
		DisableMTASTS:  true,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func start(t *testing.T, opt queue.Options) (*queue.Queue, context.CancelFunc) {
	q, err := queue.Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	q.Start(ctx)
	t.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		q.Shutdown(sctx)
		cancel()
	})
	return q, cancel
}

func message(subject string) []byte {
	return []byte("From: <a@youju.test>\r\nTo: <b@remote.test>\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + subject + "@youju.test>\r\n\r\nHello.\r\n")
}

func enqueue(t *testing.T, q *queue.Queue, subject string) {
	t.Helper()
	if err := q.Enqueue(context.Background(), "a@youju.test", []string{"b@remote.test"}, message(subject), delivery.DSN{}); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or 30 s pass (a bound for a loaded
// machine, not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pgConn is a connection of the test to the schema, to look at the rows.
func pgConn(t testing.TB, dsn, schema string) *pgx.Conn {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = schema
	c, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func queued(t *testing.T, s *pgqueue.Storage) int {
	all, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(all)
}

// TestTwoRunnersExactlyOnce: two queue runners on one database, each
// enqueueing half of the messages, deliver every message exactly once.
func TestTwoRunnersExactlyOnce(t *testing.T) {
	dsn, schema := setup(t)
	sk := newSink(t)
	sa, sb := openStorage(t, dsn, schema), openStorage(t, dsn, schema)
	qa, _ := start(t, options(sa, sk.addr, 5*time.Second))
	qb, _ := start(t, options(sb, sk.addr, 5*time.Second))
	const n = 60
	for i := range n {
		q := qa
		if i%2 == 1 {
			q = qb
		}
		enqueue(t, q, fmt.Sprintf("m%03d", i))
	}
	// Once the table is empty nothing more can be sent.
	waitFor(t, "an empty queue", func() bool { return queued(t, sa) == 0 })
	for i := range n {
		if c := sk.count(fmt.Sprintf("m%03d", i)); c != 1 {
			t.Errorf("m%03d delivered %d times", i, c)
		}
	}
	if got := sk.total(); got != n {
		t.Errorf("sink got %d messages, want %d", got, n)
	}
}

// TestDeadRunnerLeaseExpires: runner A claims a message and dies in the
// middle of the SMTP transaction (its database connections gone, its
// context cancelled, the claim left behind); runner B delivers it once,
// and not before A's lease ran out.
func TestDeadRunnerLeaseExpires(t *testing.T) {
	dsn, schema := setup(t)
	sk := newSink(t)
	sa, sb := openStorage(t, dsn, schema), openStorage(t, dsn, schema)
	const lease = 2 * time.Second
	sk.hang.Store(true)
	qa, cancelA := start(t, options(sa, sk.addr, lease))
	enqueue(t, qa, "orphan")
	waitFor(t, "A in DATA", func() bool { return sk.started.Load() > 0 })

	// A dies: nothing it does from now on reaches the database.
	sa.Close()
	cancelA()
	sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
	qa.Shutdown(sctx)
	c()
	sk.hang.Store(false)
	close(sk.gate)

	var claimedBy string
	var leaseUntil int64
	row := pgConn(t, dsn, schema).QueryRow(context.Background(), `SELECT claimed_by, lease_until FROM outbound`)
	if err := row.Scan(&claimedBy, &leaseUntil); err != nil {
		t.Fatal(err)
	}
	if claimedBy == "" {
		t.Fatal("A's claim was released: the test does not simulate a dead node")
	}

	start(t, options(sb, sk.addr, lease))
	waitFor(t, "B's delivery", func() bool { return queued(t, sb) == 0 })
	if c := sk.count("orphan"); c != 1 {
		t.Fatalf("delivered %d times, want once", c)
	}
	sk.mu.Lock()
	at := sk.at["orphan"]
	sk.mu.Unlock()
	// Same machine, same clock: B must not have taken over a live lease.
	if at.UnixNano() < leaseUntil {
		t.Errorf("B delivered %v before A's lease ran out", time.Unix(0, leaseUntil).Sub(at))
	}
}

// TestClaims: one claimer at a time, held messages are not claimed, a
// renewal after another node took over reports the loss.
func TestClaims(t *testing.T) {
	dsn, schema := setup(t)
	sa, sb := openStorage(t, dsn, schema), openStorage(t, dsn, schema)
	ctx := context.Background()
	now := time.Now()
	st := &queue.State{ID: sa.NewID(now), From: "Bad@YouJu.test", Created: now, NextAttempt: now, Size: 3,
		Rcpts: []queue.Rcpt{{Addr: "x@remote.test", Status: queue.StatusPending}}}
	if err := sa.Add(ctx, st, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	got, body, err := sa.Claim(ctx, st.ID, 200*time.Millisecond)
	if err != nil || got.From != st.From || body == nil {
		t.Fatalf("claim: %+v %v", got, err)
	}
	if _, _, err := sb.Claim(ctx, st.ID, time.Minute); !errors.Is(err, queue.ErrClaimed) {
		t.Fatalf("second claim: %v, want ErrClaimed", err)
	}
	// A's lease runs out; B takes over; A's renewal and save are refused.
	waitFor(t, "B's claim", func() bool {
		_, _, err := sb.Claim(ctx, st.ID, time.Minute)
		return err == nil
	})
	if err := sa.Renew(ctx, st.ID, time.Minute); !errors.Is(err, queue.ErrLost) {
		t.Errorf("renew after takeover: %v, want ErrLost", err)
	}
	if err := sa.Save(ctx, st); !errors.Is(err, queue.ErrLost) {
		t.Errorf("save after takeover: %v, want ErrLost", err)
	}
	// Held while B delivers: B's save keeps the hold, and it is not due.
	if n, err := sa.HoldFrom(ctx, "bad@youju.TEST"); err != nil || n != 1 {
		t.Fatalf("hold from: %d %v", n, err)
	}
	st.NextAttempt = now
	if err := sb.Save(ctx, st); err != nil || !st.Held {
		t.Fatalf("save: %v held=%v", err, st.Held)
	}
	if _, _, err := sa.Claim(ctx, st.ID, time.Minute); !errors.Is(err, queue.ErrHeld) {
		t.Errorf("claim of a held message: %v", err)
	}
	due, err := sa.Due(ctx)
	if err != nil || len(due) != 0 {
		t.Errorf("due with the message held: %v %v", due, err)
	}
	if err := sa.SetHeld(ctx, st.ID, false); err != nil {
		t.Fatal(err)
	}
	if due, _ := sa.Due(ctx); len(due) != 1 {
		t.Errorf("due after release: %v", due)
	}
	if err := sa.SetHeld(ctx, "nope", true); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("hold unknown: %v", err)
	}
	if err := sa.Remove(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := sa.State(ctx, st.ID); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("state after remove: %v", err)
	}
}
