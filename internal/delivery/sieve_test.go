package delivery_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/delivery/deliverytest"
	"github.com/youju/youju/internal/sieve"
	"github.com/youju/youju/internal/smtpd"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
	"github.com/youju/youju/internal/testutil/fixture"
)

// sieveEnv is an MX on loopback over a real store, with Sieve scripts in
// a temporary directory and a recording outbound queue.
type sieveEnv struct {
	t          *testing.T
	st         store.Store
	scripts    *sieve.FileStore
	queue      *deliverytest.Queue[delivery.DSN]
	addr       string
	alice, bob store.Account
}

func newSieveEnv(t *testing.T, tweak ...func(*delivery.Deliverer, *smtpd.Server)) *sieveEnv {
	st := fixture.NewStore(t, sqlite.Options{}, "example.com")
	e := &sieveEnv{t: t, st: st, scripts: &sieve.FileStore{Dir: t.TempDir()}, queue: &deliverytest.Queue[delivery.DSN]{}}
	e.alice = fixture.Account(t, st, store.Account{Address: "alice@example.com"})
	e.bob = fixture.Account(t, st, store.Account{Address: "bob@example.com"})
	d := delivery.New(st, e.queue, "mx.example.com", slog.New(slog.DiscardHandler))
	d.Sieve = &delivery.Sieve{Scripts: e.scripts, Tracker: e.scripts}
	srv := &smtpd.Server{Mode: smtpd.Inbound, Deliverer: d, Hostname: "mx.example.com", Logger: slog.New(slog.DiscardHandler)}
	for _, f := range tweak {
		f(d, srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	e.addr = l.Addr().String()
	return e
}

func (e *sieveEnv) install(a store.Account, src string) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := sieve.Compile(src); err != nil {
		e.t.Fatal(err)
	}
	if err := e.scripts.Put(ctx, a.ID, "main", src); err != nil {
		e.t.Fatal(err)
	}
	if err := e.scripts.SetActive(ctx, a.ID, "main"); err != nil {
		e.t.Fatal(err)
	}
}

// send sends msg over SMTP and returns the DATA error, if any.
func (e *sieveEnv) send(from string, to []string, msg string) error {
	e.t.Helper()
	c, err := smtp.Dial(e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail(from); err != nil {
		e.t.Fatal(err)
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			e.t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		e.t.Fatal(err)
	}
	io.WriteString(w, strings.ReplaceAll(msg, "\n", "\r\n"))
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// mailbox returns the messages and flags of a's mailbox name.
func (e *sieveEnv) mailbox(a store.Account, name string) ([]string, []store.Flags) {
	e.t.Helper()
	ctx := context.Background()
	mb, err := e.st.Mailbox(ctx, a.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	var flags []store.Flags
	err = e.st.ListMessages(ctx, a.ID, mb.ID, store.ListOptions{}, func(m *store.Message) error {
		r, err := e.st.OpenMessage(ctx, a.ID, mb.ID, m.UID)
		if err != nil {
			return err
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		out, flags = append(out, string(b)), append(flags, m.Flags)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out, flags
}

const plainMsg = "From: Carol <carol@remote.net>\nTo: alice@example.com\nSubject: =?GB18030?B?x+u/qreixrE=?=\nMessage-ID: <m1@remote.net>\n\nhello\n"

func TestSieveFileintoChineseFolder(t *testing.T) {
	e := newSieveEnv(t)
	e.install(e.alice, `require ["fileinto", "mailbox", "imap4flags"];
if header :contains "subject" "发票" { fileinto :create :flags "\\Seen" "财务/发票"; }`)
	if err := e.send("carol@remote.net", []string{"alice@example.com"}, plainMsg); err != nil {
		t.Fatal(err)
	}
	msgs, flags := e.mailbox(e.alice, "财务/发票")
	if len(msgs) != 1 || flags[0].System&store.FlagSeen == 0 {
		t.Fatalf("财务/发票 holds %d messages, flags %v; want 1, \\Seen", len(msgs), flags)
	}
	if inbox, _ := e.mailbox(e.alice, "INBOX"); len(inbox) != 0 {
		t.Errorf("INBOX holds %d messages, want 0", len(inbox))
	}
}

func TestSieveVacationOncePerSender(t *testing.T) {
	e := newSieveEnv(t)
	e.install(e.alice, `require "vacation"; vacation :days 7 :subject "休假中" "我在休假，下周回来。";`)
	for i := 0; i < 2; i++ {
		if err := e.send("carol@remote.net", []string{"alice@example.com"}, plainMsg); err != nil {
			t.Fatal(err)
		}
	}
	// A list message and a null sender get no reply.
	e.send("carol@remote.net", []string{"alice@example.com"}, "List-Id: <l.remote.net>\n"+plainMsg)
	e.send("", []string{"alice@example.com"}, plainMsg)
	q := e.queue.List()
	if len(q) != 1 {
		t.Fatalf("%d messages queued, want 1 vacation reply", len(q))
	}
	r := string(q[0].Data)
	if q[0].From != "" || q[0].Rcpts[0] != "carol@remote.net" || !strings.Contains(r, "Auto-Submitted: auto-replied") || !strings.Contains(r, "In-Reply-To: <m1@remote.net>") {
		t.Errorf("reply from <%s> to %v:\n%s", q[0].From, q[0].Rcpts, r)
	}
	if inbox, _ := e.mailbox(e.alice, "INBOX"); len(inbox) != 4 {
		t.Errorf("INBOX holds %d, want 4 (vacation keeps)", len(inbox))
	}
}

func TestSieveRedirect(t *testing.T) {
	e := newSieveEnv(t)
	e.install(e.alice, `redirect "bob@example.com"; redirect "dave@remote.net";`)
	if err := e.send("carol@remote.net", []string{"alice@example.com"}, plainMsg); err != nil {
		t.Fatal(err)
	}
	if inbox, _ := e.mailbox(e.alice, "INBOX"); len(inbox) != 0 {
		t.Errorf("alice kept %d messages, want 0", len(inbox))
	}
	bob, _ := e.mailbox(e.bob, "INBOX")
	if len(bob) != 1 || !strings.Contains(bob[0], sieve.LoopHeader+": alice@example.com") {
		t.Fatalf("bob got %q", bob)
	}
	q := e.queue.List()
	if len(q) != 1 || q[0].Rcpts[0] != "dave@remote.net" || q[0].From != "carol@remote.net" {
		t.Fatalf("queued %+v", q)
	}
}

func TestSieveRedirectLoop(t *testing.T) {
	e := newSieveEnv(t)
	e.install(e.alice, `redirect "bob@example.com";`)
	e.install(e.bob, `redirect "alice@example.com";`)
	if err := e.send("carol@remote.net", []string{"alice@example.com"}, plainMsg); err != nil {
		t.Fatal(err)
	}
	a, _ := e.mailbox(e.alice, "INBOX")
	b, _ := e.mailbox(e.bob, "INBOX")
	if len(a)+len(b) != 1 {
		t.Fatalf("alice %d, bob %d messages; the loop should end with one kept copy", len(a), len(b))
	}
}

func TestSieveReject(t *testing.T) {
	e := newSieveEnv(t)
	e.install(e.alice, `require "reject"; if header :contains "subject" "发票" { reject "不收发票"; }`)
	err := e.send("carol@remote.net", []string{"alice@example.com"}, plainMsg)
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 550 {
		t.Fatalf("DATA: %v, want 550", err)
	}
	// With a second recipient that takes it, the reject becomes a DSN.
	if err := e.send("carol@remote.net", []string{"alice@example.com", "bob@example.com"}, plainMsg); err != nil {
		t.Fatal(err)
	}
	if q := e.queue.List(); len(q) != 1 || q[0].From != "" || !strings.Contains(string(q[0].Data), "delivery-status") {
		t.Fatalf("queued %+v, want one DSN", q)
	}
}

func TestSieveFailingScriptKeepsAndNotifiesOnce(t *testing.T) {
	e := newSieveEnv(t)
	e.install(e.alice, `redirect "a@remote.net"; redirect "b@remote.net"; redirect "c@remote.net"; redirect "d@remote.net"; redirect "e@remote.net";`)
	for i := 0; i < 2; i++ {
		if err := e.send("carol@remote.net", []string{"alice@example.com"}, plainMsg); err != nil {
			t.Fatal(err)
		}
	}
	inbox, _ := e.mailbox(e.alice, "INBOX")
	notices := 0
	for _, m := range inbox {
		if strings.Contains(m, "Auto-Submitted: auto-generated") {
			notices++
		}
	}
	if len(inbox) != 3 || notices != 1 {
		t.Fatalf("INBOX holds %d messages with %d notices, want 2 + 1 notice", len(inbox), notices)
	}
	if q := e.queue.List(); len(q) != 0 {
		t.Errorf("a failed script redirected: %+v", q)
	}
}

func TestSieveRedirectHopLimit(t *testing.T) {
	e := newSieveEnv(t)
	e.install(e.alice, `redirect "bob@example.com";`)
	marks := strings.Repeat(sieve.LoopHeader+": someone@elsewhere.example\n", 8)
	if err := e.send("carol@remote.net", []string{"alice@example.com"}, marks+plainMsg); err != nil {
		t.Fatal(err)
	}
	a, _ := e.mailbox(e.alice, "INBOX")
	b, _ := e.mailbox(e.bob, "INBOX")
	if len(a) != 1 || len(b) != 0 {
		t.Fatalf("alice %d, bob %d: a message redirected 8 times must be kept, not redirected again", len(a), len(b))
	}
}
