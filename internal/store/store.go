// Package store defines the mail store: accounts, domains, aliases, mailboxes
// and messages, as one interface that the protocol front-ends (SMTP, IMAP,
// POP3, web) share. Backends live in sub-packages (store/sqlite is the
// embedded default). The store knows nothing of wire syntax.
//
// Every method that touches mail is scoped to an account: isolation between
// accounts is a property of the interface, not of the callers.
package store

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors returned by every backend. Callers compare with errors.Is.
var (
	ErrNotFound      = errors.New("store: not found")
	ErrExists        = errors.New("store: already exists")
	ErrQuotaExceeded = errors.New("store: quota exceeded")
	ErrInvalidName   = errors.New("store: invalid name")
	// ErrSpecialMailbox is returned when deleting or renaming INBOX.
	ErrSpecialMailbox = errors.New("store: operation not allowed on this mailbox")
	// ErrHasChildren is returned by DeleteMailbox for a mailbox with children
	// that has \Noselect semantics; see RFC 9051 §6.3.4.
	ErrHasChildren = errors.New("store: mailbox has inferior hierarchical names")
	// ErrTooLarge is returned when a message exceeds the configured limit.
	ErrTooLarge = errors.New("store: message too large")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("store: closed")
	// ErrExpunged is returned by CopyMessages with CopyOptions.Exact when a
	// message of the set is gone, neither present nor retained (IMAP
	// answers NO [EXPUNGEISSUED], RFC 5530 §3).
	ErrExpunged = errors.New("store: message expunged")
)

// AccountID identifies an account. Positive, never reused.
type AccountID int64

// MailboxID identifies a mailbox. Positive, never reused.
type MailboxID int64

// UID is an IMAP unique identifier, strictly ascending within a mailbox
// (RFC 9051 §2.3.1.1).
type UID uint32

// ModSeq is a CONDSTORE modification sequence (RFC 7162 §3.1), per mailbox.
type ModSeq uint64

// Delimiter is the hierarchy delimiter of mailbox names.
const Delimiter = '/'

// InboxName is the one mailbox every account has; compared case-insensitively.
const InboxName = "INBOX"

// Special-use attributes (RFC 6154 §2) of the mailboxes created with every account.
const (
	SpecialDrafts  = `\Drafts`
	SpecialSent    = `\Sent`
	SpecialTrash   = `\Trash`
	SpecialJunk    = `\Junk`
	SpecialArchive = `\Archive`
)

// DefaultMailboxes are created with every account, besides INBOX.
var DefaultMailboxes = []struct{ Name, SpecialUse string }{
	{"Drafts", SpecialDrafts},
	{"Sent", SpecialSent},
	{"Trash", SpecialTrash},
	{"Junk", SpecialJunk},
	{"Archive", SpecialArchive},
}

// Service names an access protocol that can be switched per account.
type Service string

// Services of an account.
const (
	ServiceIMAP Service = "imap"
	ServicePOP3 Service = "pop3"
	ServiceSMTP Service = "smtp"
)

// POP3Scope says which mail POP3 shows.
type POP3Scope string

// POP3 scopes.
const (
	POP3ScopeInbox    POP3Scope = "inbox"     // INBOX only (default)
	POP3ScopeAll      POP3Scope = "all"       // INBOX and every other mailbox except Trash and Junk
	POP3ScopeRecent   POP3Scope = "recent"    // INBOX messages of the last POP3Options.Days days
	POP3ScopeAllRecnt POP3Scope = "allrecent" // as "all", limited to the last Days days
)

// POP3Delete says what a POP3 client's DELE does.
type POP3Delete string

// POP3 delete actions.
const (
	POP3DeleteExpunge POP3Delete = "delete" // expunge (default, RFC 1939)
	POP3DeleteTrash   POP3Delete = "trash"  // move to Trash
	POP3DeleteHide    POP3Delete = "hide"   // keep, but never show to POP3 again
)

// POP3Options are the per-account POP3 settings (like QQ Mail and 163 offer).
type POP3Options struct {
	Scope  POP3Scope
	Days   int // for the "recent" scopes
	Delete POP3Delete
}

