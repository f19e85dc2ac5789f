package wire

import (
	"bufio"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseThread(t *testing.T) {
	and := func(sub ...SearchKey) SearchKey { return SearchKey{Key: "AND", Sub: sub} }
	cases := []struct {
		in   string
		want *Command
	}{
		{"a THREAD REFERENCES UTF-8 ALL\r\n", &Command{Tag: "a", Name: "THREAD", Args: &ThreadArgs{
			Algorithm: "REFERENCES", Charset: "UTF-8", Key: and(SearchKey{Key: "ALL"})}}},
		{"a uid thread orderedsubject us-ascii UNSEEN 1:5\r\n", &Command{Tag: "a", Name: "THREAD", UID: true, Args: &ThreadArgs{
			Algorithm: "ORDEREDSUBJECT", Charset: "US-ASCII", Key: and(SearchKey{Key: "UNSEEN"}, SearchKey{Key: "SEQ", Set: mustSet("1:5")})}}},
		{"a THREAD REFERENCES \"GB18030\" SUBJECT {2}\r\n\xc4\xe3 OR SEEN (FLAGGED)\r\n", &Command{Tag: "a", Name: "THREAD", Args: &ThreadArgs{
			Algorithm: "REFERENCES", Charset: "GB18030",
			Key: and(SearchKey{Key: "SUBJECT", Value: "\xc4\xe3"}, SearchKey{Key: "OR", Sub: []SearchKey{{Key: "SEEN"}, and(SearchKey{Key: "FLAGGED"})}})}}},
		{"a UID THREAD REFERENCES UTF-8 UID 3:*\r\n", &Command{Tag: "a", Name: "THREAD", UID: true, Args: &ThreadArgs{
			Algorithm: "REFERENCES", Charset: "UTF-8", Key: and(SearchKey{Key: "UID", Set: mustSet("3:*")})}}},
	}
	for _, c := range cases {
		got, err, _ := parse(t, c.in, nil)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q:\n got %#v\nwant %#v", c.in, got.Args, c.want.Args)
		}
	}
}

func TestParseThreadErrors(t *testing.T) {
	cases := []string{
		"a THREAD\r\n",                          // nothing
		"a THREAD REFERENCES\r\n",               // no charset
		"a THREAD REFERENCES UTF-8\r\n",         // charset but no search key
		"a THREAD REFERENCES ALL\r\n",           // charset missing: ALL is taken as one
		"a THREAD REFS UTF-8 ALL\r\n",           // unknown algorithm: BAD
		"a THREAD X-JWZ UTF-8 ALL\r\n",          // an extension we do not implement
		"a THREAD (REFERENCES) UTF-8 ALL\r\n",   // not an atom
		"a THREAD REFERENCES  UTF-8 ALL\r\n",    // double space
		"a THREAD REFERENCES UTF-8 ALL \r\n",    // trailing space
		"a THREAD REFERENCES UTF-8 FOO\r\n",     // bad search key
		"a THREAD REFERENCES UTF-8 (ALL\r\n",    // unclosed
		"a UID THREAD REFERENCES UTF-8 UID\r\n", // UID key without a set
		"a THREAD REFERENCES UTF-8 " + strings.Repeat("(", 100) + "ALL" + strings.Repeat(")", 100) + "\r\n", // too deep
	}
	for _, in := range cases {
		_, err, _ := parse(t, in, nil)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Fatal {
			t.Errorf("%q: err = %v, want non-fatal ParseError", in, err)
		}
	}
}

// FuzzParseThread: any THREAD line parses or fails with a ParseError,
// never panics, and a parsed one names a known algorithm.
func FuzzParseThread(f *testing.F) {
	for _, s := range []string{
		"a THREAD REFERENCES UTF-8 ALL\r\n", "a UID THREAD ORDEREDSUBJECT US-ASCII OR FROM {1+}\r\nx 1:*\r\n",
		"a THREAD REFERENCES GB18030 SUBJECT \"\xc4\xe3\" NOT (SEEN UID 1,3:5)\r\n", "a THREAD x y\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := NewReader(bufio.NewReader(strings.NewReader(in)))
		r.MaxLine = 1024
		r.MaxLiteral = 4096
		r.Continue = func() error { return nil }
		for i := 0; i < 4; i++ {
			cmd, err := r.ReadCommand()
			if err != nil {
				if pe, ok := err.(*ParseError); ok && !pe.Fatal {
					continue
				}
				return
			}
			if a, ok := cmd.Args.(*ThreadArgs); ok {
				if a.Algorithm != "REFERENCES" && a.Algorithm != "ORDEREDSUBJECT" || len(a.Key.Sub) == 0 {
					t.Fatalf("bad args %#v", a)
				}
			}
		}
	})
}
