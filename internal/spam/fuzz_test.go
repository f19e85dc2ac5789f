package spam

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzTokens: any message tokenises without panic, within the bounds.
func FuzzTokens(f *testing.F) {
	for _, name := range []string{"ham/0001.eml", "ham/0003.eml", "spam/0002.eml", "spam/0003.eml"} {
		if b, err := os.ReadFile(filepath.Join("testdata", "corpus", name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("Subject: =?gbk?B?tPq/qg==?=\r\n\r\nhttp://[::1 http:// 中a文\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		toks := Tokens(msg)
		if len(toks) > maxTokens {
			t.Fatalf("%d tokens", len(toks))
		}
		for _, tok := range toks {
			if tok == "" || !utf8.ValidString(tok) && len(tok) > 4*maxWord+64 {
				t.Fatalf("token %q", tok)
			}
		}
	})
}

// FuzzGreylistState: a damaged state file is an error, never a panic.
func FuzzGreylistState(f *testing.F) {
	f.Add([]byte(`{"triplets":{"192.0.2.0/24 a@b c@d":{"first":"2026-01-01T00:00:00Z"}},"white":{}}`))
	f.Add([]byte(`{"triplets":{"k":null}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "g.json")
		os.WriteFile(p, b, 0o600)
		g, err := OpenGreylist(p)
		if err == nil {
			g.MaxEntries = 1
			g.Check(netipMust("192.0.2.1"), "a@b", "c@d")
		}
	})
}

func netipMust(s string) netip.Addr { return netip.MustParseAddr(s) }
