package dkimkeys

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

func TestGenerateLoadAndSignVerify(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir, "example.test"); !errors.Is(err, ErrNoKeys) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load before Generate: %v, want ErrNoKeys", err)
	}
	if err := Generate(dir, "example.test"); err != nil {
		t.Fatal(err)
	}
	for _, sel := range []string{SelectorEd25519, SelectorRSA} {
		fi, err := os.Stat(filepath.Join(dir, "dkim", "example.test", sel+".key"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", sel, fi.Mode().Perm())
		}
	}
	keys, err := Load(dir, "example.test")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Selector != SelectorEd25519 || keys[0].Algorithm != AlgEd25519 ||
		keys[1].Selector != SelectorRSA || keys[1].Algorithm != AlgRSA {
		t.Fatalf("keys = %+v", keys)
	}
	// Generate again keeps the keys that exist.
	if err := Generate(dir, "example.test"); err != nil {
		t.Fatal(err)
	}
	again, _ := Load(dir, "example.test")
	for i := range keys {
		if again[i].DNSValue != keys[i].DNSValue {
			t.Errorf("%s changed on a second Generate", keys[i].Selector)
		}
	}
	// Sign with each key and verify with go-msgauth looking the TXT value
	// up in our table: this proves DNSValue matches the private key.
	txt := map[string]string{}
	for _, k := range keys {
		txt[k.Selector+"._domainkey.example.test"] = k.DNSValue
	}
	msg := "From: a@example.test\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nhello\r\n"
	for _, k := range keys {
		var out bytes.Buffer
		err := dkim.Sign(&out, strings.NewReader(msg), &dkim.SignOptions{Domain: "example.test", Selector: k.Selector, Signer: k.Signer})
		if err != nil {
			t.Fatalf("%s: sign: %v", k.Selector, err)
		}
		vs, err := dkim.VerifyWithOptions(&out, &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
			if v, ok := txt[name]; ok {
				return []string{v}, nil
			}
			return nil, errors.New("no such record " + name)
		}})
		if err != nil || len(vs) != 1 || vs[0].Err != nil {
			t.Fatalf("%s: verify: %v %+v", k.Selector, err, vs)
		}
	}
}

func TestBadDomainAndBadFile(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"", "../etc", "a/b", "..", ".x", "a b"} {
		if err := Generate(dir, d); err == nil {
			t.Errorf("Generate(%q) succeeded", d)
		}
	}
	kd := Dir(dir, "bad.test")
	if err := os.MkdirAll(kd, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(kd, "x.key"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, "bad.test"); err == nil || !strings.Contains(err.Error(), "PEM") {
		t.Errorf("Load of garbage: %v", err)
	}
}