// Account is a mail account. Address is the canonical lower-case login
// ("local@domain").
type Account struct {
	ID           AccountID
	Address      string
	PasswordHash string // argon2id PHC string; see internal/auth
	// SCRAM holds the SCRAM-SHA-256 keys of the password (RFC 5803 format,
	// see internal/auth), set together with PasswordHash; empty for a
	// password set before youju kept them.
	SCRAM      string
	Disabled   bool
	AllowIMAP  bool // per-service access switches
	AllowPOP3  bool
	AllowSMTP  bool
	QuotaBytes int64 // 0 = unlimited
	UsedBytes  int64 // sum of message sizes in all mailboxes (read-only)
	POP3       POP3Options
	// Admin opens the admin console (/admin/) and lets the account make
	// admin API tokens ("youju user set --admin").
	Admin   bool
	Created time.Time
}

// Allows reports whether the account may use the service.
func (a *Account) Allows(s Service) bool {
	if a.Disabled {
		return false
	}
	switch s {
	case ServiceIMAP:
		return a.AllowIMAP
	case ServicePOP3:
		return a.AllowPOP3
	case ServiceSMTP:
		return a.AllowSMTP
	}
	return false
}

// AppPassword is a named password for one mail client, revocable on its own
// (like the "authorization codes" of QQ Mail and 163). Hash is argon2id.
type AppPassword struct {
	ID        int64
	AccountID AccountID
	Name      string
	Hash      string
	SCRAM     string // SCRAM-SHA-256 keys, as Account.SCRAM
	Created   time.Time
	LastUsed  time.Time // zero if never used
}

// Alias maps an address to one or more targets, local or remote. Address is
// "local@domain", or "@domain" for a catch-all. Accounts among the targets
// may send as the alias (SMTP submission checks this).
type Alias struct {
	Address string
	Targets []string
}

// Domain is a mail domain served by this server.
type Domain struct {
	Name     string // lower-case, ASCII (A-labels)
	Created  time.Time
	Accounts int // how many accounts the domain has, counted by Domains
}

// Mailbox is a folder of an account with its IMAP state. Counts are filled
// by Mailbox and ListMailboxes.
type Mailbox struct {
	ID            MailboxID
	AccountID     AccountID
	Name          string // UTF-8, Delimiter-separated; "INBOX" for the inbox
	UIDValidity   uint32
	UIDNext       UID
	HighestModSeq ModSeq
	SpecialUse    string // one of the Special* constants, or ""
	Subscribed    bool
	Messages      int   // number of messages
	Unseen        int   // messages without \Seen
	Size          int64 // sum of message sizes (STATUS SIZE, RFC 8438)
}

// SysFlags is a bit set of the IMAP system flags.
type SysFlags uint8

// System flags (RFC 9051 §2.3.2). \Recent is session state, not stored.
const (
	FlagSeen SysFlags = 1 << iota
	FlagAnswered
	FlagFlagged
	FlagDeleted
	FlagDraft
)

// Flags are the system flags and keywords of a message. Keywords are kept
// sorted, without duplicates, compared case-insensitively (RFC 9051 §2.3.2)
// and stored as first given.
type Flags struct {
	System   SysFlags
	Keywords []string
}

// FlagOp says how StoreFlags applies its flags.
type FlagOp int

// Flag operations (RFC 9051 §6.4.6: FLAGS, +FLAGS, -FLAGS).
const (
	FlagReplace FlagOp = iota
	FlagAdd
	FlagRemove
)

// UIDRange is an inclusive range of UIDs. Hi may be 0xffffffff for "*".
type UIDRange struct{ Lo, Hi UID }

// UIDSet is a set of UIDs as ascending, non-overlapping ranges. A nil set
// means "every message" where a method says so.
type UIDSet []UIDRange

// Message is the index entry of a message in a mailbox. Info is filled only
// when asked for (ListOptions.WithInfo); it is the parse made once at
// delivery (see internal/message) and never recomputed.
type Message struct {
	UID          UID
	ModSeq       ModSeq
	Flags        Flags
	InternalDate time.Time
	SaveDate     time.Time
	Size         int64  // exact size in CRLF form: IMAP RFC822.SIZE, POP3 LIST
	Info         []byte // message.Info in its stored encoding (message.UnmarshalInfo)
}

// ListOptions select what ListMessages returns.
type ListOptions struct {
	UIDs         UIDSet // nil = all
	ChangedSince ModSeq // only messages with ModSeq > ChangedSince (0 = all)
	WithInfo     bool   // fill Message.Info
	// Retained also lists messages expunged within the retention period,
	// merged in UID order, with the flags and MODSEQ they had when they
	// were expunged. An IMAP session uses it: a message expunged by
	// another session stays in its view, and must stay fetchable, until
	// the session has been told (RFC 9051 §7.5.1, RFC 2180 §4.1).
	// Everything else (POP3, counts, quota, STATUS, Search, Changes)
	// sees present messages only.
	Retained bool
}

