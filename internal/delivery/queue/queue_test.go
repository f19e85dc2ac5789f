package queue

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/dkimkeys"
)

// localBox collects what the queue hands to LocalDeliver (DSNs to local
// senders).
type localBox struct {
	mu   sync.Mutex
	msgs []received
}

func (b *localBox) deliver(_ context.Context, from string, rcpts []string, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs = append(b.msgs, received{from: from, rcpts: rcpts, data: string(data)})
	return nil
}

func (b *localBox) all() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

func withLocal(opt *Options, box *localBox) {
	opt.LocalDeliver = box.deliver
	opt.IsLocalDomain = func(d string) bool { return d == "youju.test" }
}

func enqueue(t *testing.T, q *Queue, from string, rcpts []string, data []byte) {
	t.Helper()
	if err := q.Enqueue(context.Background(), from, rcpts, data, delivery.DSN{}); err != nil {
		t.Fatal(err)
	}
}

func permFail(stage, arg string) error {
	if stage == "rcpt" && strings.HasPrefix(arg, "nobody@") {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	return nil
}

func tempFail(stage, _ string) error {
	if stage == "rcpt" {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	}
	return nil
}

// TestMXOrderTLSAndDKIM: the first MX refuses connections, the second
// takes the message over STARTTLS, and both DKIM signatures verify.
func TestMXOrderTLSAndDKIM(t *testing.T) {
	w := newWorld()
	s := newSink(t, true, false)
	w.host("mx1.remote.test", "") // refuses
	w.host("mx2.remote.test", s.addr)
	w.mx("remote.test", "mx1.remote.test", "mx2.remote.test")
	opt := testOptions(t, w)
	keys := testKeys(t)
	opt.DKIMKeys = func(d string) ([]dkimkeys.Key, error) {
		if d == "youju.test" {
			return keys, nil
		}
		return nil, dkimkeys.ErrNoKeys
	}
	q := openQueue(t, opt)
	enqueue(t, q, "alice@youju.test", []string{"bob@remote.test"}, testMessage("alice@youju.test", "bob@remote.test", "tls"))
	waitFor(t, "delivery", func() bool { return len(s.received()) == 1 && q.Len() == 0 })
	got := s.received()[0]
	if !got.tls {
		t.Error("not delivered over STARTTLS")
	}
	if got.from != "alice@youju.test" || len(got.rcpts) != 1 || got.rcpts[0] != "bob@remote.test" {
		t.Errorf("envelope = %q %q", got.from, got.rcpts)
	}
	for _, k := range keys {
		w.dns.TXT[k.Selector+"._domainkey.youju.test"] = []string{k.DNSValue}
	}
	vs, err := dkim.VerifyWithOptions(strings.NewReader(got.data), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) { return w.dns.LookupTXT(context.Background(), name) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 {
		t.Fatalf("%d signatures, want 2 (ed25519 + rsa)", len(vs))
	}
	for _, v := range vs {
		if v.Err != nil || v.Domain != "youju.test" {
			t.Errorf("signature d=%s: %v", v.Domain, v.Err)
		}
	}
}

func testKeys(t *testing.T) []dkimkeys.Key {
	_, edk, _ := ed25519.GenerateKey(rand.Reader)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	edpub := base64.StdEncoding.EncodeToString(edk.Public().(ed25519.PublicKey))
	der, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	return []dkimkeys.Key{
		{Selector: "y1e", Algorithm: dkimkeys.AlgEd25519, Signer: edk, DNSValue: "v=DKIM1; k=ed25519; p=" + edpub},
		{Selector: "y1r", Algorithm: dkimkeys.AlgRSA, Signer: rk, DNSValue: "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)},
	}
}

// TestImplicitMX: a domain without MX records is its own mail host
// (RFC 5321 §5.1); connections are reused for the next message.
func TestImplicitMXAndReuse(t *testing.T) {
	w := newWorld()
	s := newSink(t, false, false)
	w.host("plain.test", s.addr)
	q := openQueue(t, testOptions(t, w))
	enqueue(t, q, "alice@youju.test", []string{"x@plain.test"}, testMessage("alice@youju.test", "x@plain.test", "one"))
	waitFor(t, "first", func() bool { return len(s.received()) == 1 && q.Len() == 0 })
	enqueue(t, q, "alice@youju.test", []string{"y@plain.test"}, testMessage("alice@youju.test", "y@plain.test", "two"))
	waitFor(t, "second", func() bool { return len(s.received()) == 2 && q.Len() == 0 })
	if n := s.conns.Load(); n != 1 {
		t.Errorf("%d connections for two messages, want 1 (reuse)", n)
	}
	if s.received()[0].tls {
		t.Error("TLS without STARTTLS offered?")
	}
}

// parseDSN checks a DSN is a well-formed multipart/report and returns the
// delivery-status fields of each recipient.
func parseDSN(t *testing.T, data string) (subject string, rcpts []textproto.MIMEHeader) {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("content type %q %v %v", mt, params, err)
	}
	if m.Header.Get("Auto-Submitted") != "auto-replied" {
		t.Error("no Auto-Submitted")
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var types []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct := p.Header.Get("Content-Type")
		types = append(types, strings.Split(ct, ";")[0])
		if ct != "message/delivery-status" {
			continue
		}
		tr := textproto.NewReader(bufio.NewReader(p))
		if h, err := tr.ReadMIMEHeader(); err != nil || h.Get("Reporting-MTA") != "dns; mx.youju.test" {
			t.Fatalf("per-message fields %v %v", h, err)
		}
		for {
			h, err := tr.ReadMIMEHeader()
			if len(h) > 0 {
				rcpts = append(rcpts, h)
			}
			if err != nil {
				break
			}
		}
	}
	if len(types) != 3 || types[0] != "text/plain" || types[1] != "message/delivery-status" {
		t.Errorf("parts %v", types)
	}
	return m.Header.Get("Subject"), rcpts
}

// TestPermFailBounce: one recipient is refused with 550, the other
// accepted; the local sender gets a DSN naming only the refused one.
func TestPermFailBounce(t *testing.T) {
	w := newWorld()
	s := newSink(t, false, false)
	s.setBehave(permFail)
	w.host("mx.remote.test", s.addr)
	w.mx("remote.test", "mx.remote.test")
	opt := testOptions(t, w)
	var box localBox
	withLocal(&opt, &box)
	q := openQueue(t, opt)
	enqueue(t, q, "alice@youju.test", []string{"bob@remote.test", "nobody@remote.test"},
		testMessage("alice@youju.test", "bob@remote.test", "bounce"))
	waitFor(t, "bounce", func() bool { return len(box.all()) == 1 && q.Len() == 0 })
	if got := s.received(); len(got) != 1 || len(got[0].rcpts) != 1 || got[0].rcpts[0] != "bob@remote.test" {
		t.Errorf("sink got %v", got)
	}
	b := box.all()[0]
	if b.from != "" || len(b.rcpts) != 1 || b.rcpts[0] != "alice@youju.test" {
		t.Errorf("bounce envelope %q -> %q, want null sender to alice", b.from, b.rcpts)
	}
	_, rs := parseDSN(t, b.data)
	if len(rs) != 1 {
		t.Fatalf("%d recipients in DSN, want 1", len(rs))
	}
	r := rs[0]
	if r.Get("Final-Recipient") != "rfc822; nobody@remote.test" || r.Get("Action") != "failed" || r.Get("Status") != "5.1.1" ||
		!strings.Contains(r.Get("Diagnostic-Code"), "550 5.1.1") || r.Get("Remote-MTA") != "dns; mx.remote.test" {
		t.Errorf("DSN fields %v", r)
	}
}

// TestNullSenderNeverBounced: a failing bounce (null reverse-path) is
// dropped, not bounced again (RFC 5321 §6.1).
func TestNullSenderNeverBounced(t *testing.T) {
	w := newWorld()
	s := newSink(t, false, false)
	s.setBehave(permFail)
	w.host("mx.remote.test", s.addr)
	w.mx("remote.test", "mx.remote.test")
	opt := testOptions(t, w)
	var box localBox
	withLocal(&opt, &box)
	q := openQueue(t, opt)
	enqueue(t, q, "", []string{"nobody@remote.test"}, testMessage("MAILER-DAEMON@youju.test", "nobody@remote.test", "dsn"))
	waitFor(t, "drop", func() bool { return q.Len() == 0 })
	if n := len(box.all()); n != 0 {
		t.Errorf("%d bounces of a bounce", n)
	}
	if n := mEnqueued.With().Value(); n < 1 {
		t.Error("enqueue not counted")
	}
}

// TestNullMX: RFC 7505 null MX fails at once, and a remote sender's bounce
// goes back through the queue with a null sender.
func TestNullMXRemoteSender(t *testing.T) {
	w := newWorld()
	w.dns.MX["nomail.test"] = nil
	w.mx("nomail.test", "")
	w.dns.MX["nomail.test"][0].Host = "."
	back := newSink(t, false, false)
	w.host("mx.sender.test", back.addr)
	w.mx("sender.test", "mx.sender.test")
	q := openQueue(t, testOptions(t, w))
	enqueue(t, q, "carol@sender.test", []string{"x@nomail.test"}, testMessage("carol@sender.test", "x@nomail.test", "nullmx"))
	waitFor(t, "bounce to remote sender", func() bool { return len(back.received()) == 1 && q.Len() == 0 })
	b := back.received()[0]
	if b.from != "" || b.rcpts[0] != "carol@sender.test" {
		t.Errorf("bounce envelope %q -> %v", b.from, b.rcpts)
	}
	_, rs := parseDSN(t, b.data)
	if len(rs) != 1 || rs[0].Get("Status") != "5.1.10" {
		t.Errorf("DSN %v", rs)
	}
}

// TestRestartMidRetry: a temporary failure leaves the message queued with
// its schedule; the queue is closed and reopened (as after a restart) and
// delivers once the remote side recovers.
func TestRestartMidRetry(t *testing.T) {
	w := newWorld()
	s := newSink(t, false, false)
	s.setBehave(tempFail)
	w.host("mx.remote.test", s.addr)
	w.mx("remote.test", "mx.remote.test")
	opt := testOptions(t, w)
	opt.RetryMin, opt.RetryMax = time.Hour, time.Hour // one attempt, then a long wait
	q, err := Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	q.Start(context.Background())
	enqueue(t, q, "alice@youju.test", []string{"bob@remote.test"}, testMessage("alice@youju.test", "bob@remote.test", "restart"))
	var st *State
	waitFor(t, "first attempt", func() bool {
		all, _ := q.List()
		if len(all) == 1 && all[0].Attempts == 1 {
			st = all[0]
			return true
		}
		return false
	})
	if r := st.Rcpts[0]; r.Status != StatusPending || r.Code != 451 || !st.NextAttempt.After(time.Now().Add(50*time.Minute)) {
		t.Fatalf("after a 451: %+v next %v", r, st.NextAttempt)
	}
	if err := q.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.setBehave(func(string, string) error { return nil })
	// Reopen with a clock 2 h ahead: the retry is due.
	var c clock
	c.add(2 * time.Hour)
	opt.Now = c.now
	q2 := openQueue(t, opt)
	if q2.Len() != 1 {
		t.Fatalf("reopened queue has %d messages", q2.Len())
	}
	waitFor(t, "delivery after restart", func() bool { return len(s.received()) == 1 && q2.Len() == 0 })
}

// TestDelayThenExpire: a domain failing temporarily forever gets a delay
// notice once past DelayNotice and a bounce past Lifetime.
func TestDelayThenExpire(t *testing.T) {
	w := newWorld()
	s := newSink(t, false, false)
	s.setBehave(tempFail)
	w.host("mx.remote.test", s.addr)
	w.mx("remote.test", "mx.remote.test")
	opt := testOptions(t, w)
	var c clock
	opt.Now = c.now
	opt.DelayNotice, opt.Lifetime = 4*time.Hour, 5*24*time.Hour
	var box localBox
	withLocal(&opt, &box)
	q := openQueue(t, opt)
	enqueue(t, q, "alice@youju.test", []string{"bob@remote.test"}, testMessage("alice@youju.test", "bob@remote.test", "slowpoke"))
	waitFor(t, "first attempt", func() bool { all, _ := q.List(); return len(all) == 1 && all[0].Attempts >= 1 })
	if len(box.all()) != 0 {
		t.Fatal("notice before DelayNotice")
	}
	c.add(5 * time.Hour)
	waitFor(t, "delay notice", func() bool { return len(box.all()) == 1 })
	subj, rs := parseDSN(t, box.all()[0].data)
	if !strings.Contains(subj, "Delayed") || len(rs) != 1 || rs[0].Get("Action") != "delayed" || rs[0].Get("Will-Retry-Until") == "" {
		t.Errorf("delay DSN %q %v", subj, rs)
	}
	c.add(5 * 24 * time.Hour)
	waitFor(t, "expiry bounce", func() bool { return len(box.all()) == 2 && q.Len() == 0 })
	subj, rs = parseDSN(t, box.all()[1].data)
	if !strings.Contains(subj, "Undelivered") || rs[0].Get("Action") != "failed" || rs[0].Get("Status") != "4.3.0" {
		t.Errorf("expiry DSN %q %v", subj, rs)
	}
}

// TestClosedMidTransactionAndSlow: a server that drops the connection in
// DATA, or answers too slowly, defers; the retry delivers.
func TestClosedMidTransactionAndSlow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		behave func(stage, arg string) error
	}{
		{"close", func(stage, _ string) error {
			if stage == "data" {
				return errClose
			}
			return nil
		}},
		{"slow", func(stage, _ string) error {
			if stage == "rcpt" {
				time.Sleep(700 * time.Millisecond)
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			s := newSink(t, false, false)
			s.setBehave(tc.behave)
			w.host("mx.remote.test", s.addr)
			w.mx("remote.test", "mx.remote.test")
			opt := testOptions(t, w)
			opt.CommandTimeout = 200 * time.Millisecond
			opt.RetryMin, opt.RetryMax = time.Hour, time.Hour
			q := openQueue(t, opt)
			enqueue(t, q, "alice@youju.test", []string{"bob@remote.test"}, testMessage("alice@youju.test", "bob@remote.test", tc.name))
			var st *State
			waitFor(t, "deferral", func() bool {
				all, _ := q.List()
				if len(all) == 1 && all[0].Attempts == 1 {
					st = all[0]
					return true
				}
				return false
			})
			if r := st.Rcpts[0]; r.Status != StatusPending || r.Diag == "" {
				t.Fatalf("state %+v", r)
			}
			if len(s.received()) != 0 {
				t.Fatal("sink kept a message it did not acknowledge")
			}
			s.setBehave(func(string, string) error { return nil })
			if _, err := q.Retry(st.ID); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "delivery", func() bool { return len(s.received()) == 1 && q.Len() == 0 })
		})
	}
}

