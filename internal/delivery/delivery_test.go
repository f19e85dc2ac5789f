package delivery

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/youju/youju/internal/delivery/deliverytest"
	"github.com/youju/youju/internal/store"
)

// fixture: example.com and example.org are local.
type fixture struct {
	st                    *deliverytest.Store
	alice, bob, eve, gone store.Account
}

func newFixture(t testing.TB) *fixture {
	ctx := context.Background()
	st := deliverytest.New()
	st.AddDomain(ctx, "example.com")
	st.AddDomain(ctx, "example.org")
	f := &fixture{st: st}
	f.alice, _ = st.CreateAccount(ctx, store.Account{Address: "alice@example.com"})
	f.bob, _ = st.CreateAccount(ctx, store.Account{Address: "bob@example.com"})
	f.eve, _ = st.CreateAccount(ctx, store.Account{Address: "eve@example.org"})
	f.gone, _ = st.CreateAccount(ctx, store.Account{Address: "gone@example.com", Disabled: true})
	for _, a := range []store.Alias{
		{Address: "team@example.com", Targets: []string{"alice@example.com", "Bob@Example.com", "ext@remote.net"}},
		{Address: "loop1@example.com", Targets: []string{"loop2@example.com"}},
		{Address: "loop2@example.com", Targets: []string{"loop1@example.com"}},
		{Address: "nested@example.com", Targets: []string{"team@example.com", "alice@example.com"}},
		{Address: "dangling@example.com", Targets: []string{"nobody@example.com", "bob@example.com"}},
		{Address: "alldangling@example.com", Targets: []string{"nobody@example.com"}},
		{Address: "@example.org", Targets: []string{"eve@example.org"}},
		{Address: "sales@example.com", Targets: []string{"@example.org"}}, // domain alias: sales@example.org
		{Address: "former@example.com", Targets: []string{"gone@example.com", "alice@example.com"}},
	} {
		st.SetAlias(ctx, a)
	}
	return f
}

func TestResolve(t *testing.T) {
	f := newFixture(t)
	r := &Resolver{Accounts: f.st}
	tests := []struct {
		rcpt   string
		relay  bool
		local  []store.AccountID
		remote []string
		err    error
	}{
		{rcpt: "alice@example.com", local: []store.AccountID{f.alice.ID}},
		{rcpt: "ALICE@EXAMPLE.COM", local: []store.AccountID{f.alice.ID}},
		{rcpt: "alice+news@example.com", local: []store.AccountID{f.alice.ID}},
		{rcpt: "alice+a+b@example.com", local: []store.AccountID{f.alice.ID}},
		{rcpt: "team@example.com", local: []store.AccountID{f.alice.ID, f.bob.ID}, remote: []string{"ext@remote.net"}},
		{rcpt: "team+x@example.com", local: []store.AccountID{f.alice.ID, f.bob.ID}, remote: []string{"ext@remote.net"}},
		{rcpt: "nested@example.com", local: []store.AccountID{f.alice.ID, f.bob.ID}, remote: []string{"ext@remote.net"}},
		{rcpt: "dangling@example.com", local: []store.AccountID{f.bob.ID}},
		{rcpt: "alldangling@example.com", err: ErrUnknownUser},
		{rcpt: "anything@example.org", local: []store.AccountID{f.eve.ID}},
		{rcpt: "sales@example.com", local: []store.AccountID{f.eve.ID}},
		{rcpt: "nobody@example.com", err: ErrUnknownUser},
		{rcpt: "gone@example.com", err: ErrMailboxDisabled},
		{rcpt: "gone+tag@example.com", err: ErrMailboxDisabled},
		{rcpt: "former@example.com", local: []store.AccountID{f.alice.ID}}, // the disabled target is skipped
		{rcpt: "+alice@example.com", err: ErrUnknownUser},
		{rcpt: "loop1@example.com", err: ErrAliasLoop},
		{rcpt: "someone@remote.net", err: ErrRelayDenied},
		{rcpt: "someone@remote.net", relay: true, remote: []string{"someone@remote.net"}},
		{rcpt: "bad", err: ErrBadAddress},
		{rcpt: "a\r\nb@example.com", err: ErrBadAddress},
		{rcpt: "a@exa mple.com", err: ErrBadAddress},
	}
	for _, tc := range tests {
		res, err := r.Resolve(context.Background(), tc.rcpt, tc.relay)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%q: err %v, want %v", tc.rcpt, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.rcpt, err)
			continue
		}
		var ids []store.AccountID
		for _, l := range res.Local {
			ids = append(ids, l.Account)
		}
		if !slices.Equal(ids, tc.local) || !slices.Equal(res.Remote, tc.remote) {
			t.Errorf("%q: got %v %v, want %v %v", tc.rcpt, ids, res.Remote, tc.local, tc.remote)
		}
	}
}