// OpenOptions select what OpenMessageWith opens.
type OpenOptions struct {
	// Retained also opens a message expunged within the retention period
	// (see ListOptions.Retained).
	Retained bool
}

// CopyOptions select how CopyMessages copies.
type CopyOptions struct {
	// Move removes the source messages in the same transaction (RFC 6851).
	// A retained source message is already expunged: it is copied but not
	// expunged (nor reported) again.
	Move bool
	// Retained also copies messages of the set expunged within the
	// retention period (the IMAP session still sees them).
	Retained bool
	// Exact makes the copy all or nothing: unless every UID of the set is
	// found (present, or retained with Retained), nothing is copied and the
	// error is ErrExpunged. The set must then name only existing UIDs (an
	// IMAP session passes those of its view), not ranges with gaps.
	Exact bool
}

// Target is one destination of a delivery.
type Target struct {
	Account AccountID
	Mailbox MailboxID // 0 = INBOX
	Flags   Flags
}

// TargetResult is the outcome of one Target.
type TargetResult struct {
	UID         UID
	UIDValidity uint32
	Mailbox     MailboxID
	Err         error // ErrQuotaExceeded, ErrNotFound, ...; nil on success
}

// Delivery is one message delivered to one or more targets. The message
// bytes are written once and shared by all targets. Deliver keeps no
// reference to Data once it returns: SMTP hands over a slice of its
// pooled read buffer, reused for the connection's next message.
type Delivery struct {
	Data         []byte    // the whole message; line endings are normalised to CRLF by Deliver
	InternalDate time.Time // zero = now
	Targets      []Target
	// Exact keeps Data as it is, bare CR, LF and NUL included: an IMAP
	// APPEND of a literal8 (RFC 3516 §4.4) is stored octet for octet.
	Exact bool
	// CRLF says that every CR and LF of Data is already part of a CRLF
	// pair, so Deliver skips its scan for bare ones (a pass over every
	// byte of the message). Set only by a caller that made it so
	// (delivery for SMTP, whose DATA and BDAT bytes smtpd normalises).
	CRLF bool
}

// AppendMessage is one message of an Append.
type AppendMessage struct {
	Data         []byte    // the whole message; normalised to CRLF unless Exact
	InternalDate time.Time // zero = now
	Flags        Flags
	Exact        bool // as Delivery.Exact (an IMAP literal8, RFC 3516 §4.4)
}

// Append is the messages of one IMAP APPEND command (one, or several with
// MULTIAPPEND) to one mailbox of the account.
type Append struct {
	Mailbox  MailboxID // 0 = INBOX
	Messages []AppendMessage
}

// AppendResult is the outcome of one Append: either every message was
// stored, with consecutive UIDs in the order of the messages, or none was.
type AppendResult struct {
	UIDValidity uint32
	UIDs        []UID
	Err         error // ErrQuotaExceeded, ErrTooLarge, ErrNotFound, ...: nothing of the Append was stored
}

// Query selects messages for Search. Every set field must match (AND).
// Fields that the backend cannot evaluate in its index are left to Match,
// which is called with the message (Info filled) and may open the body
// through the store.
type Query struct {
	UIDs        UIDSet    // nil = any
	FlagsSet    SysFlags  // all of these set
	FlagsUnset  SysFlags  // all of these unset
	Keywords    []string  // all present
	NotKeywords []string  // all absent
	MinSize     int64     // Size > MinSize when > 0 (RFC 9051 LARGER)
	MaxSize     int64     // Size < MaxSize when > 0 (SMALLER)
	Since       time.Time // InternalDate >= Since when non-zero
	Before      time.Time // InternalDate < Before when non-zero
	SavedSince  time.Time
	SavedBefore time.Time
	MinModSeq   ModSeq // ModSeq >= MinModSeq when > 0 (RFC 7162 §3.1.5)
	Match       func(*Message) (bool, error)
	NeedInfo    bool // Match needs Message.Info
}

