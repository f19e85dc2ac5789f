package wire

import (
	"bufio"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// IMAPURL is an IMAP URL that names a message or a part of one (RFC 5092
// §2, the "imessagepart" form), as CATENATE uses it (RFC 4469 §3).
type IMAPURL struct {
	// User and Host are those of an absolute URL ("imap://user@host/..."),
	// both "" for a path-absolute one ("/INBOX;UIDVALIDITY=..."). User is
	// percent-decoded; an ";AUTH=" mechanism is dropped.
	User, Host string
	// Mailbox is UTF-8 (RFC 5092 §3.3), "INBOX" in any case is INBOX; ""
	// for a URL relative to the selected mailbox (";UID=20", RFC 4469 §3).
	Mailbox string
	// UIDValidity is 0 when the URL has none (RFC 5092 allows that).
	UIDValidity uint32
	UID         uint32
	// Section is nil for the whole message; else as in BODY[section].
	Section *Section
	// Partial is set for ";PARTIAL=offset[.count]"; Count 0 is "to the end".
	Partial *Partial
}

// errURL is the one error of ParseIMAPURL: the server answers any bad
// URL with the same NO [BADURL] (RFC 4469 §5).
var errURL = errors.New("imap: not an IMAP message URL")

// maxURL bounds the length of a URL that is parsed.
const maxURL = 8192

// ParseIMAPURL parses an IMAP URL that names a message or part (RFC 5092
// §11 imessagepart): absolute, path-absolute, or relative to the selected
// mailbox (starting with ";UID="; RFC 4469 §3 takes "imap://user@server/
// mailbox/" as the base then). URLAUTH and EXPIRE (RFC 4467) are not
// supported and make the URL invalid, as does anything else this parser
// does not fully understand.
func ParseIMAPURL(s string) (*IMAPURL, error) {
	if len(s) > maxURL {
		return nil, errURL
	}
	u := &IMAPURL{}
	if len(s) >= 5 && equalFold(s[:5], ";UID=") {
		if err := u.parseParams(strings.SplitN(s[1:], ";", 5)); err != nil {
			return nil, err
		}
		return u, nil
	}
	path := s
	if len(s) >= 7 && equalFold(s[:7], "imap://") {
		rest := s[7:]
		end := strings.IndexByte(rest, '/')
		if end < 0 {
			return nil, errURL
		}
		if err := u.parseServer(rest[:end]); err != nil {
			return nil, err
		}
		path = rest[end:]
	}
	if !strings.HasPrefix(path, "/") {
		return nil, errURL
	}
	if err := u.parsePath(path[1:]); err != nil {
		return nil, err
	}
	return u, nil
}

// parseServer reads iserver: [enc-user [";AUTH=" mech] "@"] host [":" port].
func (u *IMAPURL) parseServer(s string) error {
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		user := s[:at]
		if i := indexFold(user, ";AUTH="); i >= 0 {
			user = user[:i]
		}
		var ok bool
		if u.User, ok = unescapeURL(user); !ok || u.User == "" {
			return errURL
		}
		s = s[at+1:]
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.HasSuffix(s, "]") {
		if _, err := strconv.ParseUint(s[i+1:], 10, 16); err != nil {
			return errURL
		}
		s = s[:i]
	}
	if s == "" {
		return errURL
	}
	u.Host = strings.ToLower(s)
	return nil
}

// parsePath reads enc-mailbox [";UIDVALIDITY=" n] "/;UID=" n
// ["/;SECTION=" enc-section] ["/;PARTIAL=" range]. Every parameter starts
// with ";", which cannot appear unescaped in a mailbox name or section
// (RFC 5092 §11 achar). The "/" before a parameter is optional here: RFC
// 2192 clients and RFC 4469's own examples differ on it, and it changes
// nothing.
func (u *IMAPURL) parsePath(s string) error {
	params := strings.SplitN(s, ";", 6)
	mbox, ok := unescapeURL(strings.TrimSuffix(params[0], "/"))
	if !ok || mbox == "" || !utf8.ValidString(mbox) {
		return errURL
	}
	if equalFold(mbox, "INBOX") {
		mbox = "INBOX"
	}
	u.Mailbox = mbox
	return u.parseParams(params[1:])
}

// parseParams reads the ";"-separated parameters after the mailbox.
func (u *IMAPURL) parseParams(params []string) error {
	if len(params) > 4 { // UIDVALIDITY, UID, SECTION, PARTIAL
		return errURL
	}
	for _, p := range params {
		key, val, found := strings.Cut(p, "=")
		if !found {
			return errURL
		}
		if err := u.param(upper(key), strings.TrimSuffix(val, "/")); err != nil {
			return err
		}
	}
	if u.UID == 0 {
		return errURL
	}
	return nil
}

// param applies one ";KEY=value" of the path, in the order RFC 5092
// gives them; a repeated or misplaced parameter is an error.
func (u *IMAPURL) param(key, val string) error {
	var err error
	switch {
	case key == "UIDVALIDITY" && u.UIDValidity == 0 && u.UID == 0:
		u.UIDValidity, err = nzNumber(val)
	case key == "UID" && u.UID == 0:
		u.UID, err = nzNumber(val)
	case key == "SECTION" && u.UID != 0 && u.Section == nil && u.Partial == nil:
		err = u.parseSection(val)
	case key == "PARTIAL" && u.UID != 0 && u.Partial == nil:
		err = u.parsePartial(val)
	default:
		err = errURL
	}
	return err
}

// parseSection reads enc-section, a percent-encoded IMAP section-spec
// (RFC 5092 §11), with the FETCH section parser.
func (u *IMAPURL) parseSection(val string) error {
	sec, ok := unescapeURL(val)
	if !ok || sec == "" || len(sec) > 1024 {
		return errURL
	}
	r := NewReader(bufio.NewReader(strings.NewReader("")))
	r.line = []byte("[" + sec + "]")
	s, err := r.section(false)
	if err != nil || !r.eol() {
		return errURL
	}
	u.Section = s
	return nil
}

// parsePartial reads partial-range = number ["." nz-number].
func (u *IMAPURL) parsePartial(val string) error {
	off, count, hasCount := strings.Cut(val, ".")
	o, err := strconv.ParseUint(off, 10, 32)
	if err != nil || off == "" || off[0] == '+' {
		return errURL
	}
	p := &Partial{Offset: uint32(o)}
	if hasCount {
		if p.Count, err = nzNumber(count); err != nil {
			return err
		}
	}
	u.Partial = p
	return nil
}

func nzNumber(s string) (uint32, error) {
	if s == "" || s[0] < '1' || s[0] > '9' {
		return 0, errURL
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, errURL
	}
	return uint32(n), nil
}

// unescapeURL undoes percent-encoding (RFC 3986 §2.1). It refuses bad
// escapes and control characters, which no mailbox name or section has.
func unescapeURL(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) || !isHexDigit(s[i+1]) || !isHexDigit(s[i+2]) {
				return "", false
			}
			v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			c = byte(v)
			i += 2
		}
		if c < 0x20 || c == 0x7f {
			return "", false
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// indexFold is strings.Index without regard to ASCII case.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if equalFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}
