// Package message parses a message once, at delivery, into what IMAP and
// search need later: the exact CRLF size, the envelope, the body structure
// with the byte offsets of every part, and decoded header fields for search.
// FETCH ENVELOPE and BODYSTRUCTURE are answered from this parse, never by
// parsing the message again.
package message

import "time"

// Address is an address of the envelope in the form of RFC 9051 §7.5.2:
// display name (raw, encoded-words kept), source route (the obsolete
// "@a,@b" route of RFC 5322 §4.4, usually empty), mailbox and host. A
// group (RFC 5322 §3.4) starts with Host == "" and Mailbox = group name,
// and ends with Host == "" and Mailbox == "". Only group markers have an
// empty Host: an address without a domain gets MissingHost.
type Address struct {
	Name    string
	Adl     string
	Mailbox string
	Host    string
}

// Envelope is the IMAP ENVELOPE of a message (RFC 9051 §7.5.2). String
// fields are the raw header values (RFC 2047 encoded-words left encoded, as
// IMAP requires), unfolded.
type Envelope struct {
	Date      string
	Subject   string
	From      []Address
	Sender    []Address
	ReplyTo   []Address
	To        []Address
	Cc        []Address
	Bcc       []Address
	InReplyTo string
	MessageID string
}

// Param is a MIME parameter (name lower-cased, value decoded per RFC 2231).
// A value that used RFC 2231 charset encoding is UTF-8 here and may not be
// ASCII; other values are as in the header (RFC 2047 words kept).
type Param struct{ Name, Value string }

// Part is one MIME entity with what BODYSTRUCTURE needs (RFC 9051 §7.5.2)
// and where it lies in the message, so that BODY[section] is served by
// reading a byte range of the stored message.
type Part struct {
	Type        string // lower-case, e.g. "text"
	Subtype     string // lower-case, e.g. "plain"
	Params      []Param
	ID          string
	Description string
	Encoding    string // Content-Transfer-Encoding, lower-case, "7bit" if absent
	Size        int64  // octets of the body (after the blank line)
	Lines       int64  // lines of the body (CRLFs, plus a last unterminated line), for text/* and message/rfc822|global
	MD5         string
	Disposition string // lower-case, "" if absent
	DispParams  []Param
	Language    []string
	Location    string

	// Offsets in the CRLF-normalised message; see Parse for exactly what
	// they delimit.
	HeaderOffset int64 // start of this part's header
	BodyOffset   int64 // start of the body (after the CRLF CRLF)

	Parts []Part // children of a multipart

	// For message/rfc822 (and message/global): the encapsulated message.
	// Both are nil when it could not be parsed in place (a base64 or
	// quoted-printable encoded message, or past the nesting limits); IMAP
	// then describes the part as a basic body.
	Envelope *Envelope
	Message  *Part // root part of the encapsulated message
}

// HeaderSize is the size of the part's header, blank line included.
func (p *Part) HeaderSize() int64 { return p.BodyOffset - p.HeaderOffset }

// Info is everything parsed once at delivery.
type Info struct {
	Size     int64 // exact size in CRLF form
	Envelope Envelope
	Body     Part // the root part; Body.HeaderOffset == 0
	// SentDate is the parsed Date: header (zero if absent or unparsable);
	// used by SENTBEFORE/SENTON/SENTSINCE and SORT DATE.
	SentDate time.Time
	// Decoded (RFC 2047, charset to UTF-8) header fields for search and SORT.
	Subject string
	From    string
	To      string
	Cc      string
	Bcc     string
	// References are the message identifiers of the References header
	// (RFC 5322 §3.6.4), normalised by NextMsgID and bounded as
	// ParseReferences does, for THREAD=REFERENCES (RFC 5256 §3). Infos
	// encoded before they were stored (codec version 1) decode with none;
	// ThreadDecoder tells those apart.
	References []string `json:",omitempty"`
}