// Changes are what happened in a mailbox since a MODSEQ (CONDSTORE/QRESYNC,
// and how sessions learn of other sessions' work).
type Changes struct {
	Changed       []Message // new or changed messages, ascending UID, Info not filled
	Vanished      UIDSet    // expunged UIDs (tombstones) with MODSEQ > since
	HighestModSeq ModSeq
	UIDNext       UID
}

// UIDPair maps a source UID to its UID in the destination (UIDPLUS, RFC 4315).
type UIDPair struct{ Src, Dst UID }

// CopyResult is the outcome of Copy and Move.
type CopyResult struct {
	UIDValidity uint32 // of the destination
	Pairs       []UIDPair
}

// StoreResult is the outcome of StoreFlags.
type StoreResult struct {
	Changed  []Message // messages whose flags changed, with their new ModSeq
	Modified UIDSet    // UIDs that failed UNCHANGEDSINCE (RFC 7162 §3.1.3)
}

// AccountPage selects a page of AccountsPage: the accounts whose address
// is greater than After ("" from the first) and contains Query (lower
// case; "" keeps all), in address order, at most Limit of them
// (MaxAccountPage when <= 0 or greater).
type AccountPage struct {
	After string
	Query string
	Limit int
}

// MaxAccountPage bounds an AccountsPage answer.
const MaxAccountPage = 1000

// PageLimit is p.Limit bounded to 1..MaxAccountPage.
func (p AccountPage) PageLimit() int {
	if p.Limit <= 0 || p.Limit > MaxAccountPage {
		return MaxAccountPage
	}
	return p.Limit
}

// Accounts is the account side of the store: domains, accounts, aliases,
// app passwords. Addresses are matched case-insensitively.
type Accounts interface {
	AddDomain(ctx context.Context, name string) error
	DeleteDomain(ctx context.Context, name string) error // fails with ErrExists while accounts use it
	Domains(ctx context.Context) ([]Domain, error)
	IsLocalDomain(ctx context.Context, name string) (bool, error)

	// CreateAccount creates the account, its INBOX and DefaultMailboxes.
	CreateAccount(ctx context.Context, a Account) (Account, error)
	Account(ctx context.Context, address string) (Account, error)
	AccountByID(ctx context.Context, id AccountID) (Account, error)
	ListAccounts(ctx context.Context) ([]Account, error)
	// AccountsPage lists a page of accounts by address (keyset paging:
	// an organisation may have tens of thousands, and the admin console
	// must never load them all).
	AccountsPage(ctx context.Context, p AccountPage) ([]Account, error)
	// UpdateAccount stores every field of a but ID, Address, UsedBytes, Created.
	UpdateAccount(ctx context.Context, a Account) error
	// DeleteAccount removes the account and all its mail.
	DeleteAccount(ctx context.Context, id AccountID) error

	SetAlias(ctx context.Context, a Alias) error
	DeleteAlias(ctx context.Context, address string) error
	Alias(ctx context.Context, address string) (Alias, error)
	ListAliases(ctx context.Context) ([]Alias, error)

	AddAppPassword(ctx context.Context, p AppPassword) (AppPassword, error)
	AppPasswords(ctx context.Context, id AccountID) ([]AppPassword, error)
	DeleteAppPassword(ctx context.Context, id AccountID, name string) error
	TouchAppPassword(ctx context.Context, passwordID int64, t time.Time) error
}

