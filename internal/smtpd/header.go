package smtpd

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/emersion/go-smtp"

	"github.com/youju/youju/internal/message"
)

// Replies to a header section we refuse. All are permanent: resending the
// same message cannot help.
var (
	// RFC 5321 §4.5.3.1.9 ("552 Too much mail data") with RFC 3463
	// X.3.4 (a per-message size limit was exceeded).
	errHeaderTooLarge = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
		Message: fmt.Sprintf("Header section larger than %d bytes", message.DefaultMaxHeaderBytes)}
	// RFC 5321 §4.2.3 554 (transaction failed) with RFC 3463 X.6.0:
	// the content, not its size, is the problem.
	errHeaderTooFolded = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
		Message: fmt.Sprintf("Header section has more than %d continuation lines", message.DefaultMaxHeaderContinuations)}
	errFromMissing = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Missing or malformed From: header"}
	// RFC 5322 §3.6: From occurs exactly once.
	errFromTwice = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "More than one From: field (RFC 5322 §3.6)"}
)

// readHeader parses the header section of data (CRLF form) once, in
// linear time, within the header limits; every later look at the header
// (From check, mail authentication) uses the result.
func readHeader(data []byte) (*message.Header, error) {
	h, err := message.ReadHeader(data, message.HeaderLimits{})
	switch {
	case errors.Is(err, message.ErrHeaderTooLarge):
		return nil, errHeaderTooLarge
	case errors.Is(err, message.ErrHeaderTooFolded):
		return nil, errHeaderTooFolded
	}
	return h, err
}

// checkSubmittedSyntax refuses on submission what a receiver could read
// differently from the "From must be yours" check: a field name that is
// not RFC 5322 §2.2's, blanks before the colon (obsolete syntax, RFC 5322
// §4.5: a receiver must accept it, a generator must not produce it), and
// From: fields other than exactly one (§3.6). An MSA may refuse such
// messages (RFC 6409 §8).
func checkSubmittedSyntax(h *message.Header) error {
	for i := range h.Fields {
		f := &h.Fields[i]
		switch {
		case f.Malformed:
			return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
				Message: fmt.Sprintf("Malformed header field name in field %d (RFC 5322 §2.2)", i+1)}
		case f.SpaceBeforeColon:
			return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
				Message: fmt.Sprintf("Blank before the colon in header field %d (obsolete syntax, RFC 5322 §4.5)", i+1)}
		}
	}
	switch h.Count("From") {
	case 0:
		return errFromMissing
	case 1:
		return nil
	default:
		return errFromTwice
	}
}

// headerFrom returns the addresses of the single From: field as the store
// reads them (message.ParseAddressList of the first From field, which
// checkSubmittedSyntax made the only one). A group (RFC 6854) or an
// entry that is not a mailbox makes it malformed: ownership of such a
// From cannot be checked.
func headerFrom(h *message.Header) ([]string, error) {
	v, ok := h.Get("From")
	if !ok {
		return nil, errFromMissing
	}
	list := message.ParseAddressList(v)
	out := make([]string, 0, len(list))
	for _, a := range list {
		if a.Mailbox == "" || a.Host == "" {
			return nil, errFromMissing
		}
		out = append(out, a.Mailbox+"@"+a.Host)
	}
	if len(out) == 0 {
		return nil, errFromMissing
	}
	return out, nil
}

func randRead(b []byte) { rand.Read(b) }
