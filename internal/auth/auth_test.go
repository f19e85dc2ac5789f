package auth

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/youju/youju/internal/metrics"
	"github.com/youju/youju/internal/store"
)

// fakeAccounts is an in-memory store.Accounts with just what auth reads;
// the embedded interface makes any other call panic, which the tests
// would report.
type fakeAccounts struct {
	store.Accounts
	mu      sync.Mutex
	byAddr  map[string]store.Account
	apps    map[store.AccountID][]store.AppPassword
	touched []int64
}

func (f *fakeAccounts) Account(_ context.Context, addr string) (store.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.byAddr[addr]
	if !ok {
		return store.Account{}, store.ErrNotFound
	}
	return a, nil
}

func (f *fakeAccounts) AppPasswords(_ context.Context, id store.AccountID) ([]store.AppPassword, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.apps[id], nil
}

func (f *fakeAccounts) TouchAppPassword(_ context.Context, id int64, _ time.Time) error {
	f.mu.Lock()
	f.touched = append(f.touched, id)
	f.mu.Unlock()
	return nil
}

func mustHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func newFake(t *testing.T) *fakeAccounts {
	return &fakeAccounts{
		byAddr: map[string]store.Account{
			"alice@example.test": {ID: 1, Address: "alice@example.test", PasswordHash: mustHash(t, "secret"),
				AllowIMAP: true, AllowPOP3: false, AllowSMTP: true},
			"bob@example.test": {ID: 2, Address: "bob@example.test", PasswordHash: mustHash(t, "bobpw"),
				Disabled: true, AllowIMAP: true, AllowPOP3: true, AllowSMTP: true},
		},
		apps: map[store.AccountID][]store.AppPassword{
			1: {{ID: 77, AccountID: 1, Name: "phone", Hash: mustHash(t, "apppw-phone")}},
		},
	}
}

var remote = netip.MustParseAddr("192.0.2.1")

func TestHashFormatAndVerify(t *testing.T) {
	h := mustHash(t, "pässwörd 密码")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not an argon2id PHC string", h)
	}
	if !VerifyPassword(h, "pässwörd 密码") {
		t.Fatal("right password refused")
	}
	for _, wrong := range []string{"", "pässwörd", "pässwörd 密码 ", strings.Repeat("x", 2000)} {
		if VerifyPassword(h, wrong) {
			t.Fatalf("wrong password %q accepted", wrong)
		}
	}
	if h2 := mustHash(t, "pässwörd 密码"); h2 == h {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=99999999,t=1,p=1$AAAA$" + strings.Repeat("A", 43)} {
		if VerifyPassword(bad, "x") {
			t.Fatalf("malformed hash %q verified", bad)
		}
	}
}

func TestLogin(t *testing.T) {
	ctx := context.Background()
	a := New(newFake(t), Options{MaxDelay: -1, DefaultDomain: "example.test"})
	tests := []struct {
		name    string
		req     Request
		want    error
		wantAcc store.AccountID
	}{
		{"password", Request{Username: "alice@example.test", Password: "secret", Service: store.ServiceIMAP, Remote: remote}, nil, 1},
		{"case and default domain", Request{Username: " ALICE ", Password: "secret", Service: store.ServiceSMTP, Remote: remote}, nil, 1},
		{"app password", Request{Username: "alice@example.test", Password: "apppw-phone", Service: store.ServiceIMAP, Remote: remote}, nil, 1},
		{"wrong password", Request{Username: "alice@example.test", Password: "nope", Service: store.ServiceIMAP, Remote: remote}, ErrInvalidCredentials, 0},
		{"unknown user", Request{Username: "carol@example.test", Password: "secret", Service: store.ServiceIMAP, Remote: remote}, ErrInvalidCredentials, 0},
		{"service off", Request{Username: "alice@example.test", Password: "secret", Service: store.ServicePOP3, Remote: remote}, ErrServiceDisabled, 0},
		{"disabled account", Request{Username: "bob@example.test", Password: "bobpw", Service: store.ServiceIMAP, Remote: remote}, ErrAccountDisabled, 0},
		{"disabled account, wrong password says nothing", Request{Username: "bob@example.test", Password: "x", Service: store.ServiceIMAP, Remote: remote}, ErrInvalidCredentials, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			acc, err := a.Login(ctx, tc.req)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if acc.ID != tc.wantAcc {
				t.Fatalf("account = %d, want %d", acc.ID, tc.wantAcc)
			}
		})
	}
}

func TestAppPasswordRevokedAndTouched(t *testing.T) {
	ctx := context.Background()
	f := newFake(t)
	a := New(f, Options{MaxDelay: -1})
	req := Request{Username: "alice@example.test", Password: "apppw-phone", Service: store.ServiceIMAP}
	if _, err := a.Login(ctx, req); err != nil {
		t.Fatal(err)
	}
	if len(f.touched) != 1 || f.touched[0] != 77 {
		t.Fatalf("touched = %v, want [77]", f.touched)
	}
	f.mu.Lock()
	f.apps[1] = nil // revoked
	f.mu.Unlock()
	if _, err := a.Login(ctx, req); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("revoked app password: err = %v (served from cache?)", err)
	}
}