// Mail is the mail side of the store. Every method is scoped to an account.
type Mail interface {
	Mailboxes(ctx context.Context, acct AccountID) ([]Mailbox, error)
	// Mailbox looks a mailbox up by name ("inbox" in any case is INBOX).
	Mailbox(ctx context.Context, acct AccountID, name string) (Mailbox, error)
	MailboxByID(ctx context.Context, acct AccountID, id MailboxID) (Mailbox, error)
	CreateMailbox(ctx context.Context, acct AccountID, name, specialUse string) (Mailbox, error)
	DeleteMailbox(ctx context.Context, acct AccountID, name string) error
	// RenameMailbox renames a mailbox and its children; renaming INBOX moves
	// its messages to the new mailbox and leaves INBOX empty (RFC 9051 §6.3.6).
	RenameMailbox(ctx context.Context, acct AccountID, from, to string) error
	SetSubscribed(ctx context.Context, acct AccountID, name string, on bool) error
	Subscriptions(ctx context.Context, acct AccountID) ([]string, error)

	// Deliver stores one message for every target and returns only when
	// the message and its index entries are on stable storage. Concurrent
	// calls share fsyncs. A per-target failure (quota) is in its result;
	// the error is for failures of the whole delivery (I/O: temporary).
	Deliver(ctx context.Context, d Delivery) ([]TargetResult, error)
	// AppendMessages stores appends into mailboxes of acct in one durable
	// write (one group commit), and returns only when all of it is on
	// stable storage. Each Append is all or none (MULTIAPPEND, RFC 3502
	// §6.3.11) and independent of the others: one failing (quota, size,
	// no such mailbox) is in its result and the others are stored. The
	// error is for failures of the whole call (I/O: temporary), after
	// which nothing was stored.
	AppendMessages(ctx context.Context, acct AccountID, appends []Append) ([]AppendResult, error)

	// ListMessages calls fn for each message of the mailbox in ascending UID
	// order, streamed from the index.
	ListMessages(ctx context.Context, acct AccountID, mbox MailboxID, opt ListOptions, fn func(*Message) error) error
	Search(ctx context.Context, acct AccountID, mbox MailboxID, q Query) ([]UID, error)
	// OpenMessage opens the bytes of a message (CRLF form, Size bytes).
	OpenMessage(ctx context.Context, acct AccountID, mbox MailboxID, uid UID) (MessageReader, error)
	// OpenMessageWith is OpenMessage with options: with opt.Retained it
	// also opens a message expunged within the retention period.
	OpenMessageWith(ctx context.Context, acct AccountID, mbox MailboxID, uid UID, opt OpenOptions) (MessageReader, error)

	StoreFlags(ctx context.Context, acct AccountID, mbox MailboxID, uids UIDSet, op FlagOp, f Flags, unchangedSince ModSeq) (StoreResult, error)
	// Expunge removes the messages of uids that have \Deleted (uids nil:
	// every \Deleted message), leaving tombstones, and returns their UIDs.
	//
	// Expunged messages (of Expunge, Remove and Move) are retained for a
	// while: their index rows and bytes stay readable through
	// ListOptions.Retained, OpenOptions.Retained and CopyOptions.Retained
	// (for the IMAP sessions that have not been told yet), and count
	// nowhere else. They are dropped after the retention period and, all
	// of them, when the store is opened (no session survives a restart).
	Expunge(ctx context.Context, acct AccountID, mbox MailboxID, uids UIDSet) ([]UID, error)
	// Remove expunges uids whatever their flags (POP3 DELE, MOVE).
	Remove(ctx context.Context, acct AccountID, mbox MailboxID, uids UIDSet) ([]UID, error)
	Copy(ctx context.Context, acct AccountID, src MailboxID, uids UIDSet, dst MailboxID) (CopyResult, error)
	// Move copies then removes, atomically (RFC 6851).
	Move(ctx context.Context, acct AccountID, src MailboxID, uids UIDSet, dst MailboxID) (CopyResult, error)
	// CopyMessages is Copy (or Move, with opt.Move) with options.
	CopyMessages(ctx context.Context, acct AccountID, src MailboxID, uids UIDSet, dst MailboxID, opt CopyOptions) (CopyResult, error)
	Changes(ctx context.Context, acct AccountID, mbox MailboxID, since ModSeq) (Changes, error)
	// Quota returns used bytes and the limit (0 = none).
	Quota(ctx context.Context, acct AccountID) (used, limit int64, err error)
}

// MessageReader reads a stored message without loading it whole.
type MessageReader interface {
	io.Reader
	io.ReaderAt
	io.Closer
	Size() int64
}

// Store is a whole backend.
type Store interface {
	Accounts
	Mail
	// Notifier returns the hub on which the store publishes mailbox changes
	// after they are committed.
	Notifier() Notifier
	Close() error
}

// Event tells that a mailbox changed; subscribers call Changes to learn what.
type Event struct {
	Account AccountID
	Mailbox MailboxID
	ModSeq  ModSeq // the mailbox's HIGHESTMODSEQ after the change
	// Mailboxes is set when the list of mailboxes changed (create, delete,
	// rename, subscribe); Mailbox is then 0.
	Mailboxes bool
}

// Notifier fans mailbox events out to sessions. See internal/notify.
type Notifier interface {
	// Subscribe returns a channel of events of the account and a cancel
	// function. The channel is buffered; a slow subscriber loses events
	// but never misses that something changed (it gets at least one).
	Subscribe(acct AccountID) (<-chan Event, func())
	Publish(e Event)
}
