package smtpd

import (
	"context"
	"errors"
	"fmt"
	"github.com/youju/youju/internal/delivery"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/youju/youju/internal/metrics"
	"github.com/youju/youju/internal/store"
)

func msg(from, to, subject string) string {
	return fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@test>\r\n\r\nBody of %s.\r\n", from, to, subject, subject, subject)
}

// code returns the SMTP code of err, 0 if none, 250 for nil.
func code(err error) (int, smtp.EnhancedCode) {
	if err == nil {
		return 250, smtp.EnhancedCode{2, 0, 0}
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code, se.EnhancedCode
	}
	return 0, smtp.EnhancedCode{}
}

func wantCode(t *testing.T, what string, err error, c int, ec smtp.EnhancedCode) {
	t.Helper()
	gc, gec := code(err)
	if c/100 == 2 && err == nil {
		return
	}
	if gc != c || (ec != smtp.EnhancedCode{} && gec != ec) {
		t.Fatalf("%s: got %d %v (%v), want %d %v", what, gc, gec, err, c, ec)
	}
}

func send(t *testing.T, c *smtp.Client, body string) error {
	t.Helper()
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return err
	}
	return w.Close()
}

func TestInbound(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.st.SetAlias(ctx, store.Alias{Address: "team@example.com", Targets: []string{"alice@example.com", "bob@example.com", "far@remote.net"}})
	addr := e.start(e.server(Inbound), false)
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Fatal("AUTH offered without TLS")
	}
	for _, ext := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "CHUNKING", "ENHANCEDSTATUSCODES", "DSN", "STARTTLS"} {
		if ok, _ := c.Extension(ext); !ok {
			t.Errorf("%s not advertised", ext)
		}
	}
	if _, p := c.Extension("SIZE"); p != "52428800" {
		t.Errorf("SIZE %q", p)
	}
	wantCode(t, "mail", c.Mail("someone@remote.net", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "rcpt alice", c.Rcpt("alice@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "rcpt plus", c.Rcpt("bob+lists@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "rcpt unknown", c.Rcpt("nobody@example.com", nil), 550, smtp.EnhancedCode{5, 1, 1})
	wantCode(t, "relay", c.Rcpt("victim@remote.net", nil), 550, smtp.EnhancedCode{5, 7, 1})
	before := metrics.MessagesDelivered.With(metrics.PathInbound).Value()
	wantCode(t, "data", send(t, c, msg("someone@remote.net", "alice@example.com", "one")), 250, smtp.EnhancedCode{})
	if got := metrics.MessagesDelivered.With(metrics.PathInbound).Value() - before; got < 1 {
		t.Errorf("delivered counter moved by %v", got)
	}

	// An alias with a remote target: the remote part is queued, even
	// without AUTH, since the administrator set the alias up.
	wantCode(t, "mail2", c.Mail("", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "rcpt alias", c.Rcpt("team@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "data2", send(t, c, msg("x@remote.net", "team@example.com", "two")), 250, smtp.EnhancedCode{})
	c.Quit()

	a, b := e.inbox(e.alice), e.inbox(e.bob)
	if len(a) != 2 || len(b) != 2 {
		t.Fatalf("alice %d, bob %d messages", len(a), len(b))
	}
	if !strings.HasPrefix(a[0], "Return-Path: <someone@remote.net>\r\nReceived: from client.test ([127.0.0.1])\r\n\tby mx.example.com (youju) with ESMTP id ") ||
		!strings.HasSuffix(a[0], "Subject: one\r\nMessage-ID: <one@test>\r\n\r\nBody of one.\r\n") {
		t.Fatalf("alice got %q", a[0])
	}
	if !strings.HasPrefix(a[1], "Return-Path: <>\r\n") || !strings.Contains(a[1], "\tfor <team@example.com>;") {
		t.Fatalf("alias message: %q", a[1])
	}
	q := e.queue.List()
	if len(q) != 1 || q[0].Rcpts[0] != "far@remote.net" {
		t.Fatalf("queue: %+v", q)
	}
	// Written once for both accounts: one blob shared by two index entries.
	if ba, bb := lastBlob(t, e, e.alice), lastBlob(t, e, e.bob); ba == 0 || ba != bb {
		t.Fatalf("blobs %d and %d: not one write", ba, bb)
	}
}

// lastBlob returns the blob of the newest message in an INBOX.
func lastBlob(t *testing.T, e *env, a store.Account) int64 {
	ctx := context.Background()
	mb, err := e.st.Mailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	var uid store.UID
	e.st.ListMessages(ctx, a.ID, mb.ID, store.ListOptions{}, func(m *store.Message) error {
		uid = m.UID
		return nil
	})
	bk, ok := store.As[store.BlobKeys](e.st)
	if !ok {
		t.Fatal("the store does not share blobs (store.BlobKeys)")
	}
	keys, err := bk.BlobKeys(ctx, a.ID, mb.ID, uid, uid)
	if err != nil {
		t.Fatal(err)
	}
	return keys[uid]
}

func TestCatchAll(t *testing.T) {
	e := newEnv(t)
	e.st.SetAlias(context.Background(), store.Alias{Address: "@example.com", Targets: []string{"bob@example.com"}})
	c, err := smtp.Dial(e.start(e.server(Inbound), false))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wantCode(t, "mail", c.Mail("x@remote.net", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "rcpt", c.Rcpt("whoever@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "data", send(t, c, msg("x@remote.net", "whoever@example.com", "c")), 250, smtp.EnhancedCode{})
	if n := len(e.inbox(e.bob)); n != 1 {
		t.Fatalf("bob has %d", n)
	}
}

func dialSubmission(t *testing.T, e *env, addr string) *smtp.Client {
	t.Helper()
	c, err := smtp.DialStartTLS(addr, e.cTLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSubmission(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.st.SetAlias(ctx, store.Alias{Address: "sales@example.com", Targets: []string{"alice@example.com"}})
	addr := e.start(e.server(Submission), false)

	// Before TLS: no AUTH offered, AUTH refused, MAIL refused.
	pc, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	pc.Hello("c")
	if ok, _ := pc.Extension("AUTH"); ok {
		t.Fatal("AUTH advertised before TLS")
	}
	wantCode(t, "auth plain-text", pc.Auth(sasl.NewPlainClient("", "alice@example.com", password)), 538, smtp.EnhancedCode{5, 7, 11})
	wantCode(t, "mail unauth", pc.Mail("alice@example.com", nil), 530, smtp.EnhancedCode{5, 7, 0})
	pc.Close()

	c := dialSubmission(t, e, addr)
	if !c.SupportsAuth("PLAIN") || !c.SupportsAuth("LOGIN") {
		t.Fatal("AUTH PLAIN/LOGIN not offered after STARTTLS")
	}
	wantCode(t, "mail before auth", c.Mail("alice@example.com", nil), 530, smtp.EnhancedCode{5, 7, 0})
	wantCode(t, "bad password", c.Auth(sasl.NewPlainClient("", "alice@example.com", "wrong")), 535, smtp.EnhancedCode{5, 7, 8})
	wantCode(t, "auth", c.Auth(sasl.NewPlainClient("", "alice@example.com", password)), 235, smtp.EnhancedCode{})

	wantCode(t, "foreign sender", c.Mail("bob@example.com", nil), 553, smtp.EnhancedCode{5, 7, 1})
	// Own address, remote and local recipients.
	wantCode(t, "mail", c.Mail("alice@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "rcpt remote", c.Rcpt("friend@remote.net", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "rcpt local", c.Rcpt("bob@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "data", send(t, c, msg("alice@example.com", "bob@example.com", "sub")), 250, smtp.EnhancedCode{})
	// An alias of hers as sender.
	wantCode(t, "mail alias", c.Mail("sales@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "rcpt", c.Rcpt("bob@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "data alias", send(t, c, msg("sales@example.com", "bob@example.com", "alias")), 250, smtp.EnhancedCode{})
	// Envelope fine, From: header someone else's.
	wantCode(t, "mail", c.Mail("alice@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "rcpt", c.Rcpt("bob@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "forged From", send(t, c, msg("bob@example.com", "bob@example.com", "forged")), 553, smtp.EnhancedCode{5, 7, 1})
	c.Quit()

	got := e.inbox(e.bob)
	if len(got) != 2 || !strings.Contains(got[0], "with ESMTPSA (TLS") {
		t.Fatalf("bob: %d %q", len(got), got)
	}
	// The submission agent added the missing Date and kept the client's
	// Message-ID (RFC 6409 §8.2, §8.3).
	if !strings.Contains(got[0], "\r\nDate: ") || strings.Count(got[0], "Message-ID:") != 1 || !strings.Contains(got[0], "Message-ID: <sub@test>") {
		t.Errorf("header not completed as it should be:\n%s", got[0])
	}
	q := e.queue.List()
	if len(q) != 1 || q[0].From != "alice@example.com" || q[0].Rcpts[0] != "friend@remote.net" {
		t.Fatalf("queue: %+v", q)
	}
	// No copy in alice's Sent: clients save it themselves over IMAP.
	sent, err := e.st.Mailbox(ctx, e.alice.ID, "Sent")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.messages(e.alice, sent.ID)); n != 0 {
		t.Fatalf("Sent has %d messages", n)
	}
}

func TestImplicitTLSLogin(t *testing.T) {
	e := newEnv(t)
	addr := e.start(e.server(Submission), true)
	c, err := smtp.DialTLS(addr, e.cTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered inside TLS")
	}
	wantCode(t, "auth login", c.Auth(loginClient{"bob", password}), 235, smtp.EnhancedCode{})
	wantCode(t, "mail", c.Mail("bob@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "rcpt", c.Rcpt("alice@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "data", send(t, c, msg("bob@example.com", "alice@example.com", "login")), 250, smtp.EnhancedCode{})
	if n := len(e.inbox(e.alice)); n != 1 {
		t.Fatalf("alice has %d", n)
	}
}

// loginClient is the LOGIN mechanism (go-sasl's is deprecated).
type loginClient struct{ user, pass string }

func (l loginClient) Start() (string, []byte, error) { return "LOGIN", nil, nil }
func (l loginClient) Next(ch []byte) ([]byte, error) {
	if strings.HasPrefix(string(ch), "User") {
		return []byte(l.user), nil
	}
	return []byte(l.pass), nil
}

func TestPlaintextLoopbackAuth(t *testing.T) {
	e := newEnv(t)
	s := e.server(Submission)
	s.AllowPlaintextLoopback = true
	s.TLSConfig = nil
	c, err := smtp.Dial(e.start(s, false))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wantCode(t, "auth", c.Auth(sasl.NewPlainClient("", "alice@example.com", password)), 235, smtp.EnhancedCode{})
}

func TestQuota(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	addr := e.start(e.server(Inbound), false)
	// Bob is full: refused at RCPT, temporarily.
	bob := e.bob
	bob.QuotaBytes = 1
	if err := e.st.UpdateAccount(ctx, bob); err != nil {
		t.Fatal(err)
	}
	alice := e.alice
	alice.QuotaBytes = 2000
	if err := e.st.UpdateAccount(ctx, alice); err != nil {
		t.Fatal(err)
	}
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wantCode(t, "mail", c.Mail("x@remote.net", nil), 250, smtp.EnhancedCode{})
	// bob has used 0 of 1 byte: not known full at RCPT, fails at DATA.
	wantCode(t, "rcpt bob", c.Rcpt("bob@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "data bob", send(t, c, msg("x@remote.net", "bob@example.com", "q")), 552, smtp.EnhancedCode{5, 2, 2})
	// SIZE announced beyond alice's room: known at RCPT.
	wantCode(t, "mail size", c.Mail("x@remote.net", &smtp.MailOptions{Size: 5000}), 250, smtp.EnhancedCode{})
	wantCode(t, "rcpt alice", c.Rcpt("alice@example.com", nil), 452, smtp.EnhancedCode{4, 2, 2})
	c.Reset()
	// A message to both where bob is over quota and the sender can take a
	// bounce: alice gets it, the sender (local alice) gets a DSN.
	wantCode(t, "mail", c.Mail("alice@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "rcpt alice", c.Rcpt("alice@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "rcpt bob", c.Rcpt("bob@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "data both", send(t, c, "From: <alice@example.com>\r\nSubject: both\r\n\r\nhi\r\n"), 250, smtp.EnhancedCode{})
	in := e.inbox(e.alice)
	if len(in) != 2 || !strings.Contains(in[1], "Final-Recipient: rfc822; bob@example.com") {
		t.Fatalf("alice inbox: %d %q", len(in), in)
	}
}

// failingStore fails every delivery, or panics.
type failingStore struct {
	store.Store
	panic bool
}

func (f failingStore) Deliver(ctx context.Context, d store.Delivery) ([]store.TargetResult, error) {
	if f.panic {
		panic("boom")
	}
	return nil, errors.New("disk on fire")
}

func TestStoreErrorIsTemporary(t *testing.T) {
	e := newEnv(t)
	s := e.server(Inbound)
	s.Deliverer = delivery.New(failingStore{Store: e.st}, e.queue, s.Hostname, s.Logger)
	c, err := smtp.Dial(e.start(s, false))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wantCode(t, "mail", c.Mail("x@remote.net", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "rcpt", c.Rcpt("alice@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "data", send(t, c, msg("x@remote.net", "alice@example.com", "f")), 451, smtp.EnhancedCode{4, 3, 0})
}

func TestPanicRecovered(t *testing.T) {
	e := newEnv(t)
	s := e.server(Inbound)
	s.Deliverer = delivery.New(failingStore{Store: e.st, panic: true}, e.queue, s.Hostname, s.Logger)
	addr := e.start(s, false)
	for i := 0; i < 2; i++ { // the server survives and serves the next one
		c, err := smtp.Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, "mail", c.Mail("x@remote.net", nil), 250, smtp.EnhancedCode{})
		wantCode(t, "rcpt", c.Rcpt("alice@example.com", nil), 250, smtp.EnhancedCode{})
		if err := send(t, c, "Subject: p\r\n\r\nx\r\n"); err == nil {
			t.Fatal("panicking delivery acknowledged")
		}
		c.Close()
	}
}

func TestSMTPUTF8(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.st.SetAlias(ctx, store.Alias{Address: "josé@example.com", Targets: []string{"alice@example.com"}})
	c, err := smtp.Dial(e.start(e.server(Inbound), false))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wantCode(t, "mail utf8", c.Mail("renée@remote.net", &smtp.MailOptions{UTF8: true}), 250, smtp.EnhancedCode{})
	wantCode(t, "rcpt utf8", c.Rcpt("josé@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "data", send(t, c, "From: <renée@remote.net>\r\nSubject: é\r\n\r\nçà\r\n"), 250, smtp.EnhancedCode{})
	if in := e.inbox(e.alice); len(in) != 1 || !strings.Contains(in[0], "Return-Path: <renée@remote.net>") {
		t.Fatalf("inbox %q", in)
	}
}

func TestTLSOnInbound(t *testing.T) {
	e := newEnv(t)
	addr := e.start(e.server(Inbound), false)
	c, err := smtp.DialStartTLS(addr, e.cTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.TLSConnectionState(); !ok {
		t.Fatal("no TLS")
	}
	wantCode(t, "mail", c.Mail("x@remote.net", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "rcpt", c.Rcpt("alice@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "data", send(t, c, msg("x@remote.net", "alice@example.com", "tls")), 250, smtp.EnhancedCode{})
	if in := e.inbox(e.alice); len(in) != 1 || !strings.Contains(in[0], "with ESMTPS (TLS") {
		t.Fatalf("inbox %q", in)
	}
	// On 25, AUTH (when configured) is offered under TLS, and an
	// authenticated client may relay.
	wantCode(t, "relay unauth", c.Mail("x@remote.net", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "relay unauth", c.Rcpt("far@remote.net", nil), 550, smtp.EnhancedCode{5, 7, 1})
	c.Reset()
	wantCode(t, "auth", c.Auth(sasl.NewPlainClient("", "bob@example.com", password)), 235, smtp.EnhancedCode{})
	wantCode(t, "mail", c.Mail("bob@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "relay auth", c.Rcpt("far@remote.net", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "data", send(t, c, msg("bob@example.com", "far@remote.net", "relayed")), 250, smtp.EnhancedCode{})
	if q := e.queue.List(); len(q) != 1 {
		t.Fatalf("queue: %d", len(q))
	}
}
