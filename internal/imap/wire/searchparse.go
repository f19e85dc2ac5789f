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
		opts, err := r.atomList()
		if err != nil {
			return nil, err
		}
		for _, o := range opts {
			switch o {
			case "MIN", "MAX", "ALL", "COUNT", "SAVE":
			default:
				return nil, r.errorf("unknown SEARCH return option %s", o)
			}
		}
		a.Return, a.HasReturn = opts, true
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
