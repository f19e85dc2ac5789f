package wire

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseSort(t *testing.T) {
	and := func(sub ...SearchKey) SearchKey { return SearchKey{Key: "AND", Sub: sub} }
	cases := []struct {
		in   string
		want *Command
	}{
		{"a SORT (DATE) UTF-8 ALL\r\n", &Command{Tag: "a", Name: "SORT", Args: &SortArgs{
			Keys: []SortKey{{Key: "DATE"}}, Charset: "UTF-8", Key: and(SearchKey{Key: "ALL"})}}},
		{"a uid sort (reverse arrival subject Reverse SIZE from to cc) us-ascii UNSEEN 1:5\r\n", &Command{Tag: "a", Name: "SORT", UID: true, Args: &SortArgs{
			Keys:    []SortKey{{Key: "ARRIVAL", Reverse: true}, {Key: "SUBJECT"}, {Key: "SIZE", Reverse: true}, {Key: "FROM"}, {Key: "TO"}, {Key: "CC"}},
			Charset: "US-ASCII", Key: and(SearchKey{Key: "UNSEEN"}, SearchKey{Key: "SEQ", Set: mustSet("1:5")})}}},
		{"a SORT (DISPLAYFROM REVERSE DISPLAYTO) \"GB18030\" SUBJECT {2}\r\n\xc4\xe3 OR SEEN (FLAGGED)\r\n", &Command{Tag: "a", Name: "SORT", Args: &SortArgs{
			Keys: []SortKey{{Key: "DISPLAYFROM"}, {Key: "DISPLAYTO", Reverse: true}}, Charset: "GB18030",
			Key: and(SearchKey{Key: "SUBJECT", Value: "\xc4\xe3"}, SearchKey{Key: "OR", Sub: []SearchKey{{Key: "SEEN"}, and(SearchKey{Key: "FLAGGED"})}})}}},
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

func TestParseSortErrors(t *testing.T) {
	cases := []string{
		"a SORT\r\n",                     // no criteria
		"a SORT () UTF-8 ALL\r\n",        // empty criteria
		"a SORT DATE UTF-8 ALL\r\n",      // criteria without parentheses
		"a SORT (DATE UTF-8 ALL\r\n",     // unclosed
		"a SORT (FOO) UTF-8 ALL\r\n",     // unknown key
		"a SORT (REVERSE) UTF-8 ALL\r\n", // REVERSE without a key
		"a SORT (REVERSE REVERSE DATE) UTF-8 ALL\r\n",
		"a SORT (DATE  SIZE) UTF-8 ALL\r\n",                              // double space
		"a SORT (DATE ) UTF-8 ALL\r\n",                                   // trailing space
		"a SORT (DATE)\r\n",                                              // no charset
		"a SORT (DATE) UTF-8\r\n",                                        // charset is mandatory, so no search key
		"a SORT (DATE) ALL\r\n",                                          // charset missing: ALL is taken as one
		"a SORT (DATE) UTF-8 ALL \r\n",                                   // trailing space
		"a SORT (DATE) UTF-8 FOO\r\n",                                    // bad search key
		"a SORT (DATE)UTF-8 ALL\r\n",                                     // missing SP
		"a UID SORT (ARRIVAL) UTF-8 UID\r\n",                             // UID key without a set
		"a SORT (" + strings.Repeat("DATE ", 20) + "SIZE) UTF-8 ALL\r\n", // too many
	}
	for _, in := range cases {
		_, err, _ := parse(t, in, nil)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Fatal {
			t.Errorf("%q: err = %v, want non-fatal ParseError", in, err)
		}
	}
}
