package delivery

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/youju/youju/internal/store"
)

func TestRoleFallback(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := &Resolver{Accounts: f.st}
	// Without an administrator, postmaster@ is an unknown user like any.
	if _, err := r.Resolve(ctx, "postmaster@example.com", false); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("no postmaster set: %v", err)
	}
	admin := "bob@example.com"
	r.Postmaster = func(context.Context) string { return admin }
	for _, rcpt := range []string{"PostMaster@example.com", "abuse@example.com"} {
		res, err := r.Resolve(ctx, rcpt, false)
		if err != nil || len(res.Local) != 1 || res.Local[0].Account != f.bob.ID || !res.Role {
			t.Errorf("%s: %+v %v", rcpt, res, err)
		}
	}
	// An explicit account, alias or catch-all wins, and is a role too.
	if res, err := r.Resolve(ctx, "postmaster@example.org", false); err != nil || len(res.Local) != 1 || res.Local[0].Account != f.eve.ID || !res.Role {
		t.Errorf("postmaster@ of a domain with a catch-all: %+v %v", res, err)
	}
	abuse, _ := f.st.CreateAccount(ctx, store.Account{Address: "abuse@example.com"})
	if res, err := r.Resolve(ctx, "abuse@example.com", false); err != nil || len(res.Local) != 1 || res.Local[0].Account != abuse.ID || !res.Role {
		t.Errorf("explicit abuse@: %+v %v", res, err)
	}
	// Other unknown users stay unknown; a non-role recipient is no role.
	if res, _ := r.Resolve(ctx, "alice@example.com", false); res.Role {
		t.Error("alice@ is marked as a role address")
	}
	if _, err := r.Resolve(ctx, "nobody@example.com", false); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("unknown user: %v", err)
	}
	// A postmaster pointing at itself or nowhere does not loop.
	admin = "postmaster@example.com"
	if _, err := r.Resolve(ctx, "postmaster@example.com", false); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("self-referring postmaster: %v", err)
	}
	env := &Envelope{Rcpts: []Recipient{{Resolution: Resolution{Role: true}}, {Resolution: Resolution{Role: true}}}}
	if !env.RoleOnly() {
		t.Error("RoleOnly false for two role recipients")
	}
	env.Rcpts = append(env.Rcpts, Recipient{})
	if env.RoleOnly() || (&Envelope{}).RoleOnly() {
		t.Error("RoleOnly true with a non-role recipient or none")
	}
}

// fakeSRS reverses "SRS0=ok=...=domain=local" and refuses anything else.
type fakeSRS struct{}

func (fakeSRS) Forward(s string) string {
	l, d, _ := strings.Cut(s, "@")
	return "SRS0=ok=TT=" + d + "=" + l + "@example.com"
}

func (fakeSRS) Reverse(a string) (string, error) {
	l, _, _ := strings.Cut(a, "@")
	f := strings.SplitN(l, "=", 5)
	if len(f) != 5 || f[1] != "ok" {
		return "", errors.New("bad hash")
	}
	return f[4] + "@" + f[3], nil
}

type recQueue struct{ froms, rcpts, data []string }

func (q *recQueue) Enqueue(_ context.Context, from string, rcpts []string, data []byte, _ DSN) error {
	q.froms = append(q.froms, from)
	q.data = append(q.data, string(data))
	q.rcpts = append(q.rcpts, strings.Join(rcpts, ","))
	return nil
}

func TestSRSResolveAndForward(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := &Resolver{Accounts: f.st, SRS: fakeSRS{}}
	res, err := r.Resolve(ctx, "SRS0=ok=TT=remote.net=carol@example.com", false)
	if err != nil || len(res.Remote) != 1 || res.Remote[0] != "carol@remote.net" {
		t.Fatalf("valid SRS: %+v %v", res, err)
	}
	if _, err := r.Resolve(ctx, "SRS0=bad=TT=remote.net=carol@example.com", false); !errors.Is(err, ErrBadSRS) {
		t.Errorf("forged SRS: %v", err)
	}
	// An SRS address naming a local user resolves locally.
	if res, err := r.Resolve(ctx, "srs0=ok=TT=example.com=alice@example.org", false); err != nil || len(res.Local) != 1 || res.Local[0].Account != f.alice.ID {
		t.Errorf("SRS to a local sender: %+v %v", res, err)
	}

	q := &recQueue{}
	d := &Deliverer{Store: f.st, Resolver: r, Queue: q, ARC: markSealer{}}
	team, _ := r.Resolve(ctx, "team@example.com", false)
	direct, _ := r.Resolve(ctx, "direct@remote.org", true)
	env := &Envelope{From: "carol@origin.net", Rcpts: []Recipient{
		{Address: "team@example.com", Resolution: team}, {Address: "direct@remote.org", Resolution: direct},
	}}
	if err := d.Deliver(ctx, env, []byte("Subject: x\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(q.froms, " | ") + " / " + strings.Join(q.rcpts, " | ")
	if got != "carol@origin.net | SRS0=ok=TT=origin.net=carol@example.com / direct@remote.org | ext@remote.net" {
		t.Errorf("enqueued: %s", got)
	}
	// Only the forwarded copy is sealed (RFC 8617): the direct one is
	// the sender's own mail.
	if len(q.data) != 2 || strings.HasPrefix(q.data[0], "X-Sealed") || !strings.HasPrefix(q.data[1], "X-Sealed: 1\r\n") {
		t.Errorf("sealed: %q", q.data)
	}
	// A local sender and the null sender are not rewritten.
	for _, from := range []string{"alice@example.com", ""} {
		q.froms, q.rcpts = nil, nil
		env := &Envelope{From: from, Rcpts: []Recipient{{Address: "team@example.com", Resolution: team}}}
		if err := d.Deliver(ctx, env, []byte("Subject: x\r\n\r\nbody\r\n")); err != nil {
			t.Fatal(err)
		}
		if len(q.froms) != 1 || q.froms[0] != from {
			t.Errorf("sender %q forwarded as %v", from, q.froms)
		}
	}
}

// markSealer stands for mailauth.Sealer: it marks what it seals.
type markSealer struct{}

func (markSealer) Seal(m []byte) ([]byte, error) { return append([]byte("X-Sealed: 1\r\n"), m...), nil }