// TestSmarthostAuth: everything goes through a smarthost on implicit TLS
// (certificate verified) with AUTH PLAIN.
func TestSmarthostAuth(t *testing.T) {
	w := newWorld()
	s := newSink(t, true, true)
	s.users = map[string]string{"relayuser": "s3cret"}
	opt := testOptions(t, w)
	opt.Smarthost = &Route{Addr: s.addr, TLS: TLSImplicit, Username: "relayuser", Password: "s3cret"}
	q := openQueue(t, opt)
	enqueue(t, q, "alice@youju.test", []string{"bob@anywhere.test"}, testMessage("alice@youju.test", "bob@anywhere.test", "relay"))
	waitFor(t, "relay", func() bool { return len(s.received()) == 1 && q.Len() == 0 })
	if g := s.received()[0]; !g.tls || g.user != "relayuser" {
		t.Errorf("relayed tls=%v user=%q", g.tls, g.user)
	}
}

// TestTransportPinRequiresTLS: a pinned route with TLS "starttls" does not
// send to a host that does not offer it.
func TestTransportPin(t *testing.T) {
	w := newWorld()
	plain := newSink(t, false, false)
	tlsSink := newSink(t, true, false)
	opt := testOptions(t, w)
	opt.RetryMin, opt.RetryMax = time.Hour, time.Hour
	opt.Transports = map[string]Route{
		"Pinned.test": {Addr: tlsSink.addr, TLS: TLSStartTLS},
		"strict.test": {Addr: plain.addr, TLS: TLSStartTLS},
	}
	q := openQueue(t, opt)
	enqueue(t, q, "alice@youju.test", []string{"a@pinned.test", "b@strict.test"}, testMessage("alice@youju.test", "a@pinned.test", "pin"))
	waitFor(t, "pinned delivery", func() bool {
		all, _ := q.List()
		return len(tlsSink.received()) == 1 && len(all) == 1 && all[0].Attempts == 1
	})
	if !tlsSink.received()[0].tls {
		t.Error("pinned route did not use TLS")
	}
	if len(plain.received()) != 0 {
		t.Error("sent in plaintext to a route requiring STARTTLS")
	}
	st, _, err := q.Show(mustOne(t, q))
	if err != nil || st.Rcpts[1].Status != StatusPending || st.Rcpts[0].Status != StatusSent {
		t.Errorf("state %+v %v", st, err)
	}
}

