package queue

import (
	"crypto/x509"
	"errors"
	"net"
	"strings"

	"github.com/youju/youju/internal/reports"
)

// reportTLS tells Options.TLSReport how the TLS of a new session to an
// MX host went, for the TLS reports we send (RFC 8460 §4.3). Routes
// (smarthost, transports) are not reported: no recipient domain's
// policy applies to them. Failures that are not about TLS (refused
// connection, greeting) are not counted either.
func (q *Queue) reportTLS(h hop, addr string, s *session, err error) {
	if q.opt.TLSReport == nil || h.route != nil || h.domain == "" {
		return
	}
	r := reports.TLSSession{Time: q.opt.Now().UTC(), Domain: h.domain, MXHost: h.name, PolicyType: "no-policy-found"}
	switch {
	case h.dane != nil:
		r.PolicyType = "tlsa"
	case h.sts:
		r.PolicyType = "sts"
	}
	if ip, _, e := net.SplitHostPort(addr); e == nil {
		r.ReceivingIP = ip
	}
	switch {
	case err == nil && s != nil && s.tls:
	case err == nil && s != nil:
		// Opportunistic and the server offered no TLS (or its handshake
		// failed and we fell back to plaintext, RFC 7435).
		r.Failure = "starttls-not-supported"
	case err != nil:
		r.Failure = tlsFailure(err, h)
		if r.Failure == "" {
			return
		}
	default:
		return
	}
	q.opt.TLSReport(r)
}

// tlsFailure maps a connection error to an RFC 8460 §4.3 result type,
// "" when the error is not about TLS.
func tlsFailure(err error, h hop) string {
	var host x509.HostnameError
	var inv x509.CertificateInvalidError
	var unk x509.UnknownAuthorityError
	switch {
	case errors.Is(err, errDANE):
		return "validation-failure" // RFC 8460 §4.3.2.2: TLSA did not match
	case errors.As(err, &host):
		return "certificate-host-mismatch"
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		return "certificate-expired"
	case errors.As(err, &unk):
		return "certificate-not-trusted"
	case strings.Contains(err.Error(), "does not offer STARTTLS"):
		return "starttls-not-supported"
	case errors.Is(err, errTLSHandshake) && (h.sts || h.dane != nil):
		return "validation-failure"
	}
	return ""
}
