package wire

// maxSearchDepth bounds nesting of parentheses, OR and NOT, so that a
// hostile program cannot exhaust the stack.
const maxSearchDepth = 64

// parseSearch reads SEARCH [SP "RETURN" SP "(" return-opts ")"]
// [SP "CHARSET" SP charset] 1*(SP search-key) (RFC 9051 §6.4.4,
// RFC 4731 §3 ESEARCH, RFC 5182 SEARCHRES).
func parseSearch(r *Reader, _ *Command) (any, error) {
	a := &SearchArgs{Key: SearchKey{Key: "AND"}}
	if err := r.sp(); err != nil {
		return nil, err
	}
	if r.peekWord("RETURN ") {
		r.pos += len("RETURN ")
		opts, partial, err := r.returnOpts()
		if err != nil {
			return nil, err
		}
		a.Return, a.Partial, a.HasReturn = opts, partial, true
		if err := r.sp(); err != nil {
			return nil, err
		}
	}
	if r.peekWord("CHARSET ") {
		r.pos += len("CHARSET ")
		cs, err := r.astring()
		if err != nil {
			return nil, err
		}
		a.Charset = upper(cs)
		if err := r.sp(); err != nil {
			return nil, err
		}
	}
	for {
		k, err := r.searchKey(0)
		if err != nil {
			return nil, err
		}
		a.Key.Sub = append(a.Key.Sub, k)
		if r.peek() != ' ' {
			return a, nil
		}
		r.pos++
	}
}

// PartialRange is the argument of the PARTIAL return option: 1-based
// positions in the list of results, as the client sent them (RFC 5267
// §4.4: "500:400" is "400:500"). Negative positions count from the end,
// -1 being the last result (RFC 9394 §3.1); both ends have the same sign.
type PartialRange struct {
	First, Last int64
}

// String is the range as the client sent it, which the PARTIAL return
// data echoes (RFC 9394 §3.1: "the original range").
func (p PartialRange) String() string {
	return itoa64(p.First) + ":" + itoa64(p.Last)
}

// Window returns the 0-based half-open interval [lo, hi) of a list of n
// results that the range selects; lo == hi when it selects nothing.
func (p PartialRange) Window(n int) (lo, hi int) {
	a, b := p.First, p.Last
	if a > b {
		a, b = b, a
	}
	if a < 0 { // -1 is index n-1; -100:-1 after ordering
		a, b = int64(n)+a, int64(n)+b
	} else {
		a, b = a-1, b-1
	}
	a, b = max(a, 0), min(b, int64(n)-1)
	if a > b {
		return 0, 0
	}
	return int(a), int(b) + 1
}