func mustOne(t *testing.T, q *Queue) string {
	all, err := q.List()
	if err != nil || len(all) != 1 {
		t.Fatalf("list %v %v", all, err)
	}
	return all[0].ID
}

// TestOperatorWhileRunning: another process (the CLI) retries and deletes
// through the directory while the queue runs.
func TestOperatorWhileRunning(t *testing.T) {
	w := newWorld()
	s := newSink(t, false, false)
	s.setBehave(tempFail)
	w.host("mx.remote.test", s.addr)
	w.mx("remote.test", "mx.remote.test")
	opt := testOptions(t, w)
	opt.RetryMin, opt.RetryMax = time.Hour, time.Hour
	var box localBox
	withLocal(&opt, &box)
	q := openQueue(t, opt)
	for _, subj := range []string{"keep", "drop"} {
		enqueue(t, q, "alice@youju.test", []string{"bob@remote.test"}, testMessage("alice@youju.test", "bob@remote.test", subj))
	}
	cli, err := OpenDir(opt.Dir)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first attempts", func() bool {
		all, _ := cli.List()
		return len(all) == 2 && all[0].Attempts == 1 && all[1].Attempts == 1
	})
	all, _ := cli.List()
	if err := cli.Remove(all[1].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Data(all[1].ID); err != ErrNotFound {
		t.Errorf("data after delete: %v", err)
	}
	s.setBehave(func(string, string) error { return nil })
	if n, err := cli.Retry("", time.Now()); err != nil || n != 1 {
		t.Fatalf("retry all: %d %v", n, err)
	}
	waitFor(t, "delivery after kick", func() bool { return len(s.received()) == 1 && q.Len() == 0 })
	if !strings.Contains(s.received()[0].data, "Subject: keep") {
		t.Error("wrong message delivered")
	}
	if len(box.all()) != 0 {
		t.Error("a deleted message was bounced")
	}
	if _, err := cli.Retry("0000-nope", time.Now()); err != ErrNotFound {
		t.Errorf("retry unknown: %v", err)
	}
}

