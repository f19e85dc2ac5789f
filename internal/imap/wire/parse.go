package wire

import (
	"strings"
	"time"
)

// ReadCommand reads and parses the next command. A *ParseError is a
// rejected command (the rest of it has been skipped unless Fatal); any
// other error is an I/O error of the connection.
func (r *Reader) ReadCommand() (*Command, error) {
	r.total = 0
	r.tag = ""
	r.nameErr = ""
	if err := r.readLine(); err != nil {
		return nil, r.framingError(err)
	}
	cmd, err := r.parseCommand()
	if err != nil {
		if pe, ok := err.(*ParseError); ok && !pe.Fatal {
			if serr := r.skipRest(); serr != nil {
				return nil, serr
			}
		}
		return nil, err
	}
	cmd.NameErr = r.nameErr
	if !r.eol() {
		err := r.errorf("unexpected %q at end of command", r.rest())
		if serr := r.skipRest(); serr != nil {
			return nil, serr
		}
		return nil, err
	}
	return cmd, nil
}

// skipRest discards the remainder of a rejected command. A synchronising
// literal at the end of the line was not sent (the client waits for "+");
// a non-synchronising one is read and dropped, within the limits.
func (r *Reader) skipRest() error {
	for {
		line := r.line
		if len(line) == 0 || line[len(line)-1] != '}' {
			return nil
		}
		open := strings.LastIndexByte(string(line), '{')
		if open < 0 {
			return nil
		}
		spec := string(line[open+1 : len(line)-1])
		if !strings.HasSuffix(spec, "+") {
			return nil
		}
		r.pos = open
		if _, _, err := r.literal(true); err != nil {
			if pe, ok := err.(*ParseError); ok {
				pe.Fatal = true
			}
			return err
		}
	}
}

func isTagChar(c byte) bool { return astringChar(c) && c != '+' }

func (r *Reader) parseCommand() (*Command, error) {
	tag, err := r.atomWhile(isTagChar)
	if err != nil {
		return nil, &ParseError{Msg: "missing or bad tag"}
	}
	r.tag = tag
	if err := r.sp(); err != nil {
		return nil, err
	}
	name, err := r.atom()
	if err != nil {
		return nil, err
	}
	cmd := &Command{Tag: tag, Name: upper(name)}
	if cmd.Name == "UID" {
		if err := r.sp(); err != nil {
			return nil, err
		}
		if name, err = r.atom(); err != nil {
			return nil, err
		}
		cmd.UID = true
		cmd.Name = upper(name)
		switch cmd.Name {
		case "FETCH", "STORE", "SEARCH", "SORT", "THREAD", "COPY", "MOVE", "EXPUNGE":
		default:
			return nil, r.errorf("unknown UID command %s", cmd.Name)
		}
	}
	p, ok := commandParsers[cmd.Name]
	if !ok {
		return nil, r.errorf("unknown command %s", cmd.Name)
	}
	if p == nil {
		return cmd, nil
	}
	cmd.Args, err = p(r, cmd)
	return cmd, err
}

type argParser func(r *Reader, cmd *Command) (any, error)

var commandParsers map[string]argParser

func init() {
	commandParsers = map[string]argParser{
		"CAPABILITY": nil, "NOOP": nil, "LOGOUT": nil, "STARTTLS": nil,
		"CHECK": nil, "CLOSE": nil, "UNSELECT": nil, "IDLE": nil, "NAMESPACE": nil,
		"EXPUNGE":      parseExpunge,
		"LOGIN":        parseLogin,
		"AUTHENTICATE": parseAuthenticate,
		"ENABLE":       parseEnable,
		"ID":           parseID,
		"COMPRESS":     parseCompress,
		"SELECT":       parseSelect,
		"EXAMINE":      parseSelect,
		"CREATE":       parseCreate,
		"DELETE":       parseMailboxArg,
		"SUBSCRIBE":    parseMailboxArg,
		"UNSUBSCRIBE":  parseMailboxArg,
		"GETQUOTAROOT": parseMailboxArg,
		"GETQUOTA":     parseGetQuota,
		"RENAME":       parseRename,
		"LIST":         parseList,
		"LSUB":         parseList,
		"STATUS":       parseStatus,
		"APPEND":       parseAppend,
		"FETCH":        parseFetch,
		"STORE":        parseStore,
		"COPY":         parseCopy,
		"MOVE":         parseCopy,
		"SEARCH":       parseSearch,
		"SORT":         parseSort,
		"THREAD":       parseThread,
		"CANCELUPDATE": parseCancelUpdate,
	}
}

