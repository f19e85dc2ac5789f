package wire

// ThreadArgs are the arguments of THREAD and UID THREAD (RFC 5256 §3).
// Algorithm is upper-case, one of the algorithms we implement; Key is the
// search program, as in SearchArgs.
type ThreadArgs struct {
	Algorithm string // "ORDEREDSUBJECT" or "REFERENCES"
	Charset   string
	Key       SearchKey // Key "AND" of the program's keys
}

// parseThread reads THREAD SP thread-alg SP search-charset
// 1*(SP search-key) (RFC 5256 §4 grammar). An algorithm we do not
// implement is a syntax error (BAD): RFC 5256 §3 lets a client use only
// the ones advertised as THREAD= capabilities.
func parseThread(r *Reader, _ *Command) (any, error) {
	a := &ThreadArgs{Key: SearchKey{Key: "AND"}}
	if err := r.sp(); err != nil {
		return nil, err
	}
	alg, err := r.atom()
	if err != nil {
		return nil, err
	}
	a.Algorithm = upper(alg)
	switch a.Algorithm {
	case "ORDEREDSUBJECT", "REFERENCES":
	default:
		return nil, r.errorf("unknown thread algorithm %s", alg)
	}
	if err := r.sp(); err != nil {
		return nil, err
	}
	if a.Charset, err = r.charsetAndKeys(&a.Key); err != nil {
		return nil, err
	}
	return a, nil
}
