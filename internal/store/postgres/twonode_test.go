package postgres

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/smtp"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/delivery"
	imapserver "github.com/youju/youju/internal/imap/server"
	"github.com/youju/youju/internal/notify"
	"github.com/youju/youju/internal/pop3"
	"github.com/youju/youju/internal/smtpd"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/testutil/fixture"
)

// The proofs of issue 13 for two youju nodes on one database, in one
// process: each node is its own Store (own pool, own LISTEN connection,
// own node id) with its own IMAP, POP3 and SMTP servers on 127.0.0.1:0.
// The kill -9 proof, with real `youju serve` processes, is in
// internal/cli (killnode_test.go).

const nodePassword = "pw pw pw"

// nodeAccount creates the account alice@example.org (domain included) on
// the shared database.
func nodeAccount(t *testing.T, s *Store) store.Account {
	t.Helper()
	if err := s.AddDomain(ctx, "example.org"); err != nil && !errors.Is(err, store.ErrExists) {
		t.Fatal(err)
	}
	acct, err := s.CreateAccount(ctx, store.Account{Address: "alice@example.org", PasswordHash: fixture.PasswordHash(nodePassword),
		AllowIMAP: true, AllowPOP3: true, AllowSMTP: true})
	if err != nil {
		t.Fatal(err)
	}
	return acct
}

// startIMAPWith is startIMAP with a hook to configure the server.
func startIMAPWith(t *testing.T, st store.Store, configure func(*imapserver.Server)) string {
	t.Helper()
	srv := &imapserver.Server{Store: st, Auth: auth.New(st, auth.Options{DefaultDomain: "example.org"}),
		Hostname: "imap.example.org", AllowPlaintextLoopback: true, Logger: slog.New(slog.DiscardHandler)}
	if configure != nil {
		configure(srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(c)
	})
	return l.Addr().String()
}

// startSMTP serves the MX port (no DNS checks) of a node.
func startSMTP(t *testing.T, st store.Store) string {
	t.Helper()
	srv := &smtpd.Server{Mode: smtpd.Inbound, Deliverer: delivery.New(st, nil, "mx.example.org", slog.New(slog.DiscardHandler)),
		Hostname: "mx.example.org", Logger: slog.New(slog.DiscardHandler)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(c)
	})
	return l.Addr().String()
}

// startPOP3 serves POP3 of a node.
func startPOP3(t *testing.T, st store.Store, ttl time.Duration) string {
	t.Helper()
	srv := &pop3.Server{Store: st, Auth: auth.New(st, auth.Options{DefaultDomain: "example.org"}),
		Hostname: "pop.example.org", AllowPlaintextLoopback: true, Logger: slog.New(slog.DiscardHandler), LeaseTTL: ttl}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(c)
	})
	return l.Addr().String()
}

func sendMail(t *testing.T, addr, body string) {
	t.Helper()
	err := smtp.SendMail(addr, nil, "bob@example.net", []string{"alice@example.org"},
		[]byte("From: bob@example.net\r\nTo: alice@example.org\r\nSubject: two nodes\r\n\r\n"+body+"\r\n"))
	if err != nil {
		t.Fatal(err)
	}
}

// startIdle sends IDLE and waits for the continuation.
func (c *imapClient) startIdle() {
	c.t.Helper()
	c.n++
	fmt.Fprintf(c.conn, "a%d IDLE\r\n", c.n)
	if l := c.line(10 * time.Second); !strings.HasPrefix(l, "+") {
		c.t.Fatalf("IDLE: %q", l)
	}
}

// waitLine reads lines until one has prefix want, within d.
func (c *imapClient) waitLine(want string, d time.Duration) string {
	c.t.Helper()
	end := time.Now().Add(d)
	for {
		l := c.line(time.Until(end))
		if strings.HasPrefix(l, want) {
			return l
		}
	}
}

