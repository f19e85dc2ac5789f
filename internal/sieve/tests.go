package sieve

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/youju/youju/internal/message"
)

// Message is the message a script looks at.
type Message struct {
	Data         []byte    // the whole message in CRLF form
	EnvelopeFrom string    // reverse-path, "" for the null sender
	EnvelopeTo   string    // the recipient address this delivery is for
	Now          time.Time // currentdate's time; zero: the clock
	hdr          *message.Header
	info         *message.Info
}

// NewMessage prepares data (CRLF form) for scripts.
func NewMessage(data []byte, from, to string) (*Message, error) {
	h, err := message.ReadHeader(data, message.HeaderLimits{})
	if err != nil {
		return nil, err
	}
	return &Message{Data: data, EnvelopeFrom: from, EnvelopeTo: to, hdr: h}, nil
}

// Header returns the decoded values of the fields named name (RFC 2047
// words and charsets to UTF-8, RFC 5228 §5.7: "the value of the header
// field after decoding"), leading and trailing blanks removed.
func (m *Message) Header(name string) []string {
	var out []string
	for i := range m.hdr.Fields {
		f := &m.hdr.Fields[i]
		if strings.EqualFold(f.Name, name) {
			out = append(out, strings.TrimSpace(message.DecodeHeader(unfold(f.Value))))
		}
	}
	return out
}

func (m *Message) rawHeader(name string) []string {
	var out []string
	for i := range m.hdr.Fields {
		f := &m.hdr.Fields[i]
		if strings.EqualFold(f.Name, name) {
			out = append(out, strings.TrimSpace(unfold(f.Value)))
		}
	}
	return out
}

func unfold(v []byte) string {
	v = bytes.TrimRight(v, "\r\n")
	s := strings.ReplaceAll(string(v), "\r\n", "")
	return strings.ReplaceAll(s, "\n", "")
}

func (m *Message) now() time.Time {
	if m.Now.IsZero() {
		return time.Now()
	}
	return m.Now
}

func (m *Message) parsed() *message.Info {
	if m.info == nil {
		m.info = message.Parse(m.Data)
	}
	return m.info
}

func (r *run) test(t *test) (bool, error) {
	if err := r.b.spend(1); err != nil {
		return false, err
	}
	switch t.kind {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "not":
		ok, err := r.test(t.sub[0])
		return !ok, err
	case "allof", "anyof":
		for _, s := range t.sub {
			ok, err := r.test(s)
			if err != nil {
				return false, err
			}
			if ok == (t.kind == "anyof") {
				return ok, nil
			}
		}
		return t.kind == "allof", nil
	case "exists":
		for _, n := range r.expandList(t.names) {
			if r.msg.hdr.Count(n) == 0 {
				return false, nil
			}
		}
		return true, nil
	case "size":
		size := int64(len(r.msg.Data))
		if t.over {
			return size > t.limit, nil
		}
		return size < t.limit, nil
	}
	values, err := r.values(t)
	if err != nil {
		return false, err
	}
	return r.matchValues(t, values)
}

// values collects the strings a match test compares with its keys.
func (r *run) values(t *test) ([]string, error) {
	var out []string
	switch t.kind {
	case "header":
		for _, n := range r.expandList(t.names) {
			out = append(out, r.msg.Header(n)...)
		}
	case "address":
		for _, n := range r.expandList(t.names) {
			for _, v := range r.msg.rawHeader(n) {
				for _, a := range message.ParseAddressList(v) {
					if a.Host == "" {
						continue // group markers
					}
					out = append(out, addressPart(a.Mailbox, a.Host, t.part))
				}
			}
		}
	case "envelope":
		for _, n := range r.expandList(t.names) {
			var addr string
			switch strings.ToLower(n) {
			case "from":
				addr = r.msg.EnvelopeFrom
			case "to":
				addr = r.msg.EnvelopeTo
			default:
				continue
			}
			if addr == "" {
				out = append(out, "") // RFC 5228 §5.4: the null reverse-path
				continue
			}
			local, domain := splitAddr(addr)
			out = append(out, addressPart(local, domain, t.part))
		}
	case "string":
		out = r.expandList(t.names)
	case "hasflag":
		if len(t.names) == 0 {
			out = r.flags
		} else {
			for _, n := range r.expandList(t.names) {
				out = append(out, parseFlags([]string{r.vars[strings.ToLower(n)]})...)
			}
		}
	case "body":
		return r.body(t)
	case "date", "currentdate":
		out = r.dateValues(t)
	}
	return out, nil
}

func splitAddr(a string) (string, string) {
	i := strings.LastIndexByte(a, '@')
	if i < 0 {
		return a, ""
	}
	return a[:i], a[i+1:]
}

// addressPart is RFC 5228 §2.7.4.
func addressPart(local, domain, part string) string {
	switch part {
	case "localpart":
		return local
	case "domain":
		return domain
	}
	if domain == "" || domain == message.MissingHost {
		return local
	}
	return local + "@" + domain
}

// matchValues is true when any value matches any key (RFC 5228 §2.7.1),
// or, for :count, when the number of values relates to a key (RFC 5231).
func (r *run) matchValues(t *test, values []string) (bool, error) {
	keys := r.expandList(t.keys)
	if t.kind == "hasflag" && t.m.typ != "count" {
		// RFC 5232 §2: a string of space-separated flags is the list of
		// them, so hasflag :is "b A" is hasflag ["b", "A"] (§4).
		keys = parseFlags(keys)
	}
	if t.m.typ == "count" {
		n := strconv.Itoa(len(values))
		for _, k := range keys {
			if relate(t.m.rel, compareNumeric(n, k)) {
				return true, nil
			}
		}
		return false, nil
	}
	var caps []string
	for _, v := range values {
		for _, k := range keys {
			var cp *[]string
			if t.m.typ == "matches" && r.req["variables"] {
				cp = &caps
			}
			ok, err := t.m.match(&r.b, v, k, cp)
			if err != nil {
				return false, err
			}
			if ok {
				if cp != nil {
					r.caps = slices10(caps)
				}
				return true, nil
			}
		}
	}
	return false, nil
}

func slices10(c []string) []string {
	if len(c) > 10 {
		c = c[:10]
	}
	return append([]string(nil), c...)
}
