package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/testutil"
)

// TestSCRAMRFC7677Vector replays the example exchange of RFC 7677 §3 (user
// "user", password "pencil") through the server, with its salt and server
// nonce: every message must be byte for byte the RFC's.
func TestSCRAMRFC7677Vector(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	k, err := deriveSCRAMKeys("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAccounts{byAddr: map[string]store.Account{
		"user@example.test": {ID: 5, Address: "user@example.test", SCRAM: k.String(), AllowIMAP: true},
	}}
	a := New(f, Options{DefaultDomain: "example.test"})
	var got store.Account
	srv, err := a.SASL(t.Context(), "scram-sha-256", store.ServiceIMAP, remote, nil, func(x store.Account) { got = x })
	if err != nil {
		t.Fatal(err)
	}
	srv.(*scramServer).nonceFn = func(c string) (string, error) { return c + "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", nil }

	steps := []struct{ client, server string }{
		{"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"},
		{"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="},
	}
	for _, st := range steps {
		ch, done, err := srv.Next([]byte(st.client))
		if err != nil || done || string(ch) != st.server {
			t.Fatalf("after %q: %q done=%v err=%v, want %q", st.client, ch, done, err, st.server)
		}
	}
	if _, done, err := srv.Next([]byte{}); !done || err != nil || got.ID != 5 {
		t.Fatalf("final: done=%v err=%v account=%+v", done, err, got)
	}
}