func TestResolveDepthAndSize(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// A chain of 12 aliases is deeper than the default 10.
	for i := 0; i < 12; i++ {
		f.st.SetAlias(ctx, store.Alias{Address: "c" + string(rune('a'+i)) + "@example.com", Targets: []string{"c" + string(rune('a'+i+1)) + "@example.com"}})
	}
	f.st.SetAlias(ctx, store.Alias{Address: "cm@example.com", Targets: []string{"alice@example.com"}})
	r := &Resolver{Accounts: f.st}
	if _, err := r.Resolve(ctx, "ca@example.com", false); !errors.Is(err, ErrAliasLoop) {
		t.Fatalf("deep chain: %v", err)
	}
	if res, err := r.Resolve(ctx, "ch@example.com", false); err != nil || len(res.Local) != 1 {
		t.Fatalf("short chain: %v %v", res, err)
	}
	var many []string
	for i := 0; i < 20; i++ {
		many = append(many, "x"+strings.Repeat("y", i)+"@remote.net")
	}
	f.st.SetAlias(ctx, store.Alias{Address: "many@example.com", Targets: many})
	r.MaxTargets = 10
	if _, err := r.Resolve(ctx, "many@example.com", false); !errors.Is(err, ErrTooManyTargets) {
		t.Fatalf("many: %v", err)
	}
	f.st.Fail = deliverytest.ErrBroken
	_, err := r.Resolve(ctx, "alice@example.com", false)
	var de *Error
	if !errors.As(err, &de) || !de.Temporary() || de.Code != 451 {
		t.Fatalf("store failure: %v", err)
	}
}

func TestMaySendAs(t *testing.T) {
	f := newFixture(t)
	r := &Resolver{Accounts: f.st}
	for _, tc := range []struct {
		acct store.Account
		addr string
		ok   bool
	}{
		{f.alice, "alice@example.com", true},
		{f.alice, "Alice@EXAMPLE.com", true},
		{f.alice, "alice+list@example.com", true},
		{f.alice, "team@example.com", true},
		{f.bob, "team@example.com", true}, // target written "Bob@Example.com"
		{f.eve, "team@example.com", false},
		{f.alice, "bob@example.com", false},
		{f.eve, "random@example.org", false}, // catch-all does not grant sending
		{f.alice, "not an address", false},
	} {
		ok, err := r.MaySendAs(context.Background(), tc.acct, tc.addr)
		if err != nil || ok != tc.ok {
			t.Errorf("%s as %q: %v %v, want %v", tc.acct.Address, tc.addr, ok, err, tc.ok)
		}
	}
}

