package wire

import (
	"strconv"
	"strings"
)

// parseFetch reads FETCH sequence-set SP ("ALL" / "FULL" / "FAST" /
// fetch-att / "(" fetch-att *(SP fetch-att) ")") [SP "(" modifiers ")"]
// (RFC 9051 §6.4.5, RFC 7162 §3.1.4 CHANGEDSINCE, §3.2.6 VANISHED).
func parseFetch(r *Reader, cmd *Command) (any, error) {
	a := &FetchArgs{}
	var err error
	if err = r.sp(); err != nil {
		return nil, err
	}
	if a.Set, err = r.seqSet(); err != nil {
		return nil, err
	}
	if err = r.sp(); err != nil {
		return nil, err
	}
	if r.peek() == '(' {
		r.pos++
		err := r.listItems(func() error {
			it, err := r.fetchAtt()
			if err != nil {
				return err
			}
			a.Items = append(a.Items, it)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(a.Items) == 0 {
			return nil, r.errorf("empty fetch attribute list")
		}
	} else {
		save := r.pos
		name, err := r.atom()
		if err != nil {
			return nil, err
		}
		// RFC 9051 §6.4.5 macros.
		switch upper(name) {
		case "ALL":
			a.Items = items("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE")
		case "FAST":
			a.Items = items("FLAGS", "INTERNALDATE", "RFC822.SIZE")
		case "FULL":
			a.Items = items("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY")
		default:
			r.pos = save
			it, err := r.fetchAtt()
			if err != nil {
				return nil, err
			}
			a.Items = []FetchItem{it}
		}
	}
	if r.peek() == ' ' {
		r.pos++
		err = r.paramList(func(name string) error {
			switch name {
			case "CHANGEDSINCE":
				if err := r.sp(); err != nil {
					return err
				}
				var err error
				a.ChangedSince, err = r.number64()
				a.HasChangedSince = true
				return err
			case "VANISHED":
				if !cmd.UID {
					return r.errorf("VANISHED needs UID FETCH") // RFC 7162 §3.2.6
				}
				a.Vanished = true
				return nil
			}
			return r.errorf("unknown FETCH modifier %s", name)
		})
		if err != nil {
			return nil, err
		}
		if a.Vanished && !a.HasChangedSince {
			return nil, r.errorf("VANISHED needs CHANGEDSINCE")
		}
	}
	return a, nil
}

func items(names ...string) []FetchItem {
	out := make([]FetchItem, len(names))
	for i, n := range names {
		out[i] = FetchItem{Name: n}
	}
	return out
}

func isFetchNameChar(c byte) bool { return isAtomChar(c) && c != '[' && c != '<' }

// fetchAtt reads one fetch-att.
func (r *Reader) fetchAtt() (FetchItem, error) {
	name, err := r.atomWhile(isFetchNameChar)
	if err != nil {
		return FetchItem{}, err
	}
	it := FetchItem{Name: upper(name)}
	switch it.Name {
	case "FLAGS", "UID", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODYSTRUCTURE",
		"RFC822", "RFC822.HEADER", "RFC822.TEXT", "MODSEQ", "SAVEDATE":
		return it, nil
	case "BODY":
		if r.peek() != '[' {
			return it, nil
		}
	case "BODY.PEEK":
		it.Name, it.Peek = "BODY", true
		if r.peek() != '[' {
			return FetchItem{}, r.errorf("BODY.PEEK needs a section")
		}
	case "BINARY", "BINARY.SIZE":
	case "BINARY.PEEK":
		it.Name, it.Peek = "BINARY", true
	default:
		return FetchItem{}, r.errorf("unknown fetch attribute %s", name)
	}
	binary := it.Name != "BODY"
	if it.Section, err = r.section(binary); err != nil {
		return FetchItem{}, err
	}
	if r.peek() == '<' && it.Name != "BINARY.SIZE" {
		if it.Partial, err = r.partial(); err != nil {
			return FetchItem{}, err
		}
	}
	return it, nil
}

// section reads "[" section-spec "]"; a BINARY section is a part path only
// (RFC 3516 §4.3).
func (r *Reader) section(binary bool) (*Section, error) {
	if err := r.expect('['); err != nil {
		return nil, err
	}
	s := &Section{}
	for r.peek() >= '1' && r.peek() <= '9' {
		n, err := r.number()
		if err != nil || n == 0 {
			return nil, r.errorf("bad section part")
		}
		s.Part = append(s.Part, n)
		if r.peek() != '.' {
			break
		}
		r.pos++
	}
	if r.peek() != ']' {
		if binary {
			return nil, r.errorf("BINARY section is a part number")
		}
		spec, err := r.atom()
		if err != nil {
			return nil, err
		}
		s.Specifier = upper(spec)
		switch s.Specifier {
		case "HEADER", "TEXT":
		case "MIME":
			if len(s.Part) == 0 {
				return nil, r.errorf("MIME needs a part number")
			}
		case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
			if err := r.sp(); err != nil {
				return nil, err
			}
			if err := r.expect('('); err != nil {
				return nil, err
			}
			err := r.listItems(func() error {
				f, err := r.astring()
				if err != nil {
					return err
				}
				s.Fields = append(s.Fields, upper(f))
				return nil
			})
			if err != nil {
				return nil, err
			}
			if len(s.Fields) == 0 {
				return nil, r.errorf("empty header list")
			}
		default:
			return nil, r.errorf("unknown section %s", spec)
		}
	}
	return s, r.expect(']')
}

// partial reads "<" number "." nz-number ">"; RFC 3501 clients may also
// send "<" number ">" in responses only, so the count is required here.
func (r *Reader) partial() (*Partial, error) {
	r.pos++
	off, err := r.number()
	if err != nil {
		return nil, err
	}
	if err := r.expect('.'); err != nil {
		return nil, err
	}
	n, err := r.number()
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, r.errorf("partial count must be non-zero")
	}
	return &Partial{Offset: off, Count: n}, r.expect('>')
}

// String formats the section as in a FETCH response: "1.2.HEADER.FIELDS
// (FROM TO)" without the brackets.
func (s *Section) String() string {
	var b strings.Builder
	for i, p := range s.Part {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.FormatUint(uint64(p), 10))
	}
	if s.Specifier != "" {
		if len(s.Part) > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.Specifier)
	}
	if len(s.Fields) > 0 {
		b.WriteString(" (")
		for i, f := range s.Fields {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(f)
		}
		b.WriteByte(')')
	}
	return b.String()
}
