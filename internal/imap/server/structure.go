package server

import (
	"mime"
	"strings"

	"github.com/youju/youju/internal/imap/wire"

	"github.com/youju/youju/internal/message"
)

// writeEnvelope writes an ENVELOPE (RFC 9051 §7.5.2) from the stored parse,
// built in the output buffer's free space (FETCH 1:* (ENVELOPE) writes
// one per message of the mailbox).
func (c *conn) writeEnvelope(e *message.Envelope) {
	c.w.Bytes(appendEnvelope(c.w.AvailableBuffer(), e, c.w.UTF8))
}

func appendEnvelope(b []byte, e *message.Envelope, utf8 bool) []byte {
	b = append(b, '(')
	b = wire.AppendNString(b, e.Date, utf8)
	b = append(b, ' ')
	b = wire.AppendNString(b, e.Subject, utf8)
	for _, list := range [...][]message.Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		b = append(b, ' ')
		b = appendAddresses(b, list, utf8)
	}
	b = append(b, ' ')
	b = wire.AppendNString(b, e.InReplyTo, utf8)
	b = append(b, ' ')
	b = wire.AppendNString(b, e.MessageID, utf8)
	return append(b, ')')
}

func appendAddresses(b []byte, list []message.Address, utf8 bool) []byte {
	if len(list) == 0 {
		return append(b, "NIL"...)
	}
	b = append(b, '(')
	for _, a := range list {
		b = append(b, '(')
		b = wire.AppendNString(b, a.Name, utf8)
		b = append(b, ' ')
		b = wire.AppendNString(b, a.Adl, utf8)
		b = append(b, ' ')
		b = wire.AppendNString(b, a.Mailbox, utf8)
		b = append(b, ' ')
		b = wire.AppendNString(b, a.Host, utf8)
		b = append(b, ')')
	}
	return append(b, ')')
}

// writeBody writes BODYSTRUCTURE (ext set) or BODY (RFC 9051 §7.5.2).
func (c *conn) writeBody(p *message.Part, ext bool) {
	w := c.w
	w.Byte('(')
	if len(p.Parts) > 0 {
		for i := range p.Parts {
			c.writeBody(&p.Parts[i], ext)
		}
		w.SP().String(p.Subtype)
		if ext {
			w.SP()
			c.writeParams(p.Params)
			w.SP()
			c.writeExt(p)
		}
		w.Byte(')')
		return
	}
	w.String(orDefault(p.Type, "text")).SP().String(orDefault(p.Subtype, "plain")).SP()
	c.writeParams(p.Params)
	w.SP().NString(p.ID).SP().NString(p.Description).SP().String(orDefault(strings.ToUpper(p.Encoding), "7BIT")).SP().Number(uint64(p.Size))
	switch {
	case p.Message != nil && p.Envelope != nil:
		w.SP()
		c.writeEnvelope(p.Envelope)
		w.SP()
		c.writeBody(p.Message, ext)
		w.SP().Number(uint64(p.Lines))
	case strings.EqualFold(p.Type, "text"):
		w.SP().Number(uint64(p.Lines))
	}
	if ext {
		w.SP().NString(p.MD5).SP()
		c.writeExt(p)
	}
	w.Byte(')')
}

// writeExt writes body-fld-dsp SP body-fld-lang SP body-fld-loc.
func (c *conn) writeExt(p *message.Part) {
	w := c.w
	if p.Disposition == "" {
		w.NIL()
	} else {
		w.Byte('(').String(p.Disposition).SP()
		c.writeParams(p.DispParams)
		w.Byte(')')
	}
	w.SP()
	switch len(p.Language) {
	case 0:
		w.NIL()
	default:
		w.Byte('(')
		for i, l := range p.Language {
			if i > 0 {
				w.SP()
			}
			w.String(l)
		}
		w.Byte(')')
	}
	w.SP().NString(p.Location)
}

func (c *conn) writeParams(ps []message.Param) {
	if len(ps) == 0 {
		c.w.NIL()
		return
	}
	c.w.Byte('(')
	for i, p := range ps {
		if i > 0 {
			c.w.SP()
		}
		v := p.Value
		if !c.w.UTF8 && !isASCII(v) {
			// The stored value is decoded from RFC 2231; clients without
			// UTF-8 get it as an RFC 2047 word, which they all decode in
			// file names (what common servers send too).
			v = mime.BEncoding.Encode("UTF-8", v)
		}
		c.w.String(p.Name).SP().String(v)
	}
	c.w.Byte(')')
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