// Mail delivered through node A's SMTP is announced by IDLE on node B.
func TestTwoNodesSMTPToIDLE(t *testing.T) {
	a, b := twoNodes(t)
	nodeAccount(t, a)
	smtpA, imapB := startSMTP(t, a), startIMAPWith(t, b, nil)
	cb := dialIMAP(t, imapB)
	cb.cmd(`LOGIN alice@example.org "`+nodePassword+`"`, "")
	cb.cmd("SELECT INBOX", "")
	cb.startIdle()
	var lat []time.Duration
	for i := 1; i <= 5; i++ {
		sendMail(t, smtpA, fmt.Sprintf("message %d", i))
		t0 := time.Now() // SendMail returned: the 250 was received
		// The bound is 1 s; 5 s only keeps a loaded machine
		// from failing, the figures are logged.
		cb.waitLine(fmt.Sprintf("* %d EXISTS", i), 5*time.Second)
		lat = append(lat, time.Since(t0))
	}
	t.Logf("250 on node A's SMTP to EXISTS in IDLE on node B: %v", lat)
}

// POP3 on node B is refused [IN-USE] while node A holds the maildrop, and
// gets it once A's session ended.
func TestTwoNodesPOP3InUse(t *testing.T) {
	a, b := twoNodes(t)
	acct := nodeAccount(t, a)
	deliverTo(t, a, acct, "hello")
	popA, popB := startPOP3(t, a, 0), startPOP3(t, b, 0)
	ca := dialPOP(t, popA)
	if r := ca.login(); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("login on A: %q", r)
	}
	cb := dialPOP(t, popB)
	if r := cb.login(); !strings.HasPrefix(r, "-ERR [IN-USE]") {
		t.Fatalf("login on B while A holds the maildrop: %q", r)
	}
	if r := ca.cmd("QUIT"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("QUIT on A: %q", r)
	}
	cb = dialPOP(t, popB)
	if r := cb.login(); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("login on B after A's QUIT: %q", r)
	}
	if r := cb.cmd("STAT"); r != "+OK 1 "+strings.Fields(r)[2] {
		t.Fatalf("STAT on B: %q", r)
	}
}

// partitioned is node A cut off from the database for lease renewals.
type partitioned struct {
	*Store
	cut atomic.Bool
}

func (p *partitioned) RenewLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if p.cut.Load() {
		return false, errors.New("partitioned")
	}
	return p.Store.RenewLease(ctx, name, holder, ttl)
}

// A node that cannot renew its lease loses the maildrop after the TTL:
// another node takes it over, and the first session's QUIT deletes
// nothing (RFC 1939 §8: the lock is exclusive).
func TestTwoNodesPOP3LeaseTakeover(t *testing.T) {
	a, b := twoNodes(t)
	acct := nodeAccount(t, a)
	deliverTo(t, a, acct, "keep me")
	pa := &partitioned{Store: a}
	popA, popB := startPOP3(t, pa, 600*time.Millisecond), startPOP3(t, b, 0)
	ca := dialPOP(t, popA)
	if r := ca.login(); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("login on A: %q", r)
	}
	pa.cut.Store(true)
	time.Sleep(time.Second) // past the TTL
	cb := dialPOP(t, popB)
	if r := cb.login(); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("B could not take over an expired lease: %q", r)
	}
	if r := ca.cmd("DELE 1"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("DELE on A: %q", r)
	}
	if r := ca.cmd("QUIT"); !strings.HasPrefix(r, "-ERR") {
		t.Fatalf("QUIT on A after losing the lease: %q", r)
	}
	if r := cb.cmd("STAT"); !strings.HasPrefix(r, "+OK 1 ") {
		t.Fatalf("A deleted without its lease: %q", r)
	}
}