func TestNormalizeCRLF(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "",
		"a\r\nb\r\n":       "a\r\nb\r\n",
		"a\nb\n":           "a\r\nb\r\n",
		"\n":               "\r\n",
		"a\r\n\nb\rc":      "a\r\n\r\nb\rc",
		"x\n.\ny\r\n.\r\n": "x\r\n.\r\ny\r\n.\r\n",
	} {
		if got := string(NormalizeCRLF([]byte(in))); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func newDeliverer(t *testing.T, f *fixture) (*Deliverer, *deliverytest.Queue[DSN]) {
	q := &deliverytest.Queue[DSN]{}
	r := &Resolver{Accounts: f.st}
	return &Deliverer{Store: f.st, Resolver: r, Queue: q, Hostname: "mx.example.com"}, q
}

func envelope(t *testing.T, r *Resolver, from string, rcpts ...string) *Envelope {
	env := &Envelope{ID: "id1", From: from, Helo: "client.test", RemoteIP: "192.0.2.1", Protocol: "ESMTPS"}
	for _, a := range rcpts {
		res, err := r.Resolve(context.Background(), a, true)
		if err != nil {
			t.Fatalf("resolve %s: %v", a, err)
		}
		env.Rcpts = append(env.Rcpts, Recipient{Address: a, Resolution: res})
	}
	return env
}

func TestDeliverOnceWithTrace(t *testing.T) {
	f := newFixture(t)
	d, q := newDeliverer(t, f)
	env := envelope(t, d.Resolver, "sender@else.where", "team@example.com", "alice@example.com")
	if err := d.Deliver(context.Background(), env, []byte("Subject: hi\nbare lf\n")); err != nil {
		t.Fatal(err)
	}
	if len(f.st.Delivered) != 2 { // alice once (deduplicated), bob once; one Deliver call
		t.Fatalf("delivered %d", len(f.st.Delivered))
	}
	msg := string(f.st.For(f.alice.ID)[0])
	if !strings.HasPrefix(msg, "Return-Path: <sender@else.where>\r\nReceived: from client.test ([192.0.2.1])\r\n\tby mx.example.com (youju) with ESMTPS id id1; ") {
		t.Fatalf("trace: %q", msg)
	}
	if strings.Contains(msg, "for <") {
		t.Fatal("for clause with several recipients discloses them")
	}
	if !strings.HasSuffix(msg, "\r\nSubject: hi\r\nbare lf\r\n") {
		t.Fatalf("not normalised: %q", msg)
	}
	list := q.List()
	if len(list) != 1 || list[0].Rcpts[0] != "ext@remote.net" {
		t.Fatalf("queue: %+v", list)
	}
	data := list[0].Data
	if bytes.HasPrefix(data, []byte("Return-Path")) || !bytes.HasPrefix(data, []byte("Received: ")) {
		t.Fatalf("queued trace: %q", data)
	}
}

func TestDeliverQuotaAndFailures(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	d, _ := newDeliverer(t, f)
	full := f.bob
	full.QuotaBytes = 1000
	f.st.SetUsed(full.ID, 999)
	f.st.Put(full)

	// Only bob, full: permanent 552 5.2.2, nothing written.
	err := d.Deliver(ctx, envelope(t, d.Resolver, "x@remote.net", "bob@example.com"), []byte("hello\r\n"))
	if !errors.Is(err, ErrQuotaExceeded) || len(f.st.Delivered) != 0 {
		t.Fatalf("full: %v, %d delivered", err, len(f.st.Delivered))
	}
	// Null sender, alice ok, bob full: refused for now, nothing written.
	err = d.Deliver(ctx, envelope(t, d.Resolver, "", "alice@example.com", "bob@example.com"), []byte("hello\r\n"))
	if !errors.Is(err, ErrPartialNoBounce) || len(f.st.Delivered) != 0 {
		t.Fatalf("null sender partial: %v, %d delivered", err, len(f.st.Delivered))
	}
	// Local sender eve: alice gets it, eve gets a bounce naming bob.
	err = d.Deliver(ctx, envelope(t, d.Resolver, "eve@example.org", "alice@example.com", "bob@example.com"), []byte("Subject: s\r\n\r\nhello\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.st.For(f.alice.ID)) != 1 || len(f.st.For(f.eve.ID)) != 1 {
		t.Fatalf("alice %d eve %d", len(f.st.For(f.alice.ID)), len(f.st.For(f.eve.ID)))
	}
	b := string(f.st.For(f.eve.ID)[0])
	for _, want := range []string{"Return-Path: <>", "multipart/report", "Final-Recipient: rfc822; bob@example.com", "Status: 5.2.2", "Subject: s"} {
		if !strings.Contains(b, want) {
			t.Errorf("bounce lacks %q:\n%s", want, b)
		}
	}
	// NOTIFY=NEVER for bob: alice gets it, no bounce, no refusal.
	env := envelope(t, d.Resolver, "", "alice@example.com", "bob@example.com")
	env.Rcpts[1].DSN.Notify = []string{"NEVER"}
	if err := d.Deliver(ctx, env, []byte("x\r\n")); err != nil {
		t.Fatalf("NOTIFY=NEVER: %v", err)
	}
	if len(f.st.For(f.alice.ID)) != 2 || len(f.st.For(f.eve.ID)) != 1 {
		t.Fatalf("NOTIFY=NEVER: alice %d eve %d", len(f.st.For(f.alice.ID)), len(f.st.For(f.eve.ID)))
	}
	// The store refuses a target after writing for the others (a race):
	// with a null sender that is a temporary failure of the whole message.
	f.st.TargetErr[f.alice.ID] = store.ErrQuotaExceeded
	err = d.Deliver(ctx, envelope(t, d.Resolver, "", "alice@example.com", "eve@example.org"), []byte("x\r\n"))
	if !errors.Is(err, ErrPartialNoBounce) {
		t.Fatalf("race partial: %v", err)
	}
	// An unknown per-target error is never permanent.
	f.st.TargetErr[f.alice.ID] = errors.New("weird")
	err = d.Deliver(ctx, envelope(t, d.Resolver, "", "alice@example.com"), []byte("x\r\n"))
	var de *Error
	if !errors.As(err, &de) || de.Code != 451 {
		t.Fatalf("unknown target error: %v", err)
	}
	delete(f.st.TargetErr, f.alice.ID)
	// The whole store fails: 451 4.3.0.
	env = envelope(t, d.Resolver, "", "alice@example.com")
	f.st.Fail = deliverytest.ErrBroken
	err = d.Deliver(ctx, env, []byte("x\r\n"))
	if !errors.As(err, &de) || de.Code != 451 || de.Enhanced != [3]int{4, 3, 0} {
		t.Fatalf("store failure: %v", err)
	}
}