func TestSCRAMKeysFormat(t *testing.T) {
	k, err := deriveSCRAMKeys("pencil", []byte("0123456789abcdef"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	s := k.String()
	if !strings.HasPrefix(s, "SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$") {
		t.Fatalf("format %q", s)
	}
	back, err := parseSCRAMKeys(s)
	if err != nil || back.String() != s {
		t.Fatalf("round trip: %q %v", back.String(), err)
	}
	for _, bad := range []string{
		"", "$argon2id$v=19$x", strings.Replace(s, "4096", "1000", 1), strings.Replace(s, "4096", "99999999", 1),
		"SCRAM-SHA-256$4096:c2FsdA==$x:y", "SCRAM-SHA-256$4096:$" + s[strings.LastIndex(s, "$")+1:],
	} {
		if _, err := parseSCRAMKeys(bad); err == nil {
			t.Errorf("parseSCRAMKeys(%q) accepted", bad)
		}
	}
}

func TestParseClientFirst(t *testing.T) {
	for _, c := range []struct {
		in, err            string // err: the e= value, "" if valid
		user, authz, nonce string
		flag               byte
	}{
		{in: "n,,n=user,r=abc", user: "user", nonce: "abc", flag: 'n'},
		{in: "y,,n=user,r=abc", user: "user", nonce: "abc", flag: 'y'},
		{in: "p=tls-exporter,,n=user,r=abc", user: "user", nonce: "abc", flag: 'p'},
		{in: "n,a=u=2Cx,n=u=2Cx=3Dy,r=a+b/c=,x=ext", user: "u,x=y", authz: "u,x", nonce: "a+b/c=", flag: 'n'},
		{in: "n,,n=用户@例子.中国,r=!~", user: "用户@例子.中国", nonce: "!~", flag: 'n'},
		{in: "n,,m=ext,n=user,r=abc", err: eExtensionsNotSupported},
		{in: "n,,n=us=er,r=abc", err: eInvalidUsernameEncoding},
		{in: "n,a=x=2D,n=user,r=abc", err: eInvalidUsernameEncoding},
		{in: "n,,n=,r=abc", err: eInvalidUsernameEncoding},
		{in: "n,,n=user,r=", err: eInvalidEncoding},
		{in: "n,,n=user,r=a\x7fb", err: eInvalidEncoding},
		{in: "n,,n=user", err: eInvalidEncoding},
		{in: "n,,r=abc,n=user", err: eInvalidEncoding},
		{in: "n,,n=user,r=abc,", err: eInvalidEncoding},
		{in: "n,,n=user,r=abc,1=x", err: eInvalidEncoding},
		{in: "x,,n=user,r=abc", err: eInvalidEncoding},
		{in: "p=,,n=user,r=abc", err: eInvalidEncoding},
		{in: "p=tls_unique,,n=user,r=abc", err: eInvalidEncoding},
		{in: "n,b=x,n=user,r=abc", err: eInvalidEncoding},
		{in: "n", err: eInvalidEncoding},
		{in: "", err: eInvalidEncoding},
		{in: "n,,n=\xff,r=abc", err: eInvalidEncoding},
		{in: "n,,n=user,r=" + strings.Repeat("a", maxSCRAMMessage), err: eInvalidEncoding},
	} {
		m, err := parseClientFirst(c.in)
		if c.err != "" {
			var se *SCRAMError
			if !errors.As(err, &se) || se.Value != c.err {
				t.Errorf("%q: error %v, want e=%s", c.in, err, c.err)
			}
			continue
		}
		if err != nil || m.username != c.user || m.authzid != c.authz || m.nonce != c.nonce || m.cbFlag != c.flag ||
			m.gs2Header+m.bare != c.in {
			t.Errorf("%q: %+v %v", c.in, m, err)
		}
	}
}

func TestParseClientFinal(t *testing.T) {
	proof := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, c := range []struct{ in, err string }{
		{in: "c=biws,r=abc,p=" + proof},
		{in: "c=biws,r=abc,x=ext,p=" + proof},
		{in: "c=biws,r=abc", err: eInvalidEncoding},
		{in: "c=biws,r=abc,p=!!!", err: eInvalidEncoding},
		{in: "c=bi,r=abc,p=" + proof, err: eInvalidEncoding},
		{in: "r=abc,c=biws,p=" + proof, err: eInvalidEncoding},
		{in: "c=biws,p=" + proof, err: eInvalidEncoding},
		{in: "c=biws,r=a,b,p=" + proof, err: eInvalidEncoding},
		{in: ",p=" + proof, err: eInvalidEncoding},
	} {
		m, err := parseClientFinal(c.in)
		if c.err == "" {
			if err != nil || m.nonce != "abc" || string(m.cbind) != "n,," || len(m.proof) != 32 {
				t.Errorf("%q: %+v %v", c.in, m, err)
			}
			continue
		}
		var se *SCRAMError
		if !errors.As(err, &se) || se.Value != c.err {
			t.Errorf("%q: error %v, want e=%s", c.in, err, c.err)
		}
	}
}

func TestSASLprep(t *testing.T) {
	for _, c := range []struct{ in, out string }{
		// RFC 4013 §3.
		{"I\u00ADX", "IX"},
		{"user", "user"},
		{"USER", "USER"},
		{"\u00AA", "a"},
		{"\u2168", "IX"},
		{"\u0007", ""},
		{"\u0627\u0031", ""},
		// Non-ASCII space to SPACE; full-width forms (Chinese input
		// methods) to ASCII by NFKC.
		{"a\u3000b", "a b"},
		{"Ｐａｓｓ１", "Pass1"},
		{"密码", "密码"},
		{"\u0627\u0031\u0628", "\u0627\u0031\u0628"},
		{"a\uE000", ""},  // private use
		{"a\u200Eb", ""}, // LEFT-TO-RIGHT MARK (C.8)
		{"\xff", ""},
	} {
		got, err := saslPrep(c.in, true)
		if c.out == "" && err == nil || c.out != "" && (err != nil || got != c.out) {
			t.Errorf("saslPrep(%q) = %q, %v; want %q", c.in, got, err, c.out)
		}
	}
	// Unassigned code points: allowed in a query (a user name), not in a
	// stored string (a password).
	if _, err := saslPrep("a\U000E0080", false); err != nil {
		t.Errorf("query with an unassigned code point: %v", err)
	}
	if _, err := saslPrep("a\U000E0080", true); err == nil {
		t.Error("stored string with an unassigned code point accepted")
	}
}

// scramFixture is an Authenticator over accounts with SCRAM keys: alice
// (password "secret" and app password "apppw-phone"), bob (disabled), and
// carol, whose password predates SCRAM keys. The secrets are computed once
// (argon2id is slow on purpose, more so under -race); each call gets its
// own copy of the accounts and a fresh throttle.
func scramFixture(t testing.TB) (*Authenticator, *fakeAccounts) {
	t.Helper()
	fixtureOnce.Do(func() { fixtureAccts, fixtureApp, fixtureErr = makeFixture() })
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	f := &fakeAccounts{byAddr: map[string]store.Account{}, apps: map[store.AccountID][]store.AppPassword{1: {fixtureApp}}}
	for _, a := range fixtureAccts {
		f.byAddr[a.Address] = a
	}
	return New(f, Options{DefaultDomain: "example.test", MaxFailuresPerIP: 3, MaxDelay: -1}), f
}

var (
	fixtureOnce  sync.Once
	fixtureAccts []store.Account
	fixtureApp   store.AppPassword
	fixtureErr   error
)

func makeFixture() ([]store.Account, store.AppPassword, error) {
	alice := store.Account{ID: 1, Address: "alice@example.test", AllowIMAP: true, AllowSMTP: true}
	if err := SetPassword(&alice, nil, "secret"); err != nil {
		return nil, store.AppPassword{}, err
	}
	app, err := NewAppPassword(alice, nil, "phone", "apppw-phone")
	if err != nil {
		return nil, app, err
	}
	app.ID = 77
	bob := store.Account{ID: 2, Address: "bob@example.test", Disabled: true, AllowIMAP: true}
	if err := SetPassword(&bob, nil, "bobpw"); err != nil {
		return nil, app, err
	}
	carolHash, err := HashPassword("carolpw")
	carol := store.Account{ID: 3, Address: "carol@example.test", PasswordHash: carolHash, AllowIMAP: true}
	return []store.Account{alice, bob, carol}, app, err
}

// runSCRAM runs a whole exchange of the test client against srv and
// returns the account logged in (nil on failure) and the error.
func runSCRAM(t *testing.T, srv sasl.Server, c *testutil.SCRAMClient, got *store.Account) (*store.Account, error) {
	t.Helper()
	*got = store.Account{}
	first, done, err := srv.Next(nil)
	if err != nil || done || len(first) != 0 {
		t.Fatalf("no empty initial challenge: %q %v %v", first, done, err)
	}
	sf, done, err := srv.Next([]byte(c.First()))
	if err != nil {
		return nil, err
	}
	if done {
		t.Fatal("done after client-first")
	}
	cf, err := c.Final(string(sf))
	if err != nil {
		t.Fatal(err)
	}
	fin, done, err := srv.Next([]byte(cf))
	if err != nil {
		return nil, err
	}
	if done {
		t.Fatal("done without server-final")
	}
	if err := c.Verify(string(fin)); err != nil {
		t.Fatalf("server-final: %v", err)
	}
	if _, done, err := srv.Next([]byte{}); err != nil || !done {
		t.Fatalf("end: %v %v", done, err)
	}
	return got, nil
}

func scramErrValue(err error) string {
	var se *SCRAMError
	if errors.As(err, &se) {
		return se.Value
	}
	return ""
}

func TestSCRAMExchanges(t *testing.T) {
	a, f := scramFixture(t)
	var got store.Account
	login := func(user, pw string, svc store.Service) (*store.Account, error) {
		srv, err := a.SASL(t.Context(), SCRAMSHA256, svc, remote, nil, func(x store.Account) { got = x })
		if err != nil {
			t.Fatal(err)
		}
		return runSCRAM(t, srv, &testutil.SCRAMClient{User: user, Password: pw}, &got)
	}
	if acct, err := login("alice", "secret", store.ServiceIMAP); err != nil || acct.ID != 1 {
		t.Fatalf("main password: %+v %v", acct, err)
	}
	if acct, err := login("Alice@Example.test", "apppw-phone", store.ServiceSMTP); err != nil || acct.ID != 1 {
		t.Fatalf("app password: %+v %v", acct, err)
	}
	if len(f.touched) != 1 || f.touched[0] != 77 {
		t.Fatalf("app password not touched: %v", f.touched)
	}
	if _, err := login("alice", "secret", store.ServicePOP3); !errors.Is(err, ErrServiceDisabled) {
		t.Fatalf("POP3 disabled: %v", err)
	}
	if _, err := login("bob", "bobpw", store.ServiceIMAP); !errors.Is(err, ErrAccountDisabled) {
		t.Fatalf("disabled account: %v", err)
	}
	// Wrong password, unknown user and a password without SCRAM keys
	// all fail the same way, at the proof.
	for _, c := range [][2]string{{"alice", "wrong"}, {"nobody", "x"}, {"carol", "carolpw"}} {
		a, _ := scramFixture(t)
		srv, _ := a.SASL(t.Context(), SCRAMSHA256, store.ServiceIMAP, remote, nil, func(x store.Account) { got = x })
		_, err := runSCRAM(t, srv, &testutil.SCRAMClient{User: c[0], Password: c[1]}, &got)
		if scramErrValue(err) != eInvalidProof || !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("%s/%s: %v, want e=invalid-proof", c[0], c[1], err)
		}
	}
}

// TestSCRAMUnknownUserSalt checks that the server-first-message of an
// unknown user looks like a real one and does not change between attempts.
func TestSCRAMUnknownUserSalt(t *testing.T) {
	a, _ := scramFixture(t)
	salt := func(user string) string {
		srv, _ := a.SASL(t.Context(), SCRAMSHA256, store.ServiceIMAP, remote, nil, nil)
		sf, _, err := srv.Next([]byte("n,,n=" + user + ",r=abc"))
		if err != nil {
			t.Fatal(err)
		}
		_, rest, _ := strings.Cut(string(sf), ",s=")
		return rest
	}
	if s1, s2 := salt("nobody"), salt("nobody"); s1 != s2 || !strings.HasSuffix(s1, ",i=4096") || len(s1) != len(salt("alice")) {
		t.Fatalf("unknown user salts %q %q, alice %q", s1, s2, salt("alice"))
	}
}

// TestSCRAMThrottle: SCRAM failures count as PLAIN's do, and a blocked
// address is refused before the server-first-message.
func TestSCRAMThrottle(t *testing.T) {
	a, _ := scramFixture(t)
	var got store.Account
	for range 3 {
		srv, _ := a.SASL(t.Context(), SCRAMSHA256, store.ServiceIMAP, remote, nil, nil)
		if _, err := runSCRAM(t, srv, &testutil.SCRAMClient{User: "alice", Password: "wrong"}, &got); scramErrValue(err) != eInvalidProof {
			t.Fatal(err)
		}
	}
	srv, _ := a.SASL(t.Context(), SCRAMSHA256, store.ServiceIMAP, remote, nil, nil)
	c := &testutil.SCRAMClient{User: "alice", Password: "secret"}
	if _, _, err := srv.Next([]byte(c.First())); !errors.Is(err, ErrThrottled) {
		t.Fatalf("after 3 failures: %v", err)
	}
	if _, err := a.Login(t.Context(), Request{Username: "alice", Password: "secret", Remote: remote}); !errors.Is(err, ErrThrottled) {
		t.Fatalf("PLAIN after SCRAM failures: %v", err)
	}
}

// TestSCRAMChannelBinding covers RFC 5802 §6 with the binding data of a
// connection (the data itself is tested over TLS by the front-ends).
func TestSCRAMChannelBinding(t *testing.T) {
	cb := []byte("0123456789abcdef0123456789abcdef")
	for _, c := range []struct {
		name    string
		plus    bool
		offered []byte // nil: -PLUS not advertised on the connection
		flag    string
		data    []byte
		want    string // e= value, "" for success
	}{
		{"plus", true, cb, "p=tls-exporter", cb, ""},
		{"plus wrong data", true, cb, "p=tls-exporter", []byte("something else entirely........."), eChannelBindingsDontMatch},
		{"plus unknown type", true, cb, "p=tls-unique", cb, eUnsupportedChannelBindingTyp},
		{"plus without binding", true, cb, "n", nil, eOtherError},
		{"y while -PLUS offered (downgrade)", false, cb, "y", nil, eServerDoesSupportCB},
		{"y without -PLUS", false, nil, "y", nil, ""},
		{"n with -PLUS offered", false, cb, "n", nil, ""},
		{"p on the plain mechanism", false, cb, "p=tls-exporter", cb, eChannelBindingNotSupported},
	} {
		a, _ := scramFixture(t)
		var got store.Account
		srv := &scramServer{a: a, svc: store.ServiceIMAP, remote: remote, plus: c.plus, cb: c.offered, onSuccess: func(x store.Account) { got = x }}
		acct, err := runSCRAM(t, srv, &testutil.SCRAMClient{User: "alice", Password: "secret", CBFlag: c.flag, CBData: c.data}, &got)
		if c.want == "" && (err != nil || acct.ID != 1) || c.want != "" && scramErrValue(err) != c.want {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	a, _ := scramFixture(t)
	if _, err := a.SASL(t.Context(), SCRAMSHA256Plus, store.ServiceIMAP, remote, nil, nil); !errors.Is(err, ErrUnsupportedMechanism) {
		t.Errorf("-PLUS without TLS: %v", err)
	}
	if m := a.Mechanisms(nil); strings.Join(m, " ") != "SCRAM-SHA-256 PLAIN LOGIN" {
		t.Errorf("Mechanisms(nil) = %v", m)
	}
}

// TestSCRAMSharedSalt: a password change keeps the account's salt, so app
// passwords made before still work with SCRAM.
func TestSCRAMSharedSalt(t *testing.T) {
	a, f := scramFixture(t)
	alice := f.byAddr["alice@example.test"]
	if err := SetPassword(&alice, f.apps[1], "new secret"); err != nil {
		t.Fatal(err)
	}
	f.byAddr[alice.Address] = alice
	k1, _ := parseSCRAMKeys(alice.SCRAM)
	k2, _ := parseSCRAMKeys(f.apps[1][0].SCRAM)
	if string(k1.salt) != string(k2.salt) {
		t.Fatal("salt not shared")
	}
	var got store.Account
	for _, pw := range []string{"new secret", "apppw-phone"} {
		srv, _ := a.SASL(t.Context(), SCRAMSHA256, store.ServiceIMAP, remote, nil, func(x store.Account) { got = x })
		if acct, err := runSCRAM(t, srv, &testutil.SCRAMClient{User: "alice", Password: pw}, &got); err != nil || acct.ID != 1 {
			t.Errorf("%q after the change: %v", pw, err)
		}
	}
	// A password SASLprep refuses gets no SCRAM keys but still a hash.
	if err := SetPassword(&alice, nil, "bell\x07"); err != nil || alice.SCRAM != "" || !VerifyPassword(alice.PasswordHash, "bell\x07") {
		t.Fatalf("control character: %v %q", err, alice.SCRAM)
	}
}

// TestSCRAMProtocolErrors: out-of-order or malformed messages end the
// exchange with an error, never a panic.
func TestSCRAMProtocolErrors(t *testing.T) {
	a, _ := scramFixture(t)
	srv, _ := a.SASL(t.Context(), SCRAMSHA256, store.ServiceIMAP, remote, nil, nil)
	if _, done, err := srv.Next([]byte("n,,n=alice,r=abc")); err != nil || done {
		t.Fatal(err)
	}
	if _, done, err := srv.Next([]byte("c=biws,r=abcWRONG,p=" + base64.StdEncoding.EncodeToString(make([]byte, 32)))); !done || scramErrValue(err) != eOtherError {
		t.Fatalf("wrong nonce: %v", err)
	}
	if _, done, err := srv.Next([]byte("again")); !done || err == nil {
		t.Fatalf("after the end: %v", err)
	}
	srv, _ = a.SASL(t.Context(), SCRAMSHA256, store.ServiceIMAP, remote, nil, nil)
	if _, done, err := srv.Next([]byte("n,a=bob,n=alice,r=abc")); !done || scramErrValue(err) != eOtherError {
		t.Fatalf("authzid of another user: %v", err)
	}
}

// FuzzSCRAM feeds arbitrary client messages to both parsers and to a
// server exchange: no panic, and the parsers agree with their own output.
func FuzzSCRAM(f *testing.F) {
	f.Add("n,,n=user,r=rOprNGfwEbeRWgbNEkqO", "c=biws,r=rOprNGfwEbeRWgbNEkqO,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
	f.Add("p=tls-exporter,a=u=2C,n=u=3D,r=x,e=1", "c=,r=x,p=")
	f.Add("y,,m=x,n=a,r=b", ",p=,p=")
	a, _ := scramFixture(f)
	f.Fuzz(func(t *testing.T, first, final string) {
		if m, err := parseClientFirst(first); err == nil && m.gs2Header+m.bare != first {
			t.Fatalf("client-first %q split into %q + %q", first, m.gs2Header, m.bare)
		}
		if m, err := parseClientFinal(final); err == nil && !strings.HasPrefix(final, m.withoutProof+",p=") {
			t.Fatalf("client-final %q: without proof %q", final, m.withoutProof)
		}
		srv := &scramServer{a: a, svc: store.ServiceIMAP, cb: []byte("cb")}
		if _, done, err := srv.Next([]byte(first)); err == nil && !done {
			srv.Next([]byte(final))
		}
	})
}

func (f *fakeAccounts) AccountByID(_ context.Context, id store.AccountID) (store.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.byAddr {
		if a.ID == id {
			return a, nil
		}
	}
	return store.Account{}, store.ErrNotFound
}

// setSCRAM is the conditional write of sqlite.Store.SetSCRAM on the fake.
func (f *fakeAccounts) setSCRAM(_ context.Context, id store.AccountID, appID int64, hash, scram string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for addr, a := range f.byAddr {
		if a.ID == id && appID == 0 && a.PasswordHash == hash && a.SCRAM == "" {
			a.SCRAM = scram
			f.byAddr[addr] = a
		}
	}
	for i, p := range f.apps[id] {
		if p.ID == appID && p.Hash == hash && p.SCRAM == "" {
			f.apps[id][i].SCRAM = scram
		}
	}
	return nil
}

// TestSCRAMUpgradeOnLogin: a password set before SCRAM keys were kept gets
// them at its first PLAIN login, with the account's salt, after which
// SCRAM works with it.
func TestSCRAMUpgradeOnLogin(t *testing.T) {
	_, f := scramFixture(t)
	old, err := HashPassword("old-app-pw")
	if err != nil {
		t.Fatal(err)
	}
	f.apps[3] = []store.AppPassword{{ID: 90, AccountID: 3, Name: "old", Hash: old}}
	a := New(f, Options{MaxDelay: -1, DefaultDomain: "example.test", SetSCRAM: f.setSCRAM})
	var got store.Account
	scram := func(pw string) error {
		srv, _ := a.SASL(t.Context(), SCRAMSHA256, store.ServiceIMAP, remote, nil, func(x store.Account) { got = x })
		_, err := runSCRAM(t, srv, &testutil.SCRAMClient{User: "carol", Password: pw}, &got)
		return err
	}
	if err := scram("carolpw"); scramErrValue(err) != eInvalidProof {
		t.Fatalf("SCRAM before any PLAIN login: %v", err)
	}
	for _, pw := range []string{"carolpw", "old-app-pw"} {
		if _, err := a.Login(t.Context(), Request{Username: "carol", Password: pw, Service: store.ServiceIMAP}); err != nil {
			t.Fatal(err)
		}
		if err := scram(pw); err != nil || got.ID != 3 {
			t.Fatalf("SCRAM with %q after a PLAIN login: %v", pw, err)
		}
	}
	k1, _ := parseSCRAMKeys(f.byAddr["carol@example.test"].SCRAM)
	k2, _ := parseSCRAMKeys(f.apps[3][0].SCRAM)
	if k1.salt == nil || string(k1.salt) != string(k2.salt) {
		t.Fatal("upgraded keys do not share the account's salt")
	}
	// A wrong password upgrades nothing.
	before := f.byAddr["alice@example.test"].SCRAM
	a.Login(t.Context(), Request{Username: "alice", Password: "nope"})
	if f.byAddr["alice@example.test"].SCRAM != before {
		t.Fatal("keys changed by a failed login")
	}
}

// BenchmarkSCRAMServer measures the server's side of a whole SCRAM
// exchange (the client's messages are replayed with a fixed server nonce,
// so the client's PBKDF2 is not counted), against BenchmarkPLAINArgon2, the
// argon2id check a PLAIN login costs without the cache.
func BenchmarkSCRAMServer(b *testing.B) {
	a, _ := scramFixture(b)
	fixed := func(c string) (string, error) { return c + "fixedservernonce", nil }
	c := &testutil.SCRAMClient{User: "alice", Password: "secret", Nonce: "clientnonce"}
	first := []byte(c.First())
	srv, _ := a.SASL(b.Context(), SCRAMSHA256, store.ServiceIMAP, remote, nil, nil)
	srv.(*scramServer).nonceFn = fixed
	sf, _, err := srv.Next(first)
	if err != nil {
		b.Fatal(err)
	}
	final, err := c.Final(string(sf))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		srv, _ := a.SASL(b.Context(), SCRAMSHA256, store.ServiceIMAP, remote, nil, nil)
		srv.(*scramServer).nonceFn = fixed
		srv.Next(first)
		if _, _, err := srv.Next([]byte(final)); err != nil {
			b.Fatal(err)
		}
		srv.Next([]byte{})
	}
}

func BenchmarkPLAINArgon2(b *testing.B) {
	_, f := scramFixture(b)
	a := New(f, Options{DefaultDomain: "example.test", CacheTTL: -1})
	for b.Loop() {
		if _, err := a.Login(context.Background(), Request{Username: "alice", Password: "secret", Service: store.ServiceIMAP}); err != nil {
			b.Fatal(err)
		}
	}
}
