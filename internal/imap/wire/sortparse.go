package wire

// SortKey is one sort-criterion of SORT (RFC 5256 §3): Key is upper-case,
// one of ARRIVAL, CC, DATE, FROM, SIZE, SUBJECT, TO, or DISPLAYFROM,
// DISPLAYTO (RFC 5957 §3). Reverse applies to this key only.
type SortKey struct {
	Key     string
	Reverse bool
}

// SortArgs are the arguments of SORT and UID SORT (RFC 5256 §3). The
// charset is mandatory in SORT; Key is the search program, as in
// SearchArgs.
type SortArgs struct {
	Keys    []SortKey
	Charset string
	Key     SearchKey // Key "AND" of the program's keys
	// Return are the return options of the extended SORT (ESORT, RFC 5267
	// §3), as in SearchArgs; HasReturn tells "RETURN ()" from no RETURN.
	Return    []string
	HasReturn bool
	Partial   *PartialRange
}

// parseSort reads SORT [SP "RETURN" SP return-opts] SP sort-criteria SP
// charset 1*(SP search-key) (RFC 5256 §4, RFC 5267 §5 extended-sort).
func parseSort(r *Reader, _ *Command) (any, error) {
	a := &SortArgs{Key: SearchKey{Key: "AND"}}
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
	keys, err := r.sortCriteria()
	if err != nil {
		return nil, err
	}
	a.Keys = keys
	if err := r.sp(); err != nil {
		return nil, err
	}
	if a.Charset, err = r.charsetAndKeys(&a.Key); err != nil {
		return nil, err
	}
	return a, nil
}

// charsetAndKeys reads the charset and the search keys that end SORT and
// THREAD (RFC 5256 §4: charset SP 1*(SP search-key)), ANDed into key. The
// keys are bounded by the line and literal limits, and each loop reads at
// least one key.
func (r *Reader) charsetAndKeys(key *SearchKey) (string, error) {
	cs, err := r.astring()
	if err != nil {
		return "", err
	}
	for {
		if err := r.sp(); err != nil {
			return "", err
		}
		k, err := r.searchKey(0)
		if err != nil {
			return "", err
		}
		key.Sub = append(key.Sub, k)
		if r.peek() != ' ' {
			return upper(cs), nil
		}
	}
}

// maxSortKeys bounds the criteria list; there are only nine keys, so a
// longer list repeats itself.
const maxSortKeys = 16

// sortCriteria reads "(" sort-criterion *(SP sort-criterion) ")" where
// sort-criterion = ["REVERSE" SP] sort-key (RFC 5256 §4).
func (r *Reader) sortCriteria() ([]SortKey, error) {
	if err := r.expect('('); err != nil {
		return nil, err
	}
	var keys []SortKey
	for {
		if len(keys) > 0 {
			if r.peek() == ')' {
				r.pos++
				return keys, nil
			}
			if err := r.sp(); err != nil {
				return nil, err
			}
		}
		if len(keys) == maxSortKeys {
			return nil, r.errorf("too many sort criteria")
		}
		name, err := r.atom()
		if err != nil {
			return nil, err
		}
		k := SortKey{Key: upper(name)}
		if k.Key == "REVERSE" {
			if err := r.sp(); err != nil {
				return nil, err
			}
			if name, err = r.atom(); err != nil {
				return nil, err
			}
			k = SortKey{Key: upper(name), Reverse: true}
		}
		switch k.Key {
		case "ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO":
		default:
			return nil, r.errorf("unknown sort key %s", name)
		}
		keys = append(keys, k)
	}
}