func parseExpunge(r *Reader, cmd *Command) (any, error) {
	if !cmd.UID {
		return nil, nil
	}
	if err := r.sp(); err != nil {
		return nil, err
	}
	set, err := r.seqSet()
	return &ExpungeArgs{Set: set}, err
}

func parseLogin(r *Reader, _ *Command) (any, error) {
	var a LoginArgs
	var err error
	if err = r.sp(); err != nil {
		return nil, err
	}
	if a.Username, err = r.astring(); err != nil {
		return nil, err
	}
	if err = r.sp(); err != nil {
		return nil, err
	}
	a.Password, err = r.astring()
	return &a, err
}

func parseAuthenticate(r *Reader, _ *Command) (any, error) {
	if err := r.sp(); err != nil {
		return nil, err
	}
	mech, err := r.atom()
	if err != nil {
		return nil, err
	}
	a := &AuthenticateArgs{Mechanism: upper(mech)}
	if r.peek() == ' ' {
		// RFC 4959 §7: initial-response = base64 / "="
		r.pos++
		ir, err := r.atomWhile(func(c byte) bool {
			return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '='
		})
		if err != nil {
			return nil, err
		}
		a.InitialResponse, a.HasIR = ir, true
	}
	return a, nil
}

func parseEnable(r *Reader, _ *Command) (any, error) {
	a := &EnableArgs{}
	for r.peek() == ' ' || len(a.Caps) == 0 {
		if err := r.sp(); err != nil {
			return nil, err
		}
		c, err := r.atom()
		if err != nil {
			return nil, err
		}
		a.Caps = append(a.Caps, upper(c))
	}
	return a, nil
}

// parseID reads RFC 2971 §3.3: "(" string SP nstring *(SP string SP nstring) ")" / NIL.
func parseID(r *Reader, _ *Command) (any, error) {
	if err := r.sp(); err != nil {
		return nil, err
	}
	a := &IDArgs{}
	if r.peek() != '(' {
		if _, isNil, err := r.nstring(); err != nil || !isNil {
			return nil, r.errorf("expected ID parameter list or NIL")
		}
		return a, nil
	}
	r.pos++
	err := r.listItems(func() error {
		k, err := r.str(false)
		if err != nil {
			return err
		}
		if err := r.sp(); err != nil {
			return err
		}
		v, _, err := r.nstring()
		if err != nil {
			return err
		}
		if len(a.Params) >= 30 {
			return r.errorf("too many ID parameters") // RFC 2971 §3.3
		}
		a.Params = append(a.Params, [2]string{string(k), v})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

func parseCompress(r *Reader, _ *Command) (any, error) {
	if err := r.sp(); err != nil {
		return nil, err
	}
	m, err := r.atom()
	return &CompressArgs{Mechanism: upper(m)}, err
}

func parseMailboxArg(r *Reader, _ *Command) (any, error) {
	if err := r.sp(); err != nil {
		return nil, err
	}
	m, err := r.mailbox()
	return &MailboxArgs{Mailbox: m}, err
}

func parseGetQuota(r *Reader, _ *Command) (any, error) {
	if err := r.sp(); err != nil {
		return nil, err
	}
	root, err := r.astring()
	return &GetQuotaArgs{Root: root}, err
}

func parseRename(r *Reader, _ *Command) (any, error) {
	var a RenameArgs
	var err error
	if err = r.sp(); err != nil {
		return nil, err
	}
	if a.From, err = r.mailbox(); err != nil {
		return nil, err
	}
	if err = r.sp(); err != nil {
		return nil, err
	}
	a.To, err = r.mailbox()
	return &a, err
}

// parseCreate reads CREATE mailbox [SP "(" "USE" SP "(" use-attrs ")" ")"]
// (RFC 6154 §6).
func parseCreate(r *Reader, _ *Command) (any, error) {
	if err := r.sp(); err != nil {
		return nil, err
	}
	m, err := r.mailbox()
	if err != nil {
		return nil, err
	}
	a := &CreateArgs{Mailbox: m}
	if r.peek() != ' ' {
		return a, nil
	}
	r.pos++
	err = r.paramList(func(name string) error {
		if name != "USE" {
			return r.errorf("unknown CREATE parameter %s", name)
		}
		if err := r.sp(); err != nil {
			return err
		}
		a.SpecialUse, err = r.flagList()
		return err
	})
	return a, err
}

// paramList reads "(" name [args] *(SP name [args]) ")", calling fn with
// each upper-cased name to read its arguments.
func (r *Reader) paramList(fn func(name string) error) error {
	if err := r.expect('('); err != nil {
		return err
	}
	return r.listItems(func() error {
		name, err := r.atom()
		if err != nil {
			return err
		}
		return fn(upper(name))
	})
}

// parseSelect reads SELECT/EXAMINE mailbox [SP "(" select-param ... ")"]
// with CONDSTORE (RFC 7162 §3.1.8) and QRESYNC (§3.2.5).
func parseSelect(r *Reader, _ *Command) (any, error) {
	if err := r.sp(); err != nil {
		return nil, err
	}
	m, err := r.mailbox()
	if err != nil {
		return nil, err
	}
	a := &SelectArgs{Mailbox: m}
	if r.peek() != ' ' {
		return a, nil
	}
	r.pos++
	err = r.paramList(func(name string) error {
		switch name {
		case "CONDSTORE":
			a.CondStore = true
			return nil
		case "QRESYNC":
			if err := r.sp(); err != nil {
				return err
			}
			q, err := r.qresyncParams()
			a.QResync = q
			return err
		}
		return r.errorf("unknown SELECT parameter %s", name)
	})
	return a, err
}

// qresyncParams reads "(" uidvalidity SP mod-sequence-value [SP
// known-uids] [SP seq-match-data] ")" (RFC 7162 §7).
func (r *Reader) qresyncParams() (*QResyncParams, error) {
	q := &QResyncParams{}
	var err error
	if err = r.expect('('); err != nil {
		return nil, err
	}
	if q.UIDValidity, err = r.number(); err != nil {
		return nil, err
	}
	if q.UIDValidity == 0 {
		return nil, r.errorf("UIDVALIDITY must be non-zero")
	}
	if err = r.sp(); err != nil {
		return nil, err
	}
	if q.ModSeq, err = r.number64(); err != nil {
		return nil, err
	}
	if r.peek() == ' ' && r.pos+1 < len(r.line) && r.line[r.pos+1] != '(' {
		r.pos++
		set, err := r.seqSet()
		if err != nil {
			return nil, err
		}
		q.KnownUIDs = &set
	}
	if r.peek() == ' ' {
		r.pos++
		if err = r.expect('('); err != nil {
			return nil, err
		}
		seqs, err := r.seqSet()
		if err != nil {
			return nil, err
		}
		if err = r.sp(); err != nil {
			return nil, err
		}
		uids, err := r.seqSet()
		if err != nil {
			return nil, err
		}
		if err = r.expect(')'); err != nil {
			return nil, err
		}
		q.SeqMatch, q.UIDMatch = &seqs, &uids
	}
	return q, r.expect(')')
}

func isListChar(c byte) bool { return astringChar(c) || c == '%' || c == '*' }

// parseList reads LIST/LSUB: [SP "(" selection-opts ")"] SP reference SP
// (pattern / "(" patterns ")") [SP RETURN "(" return-opts ")"] (RFC 5258
// §3, RFC 5819 §2).
func parseList(r *Reader, cmd *Command) (any, error) {
	a := &ListArgs{}
	if err := r.sp(); err != nil {
		return nil, err
	}
	if r.peek() == '(' && cmd.Name == "LIST" {
		a.Extended = true
		opts, err := r.atomList()
		if err != nil {
			return nil, err
		}
		a.SelectOpts = opts
		if err := r.sp(); err != nil {
			return nil, err
		}
	}
	ref, refOK, err := r.mailboxPattern()
	if err != nil {
		return nil, err
	}
	a.Reference = ref
	if err := r.sp(); err != nil {
		return nil, err
	}
	if r.peek() == '(' && cmd.Name == "LIST" {
		a.Extended = true
		r.pos++
		err := r.listItems(func() error {
			p, ok, err := r.mailboxPattern()
			if err != nil {
				return err
			}
			if ok {
				a.Patterns = append(a.Patterns, p)
			}
			a.Unmatchable = a.Unmatchable || !ok
			return nil
		})
		if err != nil {
			return nil, err
		}
	} else {
		p, ok, err := r.mailboxPattern()
		if err != nil {
			return nil, err
		}
		if ok {
			a.Patterns = []string{p}
		}
		a.Unmatchable = !ok
	}
	if !refOK {
		a.Patterns, a.Unmatchable = nil, true
	}
	if r.peek() == ' ' && cmd.Name == "LIST" {
		r.pos++
		kw, err := r.atom()
		if err != nil || upper(kw) != "RETURN" {
			return nil, r.errorf("expected RETURN")
		}
		a.Extended = true
		if err := r.sp(); err != nil {
			return nil, err
		}
		err = r.paramList(func(name string) error {
			a.ReturnOpts = append(a.ReturnOpts, name)
			if name == "STATUS" {
				if err := r.sp(); err != nil {
					return err
				}
				items, err := r.atomList()
				a.StatusItems = items
				return err
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

// mailboxPattern reads a list-mailbox (or the reference): 1*list-char or a
// string, decoded like a mailbox name (wildcards are ASCII and survive).
// ok is false for a pattern that can match no name (decodeMailbox).
func (r *Reader) mailboxPattern() (p string, ok bool, err error) {
	var s string
	if c := r.peek(); c == '"' || c == '{' {
		var b []byte
		b, err = r.str(false)
		s = string(b)
	} else {
		s, err = r.atomWhile(isListChar)
	}
	if err != nil {
		return "", false, err
	}
	p, ok = r.decodeMailbox(s, true)
	return p, ok, nil
}

// atomList reads "(" [atom *(SP atom)] ")", upper-casing.
func (r *Reader) atomList() ([]string, error) {
	var out []string
	err := r.paramList(func(name string) error {
		out = append(out, name)
		return nil
	})
	return out, err
}

func parseStatus(r *Reader, _ *Command) (any, error) {
	if err := r.sp(); err != nil {
		return nil, err
	}
	m, err := r.mailbox()
	if err != nil {
		return nil, err
	}
	if err := r.sp(); err != nil {
		return nil, err
	}
	items, err := r.atomList()
	if err == nil && len(items) == 0 {
		err = r.errorf("STATUS needs at least one item")
	}
	return &StatusArgs{Mailbox: m, Items: items}, err
}

// parseAppend reads APPEND mailbox 1*(SP [flag-list SP] [date-time SP]
// append-data) (RFC 9051 §6.3.12, MULTIAPPEND RFC 3502 §6), where
// append-data is a literal, a literal8 (RFC 3516 §4.4), UTF8 (literal8)
// (RFC 6855 §4) or CATENATE (...) (RFC 4469 §5).
func parseAppend(r *Reader, _ *Command) (any, error) {
	if err := r.sp(); err != nil {
		return nil, err
	}
	m, err := r.mailbox()
	if err != nil {
		return nil, err
	}
	a := &AppendArgs{Mailbox: m}
	// A MULTIAPPEND is stored as one batch, so all its messages are held
	// at once: their count and total size are bounded, not only each
	// message (APPENDLIMIT, RFC 7889).
	room := MaxAppendTotal * r.maxLiteral()
	for r.peek() == ' ' {
		r.pos++
		if len(a.Messages) == MaxAppendMessages {
			return nil, r.errorf("more than %d messages in one APPEND", MaxAppendMessages)
		}
		var msg AppendMessage
		if r.peek() == '(' {
			if msg.Flags, err = r.flagList(); err != nil {
				return nil, err
			}
			if err := r.sp(); err != nil {
				return nil, err
			}
		}
		if r.peek() == '"' {
			if msg.Date, err = r.dateTime(); err != nil {
				return nil, err
			}
			if err := r.sp(); err != nil {
				return nil, err
			}
		}
		if err := r.appendData(&msg, room); err != nil {
			return nil, err
		}
		room -= int64(len(msg.Data))
		a.Messages = append(a.Messages, msg)
	}
	if len(a.Messages) == 0 {
		return nil, r.errorf("APPEND needs a message")
	}
	return a, nil
}

// MaxAppendMessages and MaxAppendTotal (in APPEND message limits) bound
// one MULTIAPPEND (RFC 3502).
const (
	MaxAppendMessages = 1000
	MaxAppendTotal    = 2
)

// appendData reads the append-data of one message, of at most room
// octets besides the message limit.
func (r *Reader) appendData(msg *AppendMessage, room int64) (err error) {
	if r.peekWord("CATENATE (") {
		r.pos += len("CATENATE (")
		msg.Catenate, err = r.catParts()
		return err
	}
	// RFC 6855 §4: UTF8 "(" literal8 ")" carries a UTF-8 message.
	utf8Data := r.peekWord("UTF8 (")
	if utf8Data {
		r.pos += len("UTF8 (")
		if !r.UTF8 {
			return r.errorf("UTF8 data needs ENABLE UTF8=ACCEPT")
		}
	}
	if c := r.peek(); c != '{' && c != '~' {
		return r.errorf("expected message literal")
	}
	if msg.Data, msg.Binary, err = r.literalWithin(true, min(room, r.maxLiteral())); err != nil {
		return err
	}
	if utf8Data {
		return r.expect(')')
	}
	return nil
}

// MaxCatParts bounds the parts of one CATENATE message: each URL part is a
// lookup in the store.
const MaxCatParts = 100

// catParts reads cat-part *(SP cat-part) ")" after "CATENATE (" (RFC 4469
// §5): "TEXT" SP literal, or "URL" SP astring. A TEXT part may also be a
// literal8, as with BINARY (RFC 3516 §4.4). The TEXT parts of a message
// share the APPEND message limit, since the message they build cannot be
// larger.
func (r *Reader) catParts() ([]CatPart, error) {
	var parts []CatPart
	room := r.maxLiteral()
	err := r.listItems(func() error {
		if len(parts) == MaxCatParts {
			return r.errorf("more than %d CATENATE parts", MaxCatParts)
		}
		kind, err := r.atom()
		if err != nil {
			return err
		}
		if err := r.sp(); err != nil {
			return err
		}
		var p CatPart
		switch upper(kind) {
		case "TEXT":
			if c := r.peek(); c != '{' && c != '~' {
				return r.errorf("CATENATE TEXT needs a literal")
			}
			if p.Text, p.Binary, err = r.literalWithin(true, room); err != nil {
				return err
			}
			room -= int64(len(p.Text))
		case "URL":
			if p.URL, err = r.astring(); err != nil {
				return err
			}
		default:
			return r.errorf("unknown CATENATE part %q", kind)
		}
		parts = append(parts, p)
		return nil
	})
	if err == nil && len(parts) == 0 {
		err = r.errorf("CATENATE needs a part")
	}
	return parts, err
}

// dateTime reads a quoted date-time: "dd-Mon-yyyy hh:mm:ss +zzzz"
// (RFC 9051 §9; the day may have a leading space).
func (r *Reader) dateTime() (time.Time, error) {
	b, err := r.quoted()
	if err != nil {
		return time.Time{}, err
	}
	s := strings.TrimLeft(string(b), " ")
	t, err := time.Parse("2-Jan-2006 15:04:05 -0700", s)
	if err != nil {
		return time.Time{}, r.errorf("bad date-time %q", string(b))
	}
	return t, nil
}

// date reads a search date: date-text or "date-text" (RFC 9051 §9).
func (r *Reader) date() (time.Time, error) {
	var s string
	var err error
	if r.peek() == '"' {
		var b []byte
		b, err = r.quoted()
		s = string(b)
	} else {
		s, err = r.atom()
	}
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse("2-Jan-2006", s)
	if err != nil {
		return time.Time{}, r.errorf("bad date %q", s)
	}
	return t, nil
}

func parseCopy(r *Reader, _ *Command) (any, error) {
	if err := r.sp(); err != nil {
		return nil, err
	}
	set, err := r.seqSet()
	if err != nil {
		return nil, err
	}
	if err := r.sp(); err != nil {
		return nil, err
	}
	m, err := r.mailbox()
	return &CopyArgs{Set: set, Mailbox: m}, err
}

// parseStore reads STORE sequence-set [SP "(" UNCHANGEDSINCE n ")"] SP
// ["+"/"-"] "FLAGS" [".SILENT"] SP (flag-list / flag *(SP flag))
// (RFC 9051 §6.4.6, RFC 7162 §3.1.3).
func parseStore(r *Reader, _ *Command) (any, error) {
	a := &StoreArgs{}
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
		err = r.paramList(func(name string) error {
			if name != "UNCHANGEDSINCE" {
				return r.errorf("unknown STORE modifier %s", name)
			}
			if err := r.sp(); err != nil {
				return err
			}
			a.UnchangedSince, err = r.number64()
			a.HasUnchangedSince = true
			return err
		})
		if err != nil {
			return nil, err
		}
		if err = r.sp(); err != nil {
			return nil, err
		}
	}
	switch r.peek() {
	case '+':
		a.Op = StoreAdd
		r.pos++
	case '-':
		a.Op = StoreRemove
		r.pos++
	}
	item, err := r.atom()
	if err != nil {
		return nil, err
	}
	switch upper(item) {
	case "FLAGS":
	case "FLAGS.SILENT":
		a.Silent = true
	default:
		return nil, r.errorf("expected FLAGS")
	}
	if err = r.sp(); err != nil {
		return nil, err
	}
	if r.peek() == '(' {
		a.Flags, err = r.flagList()
		return a, err
	}
	for {
		f, err := r.flag()
		if err != nil {
			return nil, err
		}
		a.Flags = append(a.Flags, f)
		if r.peek() != ' ' {
			return a, nil
		}
		r.pos++
	}
}
