package sieve

import (
	"math/big"
	"strings"
	"unicode/utf8"
)

// matcher is a comparator (RFC 5228 §2.7.3, RFC 4790 §9) with a match
// type (§2.7.1) and, for :count and :value, a relation (RFC 5231 §4).
type matcher struct {
	cmp string // i;octet, i;ascii-casemap, i;ascii-numeric
	typ string // is, contains, matches, count, value
	rel string // gt, ge, lt, le, eq, ne
}

var relations = []string{"gt", "ge", "lt", "le", "eq", "ne"}

func newMatcher(av *argv) (matcher, error) {
	m := matcher{cmp: "i;ascii-casemap", typ: "is"}
	if v, ok := av.str("comparator"); ok {
		switch v {
		case "i;octet", "i;ascii-casemap", "i;ascii-numeric":
			m.cmp = v
		default:
			return m, errAt(av.tags["comparator"].pos, "unknown comparator %q (supported: i;octet, i;ascii-casemap, i;ascii-numeric)", v)
		}
	}
	for _, t := range []string{"contains", "matches", "count", "value"} {
		if av.has(t) {
			m.typ = t
		}
	}
	if m.typ == "count" || m.typ == "value" {
		r, _ := av.str(m.typ)
		m.rel = strings.ToLower(r)
		ok := false
		for _, x := range relations {
			ok = ok || x == m.rel
		}
		if !ok {
			return m, errAt(av.tags[m.typ].pos, "unknown relation %q: expected one of gt, ge, lt, le, eq, ne", r)
		}
	}
	if m.cmp == "i;ascii-numeric" && (m.typ == "contains" || m.typ == "matches") {
		return m, errAt(av.at, "comparator i;ascii-numeric cannot do :%s", m.typ)
	}
	return m, nil
}

// budget counts interpreter steps (the CPU limit); matching charges it.
type budget struct {
	left int
}

func (b *budget) spend(n int) error {
	b.left -= n
	if b.left < 0 {
		return errTooManySteps
	}
	return nil
}

// match compares one value with one key. For :matches, caps gets the
// strings the wildcards matched (RFC 5229 §3.2) when it is not nil.
func (m *matcher) match(b *budget, value, key string, caps *[]string) (bool, error) {
	if err := b.spend(1 + (len(value)+len(key))/256); err != nil {
		return false, err
	}
	switch m.typ {
	case "is":
		return m.compare(value, key) == 0, nil
	case "contains":
		if m.cmp == "i;ascii-casemap" {
			return strings.Contains(asciiLower(value), asciiLower(key)), nil
		}
		return strings.Contains(value, key), nil
	case "matches":
		return glob(b, key, value, m.cmp == "i;ascii-casemap", caps)
	case "value":
		return relate(m.rel, m.compare(value, key)), nil
	}
	return false, nil
}

// compare orders two strings by the comparator: -1, 0 or 1.
func (m *matcher) compare(a, b string) int {
	switch m.cmp {
	case "i;ascii-casemap":
		return strings.Compare(asciiLower(a), asciiLower(b))
	case "i;ascii-numeric":
		return compareNumeric(a, b)
	}
	return strings.Compare(a, b)
}

func relate(rel string, c int) bool {
	switch rel {
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	}
	return false
}

// compareNumeric is i;ascii-numeric (RFC 4790 §9.1): the leading digits
// as a number; a string without leading digits is positive infinity.
func compareNumeric(a, b string) int {
	na, oka := leadingNumber(a)
	nb, okb := leadingNumber(b)
	switch {
	case !oka && !okb:
		return 0
	case !oka:
		return 1
	case !okb:
		return -1
	}
	return na.Cmp(nb)
}

func leadingNumber(s string) (*big.Int, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' && i < 1000 {
		i++
	}
	if i == 0 {
		return nil, false
	}
	n, _ := new(big.Int).SetString(s[:i], 10)
	return n, true
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// ptok is one token of a :matches pattern.
type ptok struct {
	special byte // '*', '?' or 0 for a literal
	lit     string
}

// globTokens splits a pattern into literal characters (a backslash
// quotes the next one) and the wildcards '*' and '?'.
func globTokens(pattern string) []ptok {
	var toks []ptok
	for i := 0; i < len(pattern); {
		c := pattern[i]
		switch {
		case c == '*' || c == '?':
			toks = append(toks, ptok{special: c})
			i++
		case c == '\\' && i+1 < len(pattern):
			_, n := utf8.DecodeRuneInString(pattern[i+1:])
			toks = append(toks, ptok{lit: pattern[i+1 : i+1+n]})
			i += 1 + n
		default:
			_, n := utf8.DecodeRuneInString(pattern[i:])
			toks = append(toks, ptok{lit: pattern[i : i+n]})
			i += n
		}
	}
	return toks
}

// glob matches value against a :matches pattern (RFC 5228 §2.7.1): "*"
// matches any run of characters, "?" one character, and a backslash
// quotes the next character. Each "*" takes as little as it can, leftmost
// first, which is how RFC 5229 §3.2 fills the match variables. Failed
// (pattern, value) positions are remembered, so the work is bounded by
// their product, and charged to the budget.
func glob(b *budget, pattern, value string, fold bool, caps *[]string) (bool, error) {
	orig := value // asciiLower keeps byte offsets: captures come from orig
	if fold {
		pattern, value = asciiLower(pattern), asciiLower(value)
	}
	toks := globTokens(pattern)
	failed := map[[2]int]bool{}
	var spans [][2]int // start/end in value of each wildcard, in order
	var rec func(ti, vi int) (bool, error)
	rec = func(ti, vi int) (bool, error) {
		if err := b.spend(1); err != nil {
			return false, err
		}
		if ti == len(toks) {
			return vi == len(value), nil
		}
		if failed[[2]int{ti, vi}] {
			return false, nil
		}
		t := toks[ti]
		switch t.special {
		case '*':
			for end := vi; end <= len(value); {
				spans = append(spans, [2]int{vi, end})
				ok, err := rec(ti+1, end)
				if err != nil || ok {
					return ok, err
				}
				spans = spans[:len(spans)-1]
				if end == len(value) {
					break
				}
				_, n := utf8.DecodeRuneInString(value[end:])
				end += n
			}
		case '?':
			if vi < len(value) {
				_, n := utf8.DecodeRuneInString(value[vi:])
				spans = append(spans, [2]int{vi, vi + n})
				ok, err := rec(ti+1, vi+n)
				if err != nil || ok {
					return ok, err
				}
				spans = spans[:len(spans)-1]
			}
		default:
			if strings.HasPrefix(value[vi:], t.lit) {
				ok, err := rec(ti+1, vi+len(t.lit))
				if err != nil || ok {
					return ok, err
				}
			}
		}
		if len(failed) < 1<<20 {
			failed[[2]int{ti, vi}] = true
		}
		return false, nil
	}
	ok, err := rec(0, 0)
	if ok && caps != nil {
		*caps = append((*caps)[:0], orig)
		for _, s := range spans {
			*caps = append(*caps, orig[s[0]:s[1]])
		}
	}
	return ok, err
}