// A flag set on node A is seen on node B by QRESYNC (SELECT with the
// known MODSEQ) and CONDSTORE (FETCH CHANGEDSINCE).
func TestTwoNodesFlagQRESYNC(t *testing.T) {
	a, b := twoNodes(t)
	acct := nodeAccount(t, a)
	deliverTo(t, a, acct, "one")
	deliverTo(t, a, acct, "two")
	ca, cb := dialIMAP(t, startIMAPWith(t, a, nil)), dialIMAP(t, startIMAPWith(t, b, nil))
	for _, c := range []*imapClient{ca, cb} {
		c.cmd(`LOGIN alice@example.org "`+nodePassword+`"`, "")
	}
	cb.cmd("ENABLE QRESYNC", "")
	sel := strings.Join(cb.cmd("SELECT INBOX", ""), "\n")
	uv := regexp.MustCompile(`UIDVALIDITY (\d+)`).FindStringSubmatch(sel)
	hm := regexp.MustCompile(`HIGHESTMODSEQ (\d+)`).FindStringSubmatch(sel)
	if uv == nil || hm == nil {
		t.Fatalf("SELECT on B: %q", sel)
	}
	cb.cmd("UNSELECT", "")
	ca.cmd("SELECT INBOX", "")
	ca.cmd(`UID STORE 2 +FLAGS.SILENT (\Flagged)`, "")
	got := strings.Join(cb.cmd(fmt.Sprintf("SELECT INBOX (QRESYNC (%s %s))", uv[1], hm[1]), ""), "\n")
	if !regexp.MustCompile(`\* 2 FETCH \(UID 2 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)`).MatchString(got) ||
		strings.Contains(got, "* 1 FETCH") {
		t.Fatalf("QRESYNC on B after the flag set on A: %q", got)
	}
	got = strings.Join(cb.cmd("FETCH 1:* (FLAGS) (CHANGEDSINCE "+hm[1]+")", ""), "\n")
	if !strings.Contains(got, `* 2 FETCH (FLAGS (\Flagged) MODSEQ (`) || strings.Contains(got, "* 1 FETCH") {
		t.Fatalf("CHANGEDSINCE on B: %q", got)
	}
}

// \Recent across nodes: of a session on each node with INBOX selected,
// exactly one is told a new message is recent (RFC 3501 §2.3.2).
func TestTwoNodesRecentOnce(t *testing.T) {
	a, b := twoNodes(t)
	acct := nodeAccount(t, a)
	ca, cb := dialIMAP(t, startIMAPWith(t, a, nil)), dialIMAP(t, startIMAPWith(t, b, nil))
	for _, c := range []*imapClient{ca, cb} {
		c.cmd(`LOGIN alice@example.org "`+nodePassword+`"`, "")
		c.cmd("SELECT INBOX", "")
	}
	for i := 1; i <= 3; i++ {
		deliverTo(t, a, acct, fmt.Sprintf("m%d", i))
		total := 0
		for _, c := range []*imapClient{ca, cb} {
			// NOOP looks at the store on a shared store (a poll).
			for _, l := range c.cmd("NOOP", "") {
				if n, ok := strings.CutSuffix(l, " RECENT"); ok {
					v, _ := strconv.Atoi(strings.TrimPrefix(n, "* "))
					total += v
				}
			}
		}
		// Each session reports the count of its own recent messages.
		if total != i {
			t.Fatalf("after %d deliveries the sessions' RECENT counts add up to %d", i, total)
		}
	}
}

// quiet is node B with every change event lost: only its own looks
// (poll.go) can find the changes.
type quiet struct {
	*Store
	hub notify.Hub
}

func (q *quiet) Notifier() store.Notifier { return &q.hub }

// Without a single event (all NOTIFYs lost), NOOP and IDLE on node B
// still see a delivery on node A: NOOP at once, IDLE within the poll
// interval.
func TestTwoNodesLostNotifyPolled(t *testing.T) {
	a, b := twoNodes(t)
	acct := nodeAccount(t, a)
	addr := startIMAPWith(t, &quiet{Store: b}, func(s *imapserver.Server) { s.PollInterval = 300 * time.Millisecond })
	cb := dialIMAP(t, addr)
	cb.cmd(`LOGIN alice@example.org "`+nodePassword+`"`, "")
	cb.cmd("SELECT INBOX", "")
	deliverTo(t, a, acct, "one")
	if got := strings.Join(cb.cmd("NOOP", ""), "\n"); !strings.Contains(got, "* 1 EXISTS") {
		t.Fatalf("NOOP on B: %q", got)
	}
	cb.startIdle()
	deliverTo(t, a, acct, "two")
	cb.waitLine("* 2 EXISTS", 5*time.Second)
}

