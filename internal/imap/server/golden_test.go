package server

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestGoldenFetch")

// goldenItems are fetched from every message of testdata/corpus.
var goldenItems = []string{
	"ENVELOPE", "BODYSTRUCTURE", "BODY", "BODY.PEEK[HEADER]", "BODY.PEEK[TEXT]",
	"BODY.PEEK[1]", "BODY.PEEK[1.MIME]", "BODY.PEEK[2]", "BODY.PEEK[2.HEADER]", "BODY.PEEK[2.TEXT]",
	"BODY.PEEK[2.1]", "BODY.PEEK[2.2]", "BINARY.PEEK[1]", "BINARY.SIZE[1]",
}

// TestGoldenFetch compares the FETCH responses for a corpus of
// real-world-shaped messages (multipart/alternative and related, nested
// message/rfc822, GBK, RFC 2231 parameters, malformed MIME) with golden
// files; run with -update to rewrite them after checking the change.
func TestGoldenFetch(t *testing.T) {
	files, err := filepath.Glob("testdata/corpus/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatal("no corpus", err)
	}
	ts := startServer(t, nil)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ts.deliver(t, "INBOX", string(data), 0)
	}
	c := ts.login(t)
	c.ok("SELECT INBOX")
	for i, f := range files {
		var out strings.Builder
		for _, it := range goldenItems {
			u, done := c.do("FETCH " + itoa(uint64(i+1)) + " (" + it + ")")
			out.WriteString("== " + it + " -> " + done + "\n")
			for _, l := range u {
				out.WriteString(l + "\n")
			}
		}
		golden := strings.TrimSuffix(f, ".eml") + ".golden"
		if *update {
			if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if string(want) != out.String() {
			t.Errorf("%s: FETCH output differs from %s:\n%s", f, golden, out.String())
		}
	}
}
