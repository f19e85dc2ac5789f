package server

import "github.com/youju/youju/internal/imap/wire"

// checkUTF8Accept applies RFC 6855 §3 to a command: once the client enabled
// UTF8=ACCEPT, a SEARCH with a CHARSET conflicts with the UTF-8 that all
// strings now are, and the server SHOULD answer BAD. IMAP4rev2 alone does
// not forbid it (RFC 9051 §6.4.4 keeps CHARSET).
func (c *conn) checkUTF8Accept(cmd *wire.Command) error {
	if !c.enabled["UTF8=ACCEPT"] {
		return nil
	}
	if a, ok := cmd.Args.(*wire.SearchArgs); ok && a.Charset != "" {
		return bad("", "no CHARSET in SEARCH after ENABLE UTF8=ACCEPT (RFC 6855 §3)")
	}
	return nil
}