// TestEnqueueDurable: Enqueue leaves a complete message on disk before it
// returns, and a reopened queue lists it with its DSN parameters.
func TestEnqueueDurable(t *testing.T) {
	w := newWorld()
	opt := testOptions(t, w)
	q, err := Open(opt) // not started: nothing delivers
	if err != nil {
		t.Fatal(err)
	}
	dsn := delivery.DSN{Ret: "hdrs", EnvID: "env1", Rcpts: []delivery.RcptDSN{{Notify: []string{"NEVER"}, ORcpt: "rfc822;b@x.test"}}}
	data := testMessage("a@youju.test", "b@x.test", "durable")
	if err := q.Enqueue(context.Background(), "a@youju.test", []string{"b@x.test"}, data, dsn); err != nil {
		t.Fatal(err)
	}
	q2, err := Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	st, got, err := q2.Show(mustOne(t, q2))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("show: %v", err)
	}
	if st.Ret != "HDRS" || st.EnvID != "env1" || st.Rcpts[0].Notify[0] != "NEVER" || st.Rcpts[0].ORcpt != "rfc822;b@x.test" {
		t.Errorf("state %+v", st)
	}
	if err := q2.Delete(st.ID); err != nil || q2.Len() != 0 {
		t.Errorf("delete: %v, %d left", err, q2.Len())
	}
	if err := q.Enqueue(context.Background(), "a@youju.test", nil, data, delivery.DSN{}); err == nil {
		t.Error("enqueue without recipients accepted")
	}
}

