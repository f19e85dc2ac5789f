package srs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newTest(t testing.TB, domain string, now *time.Time) *Rewriter {
	t.Helper()
	r, err := New(domain, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	r.Now = func() time.Time { return *now }
	return r
}

func TestRoundTrip(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	r := newTest(t, "youju.dev", &now)
	got := r.Forward("Alice@Sender.example")
	if !strings.HasPrefix(got, "SRS0=") || !strings.HasSuffix(got, "=sender.example=Alice@youju.dev") {
		t.Fatalf("Forward = %q", got)
	}
	for _, addr := range []string{got, strings.ToLower(got), strings.ToUpper(got[:strings.IndexByte(got, '@')]) + "@youju.dev"} {
		orig, err := r.Reverse(addr)
		if err != nil || !strings.EqualFold(orig, "alice@sender.example") {
			t.Errorf("Reverse(%q) = %q, %v", addr, orig, err)
		}
	}
	// Still valid after 21 days, not after 22.
	now = now.Add(21 * 24 * time.Hour)
	if _, err := r.Reverse(got); err != nil {
		t.Errorf("after 21 days: %v", err)
	}
	now = now.Add(24 * time.Hour)
	if _, err := r.Reverse(got); !errors.Is(err, ErrExpired) {
		t.Errorf("after 22 days: %v, want ErrExpired", err)
	}
}

func TestReject(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	r := newTest(t, "youju.dev", &now)
	good := r.Forward("bob@sender.example")
	tampered := strings.Replace(good, "=bob@", "=eve@", 1)
	other, _ := New("youju.dev", []byte("another secret, another server!"))
	other.Now = r.Now
	for addr, want := range map[string]error{
		tampered:                               ErrBadHash,
		other.Forward("bob@sender.example"):    ErrBadHash,
		"SRS0=AAAA=AA=x.example=bob@youju.dev": ErrBadHash,
		"SRS0=@youju.dev":                      ErrSyntax,
		"SRS0=ABCDEFGH=A=x=y@youju.dev":        ErrSyntax,
		"SRS0=ABCDEFGH=!!=x=y@youju.dev":       ErrBadHash,
		"bob@youju.dev":                        ErrNotSRS,
		"SRS1=ABCDEFGH=x.example@youju.dev":    ErrSyntax,
	} {
		if _, err := r.Reverse(addr); !errors.Is(err, want) {
			t.Errorf("Reverse(%q) = %v, want %v", addr, err, want)
		}
	}
}

func TestSRS1(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	first := newTest(t, "first.example", &now)
	second := newTest(t, "youju.dev", &now)
	second.keys = [][]byte{[]byte("second forwarder's own secret!!")}
	srs0 := first.Forward("carol@origin.example")
	srs1 := second.Forward(srs0)
	if !strings.HasPrefix(srs1, "SRS1=") || !strings.Contains(srs1, "=first.example==") {
		t.Fatalf("Forward(%q) = %q", srs0, srs1)
	}
	// Forwarded once more: still SRS1 to the first forwarder.
	third := newTest(t, "third.example", &now)
	if again := third.Forward(srs1); !strings.HasPrefix(again, "SRS1=") || !strings.Contains(again, "=first.example==") {
		t.Errorf("SRS1 forwarded again: %q", again)
	}
	back, err := second.Reverse(srs1)
	if err != nil || back != srs0 {
		t.Fatalf("Reverse(%q) = %q, %v; want %q", srs1, back, err, srs0)
	}
	orig, err := first.Reverse(back)
	if err != nil || orig != "carol@origin.example" {
		t.Errorf("first forwarder's Reverse = %q, %v", orig, err)
	}
}

func TestForwardUnchanged(t *testing.T) {
	now := time.Now()
	r := newTest(t, "youju.dev", &now)
	long := strings.Repeat("x", 50) + "@sender.example"
	for _, s := range []string{"", "me@youju.dev", long} {
		if got := r.Forward(s); got != s {
			t.Errorf("Forward(%q) = %q, want it unchanged", s, got)
		}
	}
}

func TestLoadKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "srs.key")
	k1, err := LoadKeyFile(path)
	if err != nil || len(k1) != 1 || len(k1[0]) != 32 {
		t.Fatalf("created: %v %v", k1, err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	k2, err := LoadKeyFile(path)
	if err != nil || string(k2[0]) != string(k1[0]) {
		t.Errorf("reloaded another secret: %v", err)
	}
	os.WriteFile(path, []byte("zz\n"), 0o600)
	if _, err := LoadKeyFile(path); err == nil {
		t.Error("a bad secret file was accepted")
	}
}

// FuzzReverse: any input is refused or turned into an address, never a
// panic; what Forward makes, Reverse undoes.
func FuzzReverse(f *testing.F) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	r := newTest(f, "youju.dev", &now)
	for _, s := range []string{"a@b.example", r.Forward("a@b.example"), "SRS1=ABCDEFGH=x==ABCDEFGH=AA=d=l@youju.dev", "SRS0===@", "SRS0-x@y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r.Reverse(s)
		fw := r.Forward(s)
		if fw == s || !strings.HasPrefix(fw, "SRS0=") {
			return
		}
		back, err := r.Reverse(fw)
		if err != nil || !strings.EqualFold(back, s) {
			t.Fatalf("Forward(%q) = %q, Reverse = %q, %v", s, fw, back, err)
		}
	})
}
