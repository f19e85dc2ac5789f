package wire

import (
	"bufio"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestParseReturnOptions covers the RETURN options of SEARCH and the
// extended SORT: ESEARCH (RFC 4731), SAVE (RFC 5182), and CONTEXT, UPDATE
// and PARTIAL (RFC 5267 §4, negative ranges of RFC 9394).
func TestParseReturnOptions(t *testing.T) {
	all := SearchKey{Key: "AND", Sub: []SearchKey{{Key: "ALL"}}}
	cases := []struct {
		in      string
		ret     []string
		partial *PartialRange
	}{
		{"a SEARCH RETURN () ALL\r\n", []string{}, nil},
		{"a SEARCH RETURN (min Max count all save) ALL\r\n", []string{"MIN", "MAX", "COUNT", "ALL", "SAVE"}, nil},
		{"a SEARCH RETURN (PARTIAL 1:100) ALL\r\n", []string{"PARTIAL"}, &PartialRange{1, 100}},
		{"a SEARCH RETURN (COUNT partial 500:400 UPDATE CONTEXT) ALL\r\n", []string{"COUNT", "PARTIAL", "UPDATE", "CONTEXT"}, &PartialRange{500, 400}},
		{"a SEARCH RETURN (PARTIAL -1:-100 MIN) ALL\r\n", []string{"PARTIAL", "MIN"}, &PartialRange{-1, -100}},
		{"a SEARCH RETURN (PARTIAL 4294967295:1) ALL\r\n", []string{"PARTIAL"}, &PartialRange{4294967295, 1}},
	}
	for _, c := range cases {
		for _, in := range []string{c.in, strings.Replace(c.in, "SEARCH RETURN", "UID SORT RETURN", 1)} {
			sort := strings.Contains(in, "SORT")
			if sort {
				in = strings.Replace(in, ") ALL", ") (DATE) UTF-8 ALL", 1)
			}
			got, err, _ := parse(t, in, nil)
			if err != nil {
				t.Errorf("%q: %v", in, err)
				continue
			}
			var want any = &SearchArgs{Key: all, Return: c.ret, HasReturn: true, Partial: c.partial}
			if sort {
				want = &SortArgs{Keys: []SortKey{{Key: "DATE"}}, Charset: "UTF-8", Key: all, Return: c.ret, HasReturn: true, Partial: c.partial}
			}
			if !reflect.DeepEqual(got.Args, want) {
				t.Errorf("%q:\n got %#v\nwant %#v", in, got.Args, want)
			}
		}
	}
}

func TestParseReturnOptionErrors(t *testing.T) {
	for _, opts := range []string{
		"(PARTIAL)", "(PARTIAL 1)", "(PARTIAL 0:10)", "(PARTIAL 1:0)", "(PARTIAL 1:*)", "(PARTIAL *:1)",
		"(PARTIAL -1:10)", "(PARTIAL 1:-10)", "(PARTIAL --1:-2)", "(PARTIAL 1:4294967296)",
		"(PARTIAL 1:10 PARTIAL 11:20)",             // RFC 5267 §4.4: one PARTIAL
		"(PARTIAL 1:10 ALL)", "(ALL PARTIAL 1:10)", // nor PARTIAL with ALL
		"(FOO)", "(MIN", "MIN", "(MIN  MAX)", "(" + strings.Repeat("MIN ", 20) + "MAX)",
	} {
		for _, in := range []string{"a SEARCH RETURN " + opts + " ALL\r\n", "a SORT RETURN " + opts + " (DATE) UTF-8 ALL\r\n"} {
			_, err, _ := parse(t, in, nil)
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Fatal {
				t.Errorf("%q: err = %v, want non-fatal ParseError", in, err)
			}
		}
	}
}

func TestPartialWindow(t *testing.T) {
	cases := []struct {
		r      PartialRange
		n      int
		lo, hi int
	}{
		{PartialRange{1, 100}, 1000, 0, 100},
		{PartialRange{100, 1}, 1000, 0, 100},
		{PartialRange{501, 1000}, 764, 500, 764}, // past the end: what is there
		{PartialRange{800, 900}, 764, 0, 0},      // nothing
		{PartialRange{-1, -100}, 1000, 900, 1000},
		{PartialRange{-100, -1}, 1000, 900, 1000},
		{PartialRange{-1, -1}, 5, 4, 5},
		{PartialRange{-3, -10}, 5, 0, 3},
		{PartialRange{-6, -10}, 5, 0, 0},
		{PartialRange{1, 4294967295}, 3, 0, 3},
		{PartialRange{1, 1}, 0, 0, 0},
	}
	for _, c := range cases {
		if lo, hi := c.r.Window(c.n); lo != c.lo || hi != c.hi {
			t.Errorf("%s of %d = [%d,%d), want [%d,%d)", c.r, c.n, lo, hi, c.lo, c.hi)
		}
	}
	if s := (PartialRange{-1, -100}).String(); s != "-1:-100" {
		t.Errorf("String = %q", s)
	}
}

func TestParseCancelUpdate(t *testing.T) {
	got, err, _ := parse(t, "x CANCELUPDATE \"B01\" \"a\\\"b\"\r\n", nil)
	if err != nil || !reflect.DeepEqual(got.Args, &CancelUpdateArgs{Tags: []string{"B01", `a"b`}}) {
		t.Fatalf("%#v %v", got, err)
	}
	for _, in := range []string{"x CANCELUPDATE\r\n", "x CANCELUPDATE B01\r\n", "x CANCELUPDATE \"B01\" \r\n",
		"x CANCELUPDATE" + strings.Repeat(" \"t\"", 65) + "\r\n", "x UID CANCELUPDATE \"a\"\r\n"} {
		_, err, _ := parse(t, in, nil)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Fatal {
			t.Errorf("%q: err = %v, want non-fatal ParseError", in, err)
		}
	}
}

// FuzzPartialRange checks that any window a parsed PARTIAL range selects
// lies within the results and that the range prints as it was sent.
func FuzzPartialRange(f *testing.F) {
	for _, s := range []string{"1:100", "-1:-100", "500:400", "4294967295:1", "0:1", "-1:1", "1:*"} {
		f.Add(s, 1000)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 1<<20 {
			return
		}
		in := "a SEARCH RETURN (PARTIAL " + s + ") ALL\r\n"
		cmd, err := NewReader(bufioReader(in)).ReadCommand()
		if err != nil {
			return
		}
		p := cmd.Args.(*SearchArgs).Partial
		if p == nil || p.First == 0 || p.Last == 0 || (p.First < 0) != (p.Last < 0) {
			t.Fatalf("%q parsed to %+v", s, p)
		}
		again, err := NewReader(bufioReader("a SEARCH RETURN (PARTIAL " + p.String() + ") ALL\r\n")).ReadCommand()
		if err != nil || *again.Args.(*SearchArgs).Partial != *p {
			t.Fatalf("%q prints as %q, which parses to %v", s, p.String(), err)
		}
		lo, hi := p.Window(n)
		if lo < 0 || hi > n || lo > hi || (lo == hi && lo != 0) {
			t.Fatalf("%q of %d: window [%d,%d)", s, n, lo, hi)
		}
	})
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }
