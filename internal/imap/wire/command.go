// Package wire is the IMAP codec: a parser that reads client commands into
// typed values (RFC 9051 §9 grammar, with the RFC 3501 forms of IMAP4rev1)
// and a streaming writer for server responses. It knows nothing of the
// store; internal/imap/server maps commands onto it.
package wire

import "time"

// Command is one parsed client command. Name is upper-case ("FETCH"); for
// "UID FETCH" Name is "FETCH" and UID is set. Args holds the typed
// arguments (a pointer to one of the *Args types below), or nil for
// commands without arguments.
type Command struct {
	Tag  string
	Name string
	UID  bool
	Args any
	// NameErr is set when a mailbox name or LIST pattern is good syntax
	// but not an acceptable name (invalid modified UTF-7 or UTF-8, 8-bit
	// without UTF8=ACCEPT): RFC 3501 §7.1 keeps BAD for syntax, so the
	// server answers NO [CANNOT] with this text.
	NameErr string
}

// LoginArgs are the arguments of LOGIN (RFC 9051 §6.2.3).
type LoginArgs struct{ Username, Password string }

// AuthenticateArgs are the arguments of AUTHENTICATE (RFC 9051 §6.2.2).
// With SASL-IR (RFC 4959) the initial response may follow the mechanism:
// HasIR is set and InitialResponse holds it still base64-encoded ("=" is
// an empty response).
type AuthenticateArgs struct {
	Mechanism       string // upper-case
	InitialResponse string
	HasIR           bool
}

// EnableArgs are the capabilities named by ENABLE (RFC 5161), upper-cased.
type EnableArgs struct{ Caps []string }

// IDArgs are the field/value pairs of ID (RFC 2971); nil for "ID NIL".
// Values that are NIL are empty strings.
type IDArgs struct{ Params [][2]string }

// CompressArgs is the mechanism of COMPRESS (RFC 4978), upper-cased.
type CompressArgs struct{ Mechanism string }

// MailboxArgs name one mailbox: DELETE, SUBSCRIBE, UNSUBSCRIBE,
// GETQUOTAROOT. Mailbox is UTF-8 (modified UTF-7 decoded).
type MailboxArgs struct{ Mailbox string }

// CreateArgs are the arguments of CREATE with the USE parameter of
// CREATE-SPECIAL-USE (RFC 6154 §3).
type CreateArgs struct {
	Mailbox    string
	SpecialUse []string
}

// RenameArgs are the arguments of RENAME.
type RenameArgs struct{ From, To string }

// QResyncParams are the QRESYNC parameters of SELECT/EXAMINE (RFC 7162
// §3.2.5). KnownUIDs, SeqMatch and UIDMatch are optional.
type QResyncParams struct {
	UIDValidity uint32
	ModSeq      uint64
	KnownUIDs   *SeqSet
	SeqMatch    *SeqSet // known sequence numbers ...
	UIDMatch    *SeqSet // ... and their UIDs
}

// SelectArgs are the arguments of SELECT and EXAMINE, with the CONDSTORE
// (RFC 7162 §3.1.8) and QRESYNC parameters.
type SelectArgs struct {
	Mailbox   string
	CondStore bool
	QResync   *QResyncParams
}

// ListArgs are the arguments of LIST (with LIST-EXTENDED, RFC 5258, and
// LIST-STATUS, RFC 5819) and LSUB. Options are upper-cased.
type ListArgs struct {
	Reference   string
	Patterns    []string
	Extended    bool // selection options, several patterns or return options given
	SelectOpts  []string
	ReturnOpts  []string
	StatusItems []string // RETURN (STATUS (...))
	// Unmatchable is set when the reference or a pattern was not valid
	// modified UTF-7 and was left out of Patterns: such a pattern matches
	// no name, and when the reference is bad no pattern matches.
	Unmatchable bool
}

// StatusArgs are the arguments of STATUS; items are upper-cased.
type StatusArgs struct {
	Mailbox string
	Items   []string
}

// AppendMessage is one message of APPEND (MULTIAPPEND, RFC 3502, gives
// several). Date is zero when not given. A CATENATE message (RFC 4469)
// has Catenate set and no Data.
type AppendMessage struct {
	Flags    []string
	Date     time.Time
	Data     []byte
	Binary   bool // literal8 (BINARY, RFC 3516 §4.4)
	Catenate []CatPart
}

// CatPart is one part of a CATENATE message (RFC 4469 §5): TEXT data, or
// the IMAP URL of data the server already has.
type CatPart struct {
	URL    string // "" for a TEXT part
	Text   []byte
	Binary bool // TEXT sent as literal8
}

// AppendArgs are the arguments of APPEND.
type AppendArgs struct {
	Mailbox  string
	Messages []AppendMessage
}

// Section is the section of BODY[...] and BINARY[...] (RFC 9051 §6.4.5).
// Part is the part path ("1.2" = [1 2]); Specifier is "", "HEADER",
// "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT" or "MIME".
type Section struct {
	Part      []uint32
	Specifier string
	Fields    []string
}

// Partial is the <offset.count> of a section fetch (RFC 9051 §6.4.5).
type Partial struct {
	Offset uint32
	Count  uint32
}

// FetchItem is one fetch attribute. Name is upper-case: FLAGS, UID,
// INTERNALDATE, RFC822.SIZE, ENVELOPE, BODYSTRUCTURE, BODY (bare: the
// non-extensible body structure, or with Section), BINARY, BINARY.SIZE,
// RFC822, RFC822.HEADER, RFC822.TEXT, MODSEQ, SAVEDATE.
type FetchItem struct {
	Name    string
	Peek    bool
	Section *Section
	Partial *Partial
}

// FetchArgs are the arguments of FETCH, with the CONDSTORE/QRESYNC
// modifiers (RFC 7162 §3.1.4, §3.2.6).
type FetchArgs struct {
	Set             SeqSet
	Items           []FetchItem
	ChangedSince    uint64
	HasChangedSince bool
	Vanished        bool
}

// StoreOp is how STORE applies flags.
type StoreOp int

// Store operations.
const (
	StoreReplace StoreOp = iota
	StoreAdd
	StoreRemove
)

// StoreArgs are the arguments of STORE, with UNCHANGEDSINCE (RFC 7162
// §3.1.3).
type StoreArgs struct {
	Set               SeqSet
	Op                StoreOp
	Silent            bool
	Flags             []string
	UnchangedSince    uint64
	HasUnchangedSince bool
}

// CopyArgs are the arguments of COPY and MOVE.
type CopyArgs struct {
	Set     SeqSet
	Mailbox string
}

// ExpungeArgs are the arguments of UID EXPUNGE (RFC 9051 §6.4.9).
type ExpungeArgs struct{ Set SeqSet }

// SearchKey is one node of a search program (RFC 9051 §6.4.4). Key is
// upper-case: a key of the RFC ("SEEN", "FROM", "HEADER", "LARGER", ...),
// or "SEQ" (a sequence set), "AND" (a parenthesised list, and the whole
// program), "OR" (two Sub keys), "NOT" (one Sub key).
type SearchKey struct {
	Key   string
	Field string // HEADER field name
	Value string // string argument, raw bytes in the command's charset
	Num   uint64 // LARGER, SMALLER, MODSEQ, OLDER, YOUNGER
	Date  time.Time
	Set   SeqSet // SEQ and UID
	Sub   []SearchKey
}

// SearchArgs are the arguments of SEARCH, with ESEARCH return options
// (RFC 4731, RFC 9051 §6.4.4) upper-cased.
type SearchArgs struct {
	Charset   string
	Key       SearchKey // Key "AND" of the program's keys
	Return    []string
	HasReturn bool
	Partial   *PartialRange // the range of the PARTIAL return option (RFC 5267 §4.4)
}

// GetQuotaArgs is the quota root of GETQUOTA (RFC 9208 §4.2).
type GetQuotaArgs struct{ Root string }