// A lost LISTEN connection (pg_terminate_backend) costs no change: a
// delivery on A while B's listener is down reaches IDLE on B.
func TestTwoNodesListenerKilled(t *testing.T) {
	a, b := twoNodes(t)
	acct := nodeAccount(t, a)
	cb := dialIMAP(t, startIMAPWith(t, b, func(s *imapserver.Server) { s.PollInterval = time.Hour }))
	cb.cmd(`LOGIN alice@example.org "`+nodePassword+`"`, "")
	cb.cmd("SELECT INBOX", "")
	cb.startIdle()
	var n int
	if err := a.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`,
		"youju-listen-"+b.node).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminating B's listener: %d %v", n, err)
	}
	deliverTo(t, a, acct, "while B was deaf")
	// B reconnects after 100 ms and resyncs every subscribed account.
	cb.waitLine("* 1 EXISTS", 10*time.Second)
}

// deliverTo delivers a small message to acct's INBOX through s.
func deliverTo(t *testing.T, s *Store, acct store.Account, body string) {
	t.Helper()
	res, err := s.Deliver(ctx, store.Delivery{Data: []byte("Subject: " + body + "\r\n\r\n" + body + "\r\n"), Targets: []store.Target{{Account: acct.ID}}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
}

// popClient is a minimal POP3 client.
type popClient struct {
	c *imapClient // same line reading
}

func dialPOP(t *testing.T, addr string) *popClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ic := &imapClient{t: t, conn: c, r: newReader(c)}
	if g := ic.line(10 * time.Second); !strings.HasPrefix(g, "+OK") {
		t.Fatalf("POP3 greeting %q", g)
	}
	return &popClient{c: ic}
}

func (p *popClient) cmd(line string) string {
	p.c.t.Helper()
	fmt.Fprintf(p.c.conn, "%s\r\n", line)
	return p.c.line(10 * time.Second)
}

func (p *popClient) login() string {
	p.c.t.Helper()
	if r := p.cmd("USER alice@example.org"); !strings.HasPrefix(r, "+OK") {
		p.c.t.Fatalf("USER: %q", r)
	}
	return p.cmd("PASS " + nodePassword)
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

// Login failures are counted across nodes: a guesser that spreads its
// wrong passwords over two nodes is refused after MaxFailuresPerPair in
// all, not per node, and the owner's success on a node clears the pair.
func TestTwoNodesThrottleShared(t *testing.T) {
	a, b := twoNodes(t)
	nodeAccount(t, a)
	opts := auth.Options{DefaultDomain: "example.org", MaxDelay: -1, MaxFailuresPerPair: 4}
	authA, authB := auth.New(a, opts), auth.New(b, opts)
	remote := netip.MustParseAddr("198.51.100.7")
	req := func(pw string) auth.Request {
		return auth.Request{Username: "alice@example.org", Password: pw, Service: store.ServiceIMAP, Remote: remote}
	}
	for i := range 4 {
		n := authA
		if i%2 == 1 {
			n = authB
		}
		if _, err := n.Login(ctx, req(fmt.Sprintf("guess %d", i))); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	// Two failures on each node: neither alone reached 4.
	for _, n := range []*auth.Authenticator{authA, authB} {
		if _, err := n.Login(ctx, req(nodePassword)); !errors.Is(err, auth.ErrThrottled) {
			t.Fatalf("after 4 failures over two nodes: %v, want ErrThrottled", err)
		}
	}
	// Another network is not affected.
	other := req(nodePassword)
	other.Remote = netip.MustParseAddr("203.0.113.9")
	if _, err := authB.Login(ctx, other); err != nil {
		t.Fatalf("from another network: %v", err)
	}
}