func itoa64(n int64) string {
	neg := n < 0
	if neg {
		n = -n
	}
	var b [21]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// maxReturnOpts bounds the return option list; there are nine options,
// so a longer list only repeats them.
const maxReturnOpts = 16

// returnOpts reads "(" [search-return-opt *(SP search-return-opt)] ")"
// after RETURN: the ESEARCH options of RFC 4731 §3.1, SAVE (RFC 5182) and
// the CONTEXT, UPDATE and PARTIAL options of RFC 5267 §4 (PARTIAL with the
// negative ranges of RFC 9394 §3.1). Names are upper-cased.
func (r *Reader) returnOpts() ([]string, *PartialRange, error) {
	opts := []string{}
	var partial *PartialRange
	all := false
	err := r.paramList(func(name string) error {
		if len(opts) == maxReturnOpts {
			return r.errorf("too many return options")
		}
		switch name {
		case "MIN", "MAX", "COUNT", "SAVE", "CONTEXT", "UPDATE":
		case "ALL":
			all = true
		case "PARTIAL":
			// RFC 5267 §4.4: at most one PARTIAL, and not with ALL.
			if partial != nil {
				return r.errorf("PARTIAL given twice")
			}
			if err := r.sp(); err != nil {
				return err
			}
			p, err := r.partialRange()
			if err != nil {
				return err
			}
			partial = &p
		default:
			return r.errorf("unknown return option %s", name)
		}
		opts = append(opts, name)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if all && partial != nil {
		return nil, nil, r.errorf("PARTIAL and ALL are exclusive") // RFC 5267 §4.4
	}
	return opts, partial, nil
}

// partialRange reads partial-range-first = nz-number ":" nz-number or
// partial-range-last = "-" nz-number ":" "-" nz-number (RFC 9394 §4).
func (r *Reader) partialRange() (PartialRange, error) {
	first, err := r.partialIndex()
	if err != nil {
		return PartialRange{}, err
	}
	if err := r.expect(':'); err != nil {
		return PartialRange{}, err
	}
	last, err := r.partialIndex()
	if err != nil {
		return PartialRange{}, err
	}
	if (first < 0) != (last < 0) {
		return PartialRange{}, r.errorf("PARTIAL range mixes signs")
	}
	return PartialRange{First: first, Last: last}, nil
}

// partialIndex reads ["-"] nz-number, at most 2^32-1 in magnitude.
func (r *Reader) partialIndex() (int64, error) {
	neg := r.peek() == '-'
	if neg {
		r.pos++
	}
	n, err := r.number()
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, r.errorf("PARTIAL positions start at 1")
	}
	if neg {
		return -int64(n), nil
	}
	return int64(n), nil
}

// CancelUpdateArgs are the tags of CANCELUPDATE (RFC 5267 §4.3.5).
type CancelUpdateArgs struct{ Tags []string }

// maxCancelTags bounds the tags of one CANCELUPDATE; a session has far
// fewer contexts than that.
const maxCancelTags = 64

// parseCancelUpdate reads "CANCELUPDATE" 1*(SP quoted) (RFC 5267 §5).
func parseCancelUpdate(r *Reader, _ *Command) (any, error) {
	a := &CancelUpdateArgs{}
	for len(a.Tags) == 0 || r.peek() == ' ' {
		if len(a.Tags) == maxCancelTags {
			return nil, r.errorf("too many tags")
		}
		if err := r.sp(); err != nil {
			return nil, err
		}
		t, err := r.quoted()
		if err != nil {
			return nil, err
		}
		a.Tags = append(a.Tags, string(t))
	}
	return a, nil
}

// peekWord reports whether the line continues with w, case-insensitively.
func (r *Reader) peekWord(w string) bool {
	return len(r.line)-r.pos >= len(w) && equalFold(string(r.line[r.pos:r.pos+len(w)]), w)
}

// searchKey reads one search-key.
func (r *Reader) searchKey(depth int) (SearchKey, error) {
	if depth > maxSearchDepth {
		return SearchKey{}, r.errorf("search program too deep")
	}
	switch c := r.peek(); {
	case c == '(':
		r.pos++
		k := SearchKey{Key: "AND"}
		for {
			sub, err := r.searchKey(depth + 1)
			if err != nil {
				return SearchKey{}, err
			}
			k.Sub = append(k.Sub, sub)
			if r.peek() == ')' {
				r.pos++
				return k, nil
			}
			if err := r.sp(); err != nil {
				return SearchKey{}, err
			}
		}
	case c >= '0' && c <= '9' || c == '*' || c == '$':
		set, err := r.seqSet()
		return SearchKey{Key: "SEQ", Set: set}, err
	}
	name, err := r.atom()
	if err != nil {
		return SearchKey{}, err
	}
	k := SearchKey{Key: upper(name)}
	switch k.Key {
	case "ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "NEW", "OLD", "RECENT",
		"SEEN", "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN":
		return k, nil
	case "BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO":
		err = r.searchString(&k)
	case "KEYWORD", "UNKEYWORD":
		if err = r.sp(); err == nil {
			k.Value, err = r.atom()
		}
	case "HEADER":
		if err = r.sp(); err == nil {
			if k.Field, err = r.astring(); err == nil {
				err = r.searchString(&k)
			}
		}
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE",
		"SAVEDBEFORE", "SAVEDON", "SAVEDSINCE":
		if err = r.sp(); err == nil {
			k.Date, err = r.date()
		}
	case "LARGER", "SMALLER", "OLDER", "YOUNGER":
		if err = r.sp(); err == nil {
			var n uint32
			n, err = r.number()
			k.Num = uint64(n)
		}
	case "SAVEDATESUPPORTED":
		return k, nil
	case "UID":
		if err = r.sp(); err == nil {
			k.Set, err = r.seqSet()
		}
	case "MODSEQ":
		err = r.modseqKey(&k)
	case "NOT":
		if err = r.sp(); err == nil {
			var sub SearchKey
			sub, err = r.searchKey(depth + 1)
			k.Sub = []SearchKey{sub}
		}
	case "OR":
		k.Sub = make([]SearchKey, 2)
		for i := range k.Sub {
			if err = r.sp(); err != nil {
				break
			}
			if k.Sub[i], err = r.searchKey(depth + 1); err != nil {
				break
			}
		}
	default:
		return SearchKey{}, r.errorf("unknown search key %s", name)
	}
	return k, err
}

func (r *Reader) searchString(k *SearchKey) error {
	if err := r.sp(); err != nil {
		return err
	}
	v, err := r.astring()
	k.Value = v
	return err
}

// modseqKey reads MODSEQ [SP entry-name SP entry-type-req] SP
// mod-sequence-valzer (RFC 7162 §3.1.5); the entry is accepted and ignored
// as we keep no per-flag modseqs.
func (r *Reader) modseqKey(k *SearchKey) error {
	if err := r.sp(); err != nil {
		return err
	}
	if r.peek() == '"' {
		if _, err := r.quoted(); err != nil {
			return err
		}
		if err := r.sp(); err != nil {
			return err
		}
		t, err := r.atom()
		if err != nil {
			return err
		}
		switch upper(t) {
		case "PRIV", "SHARED", "ALL":
		default:
			return r.errorf("bad MODSEQ entry type")
		}
		if err := r.sp(); err != nil {
			return err
		}
	}
	n, err := r.number64()
	k.Num = n
	return err
}