func FuzzDecodeState(f *testing.F) {
	f.Add([]byte(`{"id":"abc","from":"a@b","rcpts":[{"addr":"x@y","status":"pending"}]}`))
	f.Add([]byte(`{"id":"abc","rcpts":[{"addr":"x@y","status":"weird"}]}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeState("abc", b)
		if err == nil && st.ID != "abc" {
			t.Fatal("id mismatch accepted")
		}
	})
}

// TestShutdownCutsAttempt: Shutdown does not wait for a slow server; the
// message stays queued, due at once, and the next start delivers it.
func TestShutdownCutsAttempt(t *testing.T) {
	w := newWorld()
	s := newSink(t, false, false)
	stalled := make(chan struct{})
	release := make(chan struct{})
	s.setBehave(func(stage, _ string) error {
		if stage == "rcpt" {
			close(stalled)
			<-release
		}
		return nil
	})
	defer close(release)
	w.host("mx.remote.test", s.addr)
	w.mx("remote.test", "mx.remote.test")
	opt := testOptions(t, w)
	opt.CommandTimeout = time.Minute
	q, err := Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	q.Start(context.Background())
	enqueue(t, q, "alice@youju.test", []string{"bob@remote.test"}, testMessage("alice@youju.test", "bob@remote.test", "cut"))
	<-stalled
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	st, _, err := q.Show(mustOne(t, q))
	if err != nil || st.Attempts != 0 || st.Rcpts[0].Status != StatusPending {
		t.Fatalf("after shutdown: %+v %v", st, err)
	}
	s2 := newSink(t, false, false)
	w.host("mx2.remote.test", s2.addr)
	w.dns.MX["remote.test"] = nil
	w.mx("remote.test", "mx2.remote.test")
	q2 := openQueue(t, opt)
	waitFor(t, "delivery after restart", func() bool { return len(s2.received()) == 1 && q2.Len() == 0 })
}

// TestBigMessageStreamed: a message larger than the DSN return limit is
// delivered whole, and its bounce returns only the header.
func TestBigMessageStreamed(t *testing.T) {
	w := newWorld()
	s := newSink(t, false, false)
	w.host("mx.remote.test", s.addr)
	w.mx("remote.test", "mx.remote.test")
	s.setBehave(func(stage, arg string) error {
		if stage == "data" && strings.Contains(arg, "nobody") {
			return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "content rejected"}
		}
		return nil
	})
	opt := testOptions(t, w)
	var box localBox
	withLocal(&opt, &box)
	q := openQueue(t, opt)
	big := append(testMessage("alice@youju.test", "bob@remote.test", "big"), bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n"), 40000)...)
	if err := q.Enqueue(context.Background(), "alice@youju.test", []string{"bob@remote.test"}, big, delivery.DSN{Ret: "FULL"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "big delivery", func() bool { return len(s.received()) == 1 && q.Len() == 0 })
	if got := s.received()[0].data; got != string(big) {
		t.Fatalf("delivered %d bytes, want %d", len(got), len(big))
	}
	bounced := append(testMessage("alice@youju.test", "nobody@remote.test", "big2"), big[200:]...)
	if err := q.Enqueue(context.Background(), "alice@youju.test", []string{"nobody@remote.test"}, bounced, delivery.DSN{Ret: "FULL"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bounce", func() bool { return len(box.all()) == 1 })
	dsn := box.all()[0].data
	if !strings.Contains(dsn, "text/rfc822-headers") || len(dsn) > 64<<10 || !strings.Contains(dsn, "Subject: big2") {
		t.Errorf("DSN of a big message: %d bytes, headers part %v", len(dsn), strings.Contains(dsn, "text/rfc822-headers"))
	}
}

// TestGreeting421NextMX: an MX that answers 421 at the greeting hands
// over to the next one (RFC 5321 §3.8, §5.1).
func TestGreeting421NextMX(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("421 4.3.2 too busy\r\n"))
			c.Close()
		}
	}()
	w := newWorld()
	s := newSink(t, false, false)
	w.host("mx1.remote.test", l.Addr().String())
	w.host("mx2.remote.test", s.addr)
	w.mx("remote.test", "mx1.remote.test", "mx2.remote.test")
	q := openQueue(t, testOptions(t, w))
	enqueue(t, q, "alice@youju.test", []string{"bob@remote.test"}, testMessage("alice@youju.test", "bob@remote.test", "busy"))
	waitFor(t, "delivery by the second MX", func() bool { return len(s.received()) == 1 && q.Len() == 0 })
}

// TestSmarthostLoginNoPlainText: credentials are never sent without TLS
// to a route that does not say tls = "none".
func TestSmarthostNoCredentialsInClear(t *testing.T) {
	w := newWorld()
	s := newSink(t, false, false) // no TLS at all
	s.users = map[string]string{"relayuser": "s3cret"}
	opt := testOptions(t, w)
	opt.RetryMin, opt.RetryMax = time.Hour, time.Hour
	opt.Smarthost = &Route{Addr: s.addr, TLS: TLSOpportunistic, Username: "relayuser", Password: "s3cret"}
	q := openQueue(t, opt)
	enqueue(t, q, "alice@youju.test", []string{"bob@anywhere.test"}, testMessage("alice@youju.test", "bob@anywhere.test", "clear"))
	var st *State
	waitFor(t, "deferral", func() bool {
		all, _ := q.List()
		if len(all) == 1 && all[0].Attempts == 1 {
			st = all[0]
			return true
		}
		return false
	})
	if len(s.received()) != 0 || !strings.Contains(st.Rcpts[0].Diag, "without TLS") {
		t.Errorf("rcpt %+v", st.Rcpts[0])
	}
}