func TestPasswordChangeBeatsCache(t *testing.T) {
	ctx := context.Background()
	f := newFake(t)
	a := New(f, Options{MaxDelay: -1})
	req := Request{Username: "alice@example.test", Password: "secret"}
	if _, err := a.Login(ctx, req); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	acc := f.byAddr["alice@example.test"]
	acc.PasswordHash = mustHash(t, "new")
	f.byAddr["alice@example.test"] = acc
	f.mu.Unlock()
	if _, err := a.Login(ctx, req); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("old password after change: err = %v", err)
	}
}

func TestSASLPlainAndLogin(t *testing.T) {
	a := New(newFake(t), Options{MaxDelay: -1})
	var got store.Account
	srv, err := a.SASL(t.Context(), sasl.Plain, store.ServiceIMAP, remote, nil, func(acc store.Account) { got = acc })
	if err != nil {
		t.Fatal(err)
	}
	if _, done, err := srv.Next([]byte("\x00alice@example.test\x00secret")); !done || err != nil {
		t.Fatalf("PLAIN: done=%v err=%v", done, err)
	}
	if got.ID != 1 {
		t.Fatalf("onSuccess got %+v", got)
	}
	srv, _ = a.SASL(t.Context(), sasl.Plain, store.ServiceIMAP, remote, nil, nil)
	if _, _, err := srv.Next([]byte("bob@example.test\x00alice@example.test\x00secret")); err == nil {
		t.Fatal("PLAIN with a foreign authorization identity accepted")
	}

	got = store.Account{}
	srv, _ = a.SASL(t.Context(), sasl.Login, store.ServiceSMTP, remote, nil, func(acc store.Account) { got = acc })
	steps := []struct {
		in   []byte
		want string
		done bool
	}{{nil, "Username:", false}, {[]byte("alice@example.test"), "Password:", false}, {[]byte("secret"), "", true}}
	for i, s := range steps {
		ch, done, err := srv.Next(s.in)
		if err != nil || done != s.done || string(ch) != s.want {
			t.Fatalf("LOGIN step %d: %q %v %v", i, ch, done, err)
		}
	}
	if got.ID != 1 {
		t.Fatal("LOGIN did not log in")
	}
	srv, _ = a.SASL(t.Context(), sasl.Login, store.ServiceSMTP, remote, nil, nil)
	srv.Next([]byte("alice@example.test")) // initial response = user name
	if _, done, err := srv.Next([]byte("bad")); !done || !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("LOGIN wrong password: done=%v err=%v", done, err)
	}
	if _, done, err := srv.Next([]byte("more")); !done || !errors.Is(err, ErrMalformedSASL) {
		t.Fatalf("LOGIN response after the end: done=%v err=%v", done, err)
	}
	// go-sasl's PLAIN errors are plain strings; they arrive wrapped, and
	// a wrong password does not.
	srv, _ = a.SASL(t.Context(), sasl.Plain, store.ServiceIMAP, remote, nil, nil)
	if _, _, err := srv.Next([]byte("no separators")); !errors.Is(err, ErrMalformedSASL) {
		t.Fatalf("malformed PLAIN: %v", err)
	}
	srv, _ = a.SASL(t.Context(), sasl.Plain, store.ServiceIMAP, remote, nil, nil)
	if _, _, err := srv.Next([]byte("\x00alice@example.test\x00bad")); !errors.Is(err, ErrInvalidCredentials) || errors.Is(err, ErrMalformedSASL) {
		t.Fatalf("PLAIN wrong password: %v", err)
	}
	if _, err := a.SASL(t.Context(), "CRAM-MD5", store.ServiceIMAP, remote, nil, nil); !errors.Is(err, ErrUnsupportedMechanism) {
		t.Fatalf("unknown mechanism: %v", err)
	}
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		p := GeneratePassword(16)
		if len(p) != 16 || strings.ContainsAny(p, "0O1lI") || seen[p] {
			t.Fatalf("bad generated password %q", p)
		}
		seen[p] = true
	}
}

func FuzzVerifyPassword(f *testing.F) {
	f.Add("$argon2id$v=19$m=16,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "pw")
	f.Add("$argon2id$v=19$m=,t=1,p=1$$", "")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		VerifyPassword(hash, pw) // must not panic nor run away
	})
}

func TestLoginsAreCounted(t *testing.T) {
	a := New(newFake(t), Options{MaxDelay: -1})
	ok := metrics.Logins.With("imap", metrics.LoginOK)
	failed := metrics.Logins.With("imap", metrics.LoginFailed)
	ok0, failed0 := ok.Value(), failed.Value()
	a.Login(context.Background(), Request{Username: "alice@example.test", Password: "secret", Service: store.ServiceIMAP})
	a.Login(context.Background(), Request{Username: "alice@example.test", Password: "bad", Service: store.ServiceIMAP})
	if ok.Value()-ok0 != 1 || failed.Value()-failed0 != 1 {
		t.Fatalf("ok +%v failed +%v, want +1 each", ok.Value()-ok0, failed.Value()-failed0)
	}
}
