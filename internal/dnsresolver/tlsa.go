package dnsresolver

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// TLSA is one TLSA record (RFC 6698 §2.1): how a server's certificate is
// to be matched.
type TLSA struct {
	Usage        uint8 // 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE (RFC 7218)
	Selector     uint8 // 0 full certificate, 1 SubjectPublicKeyInfo
	MatchingType uint8 // 0 exact, 1 SHA2-256, 2 SHA2-512
	Data         []byte
}

// TLSAResolver looks up TLSA records and says whether the answer is
// DNSSEC-secure. Only a resolver that the operator declared validating
// implements it: the AD bit of any other resolver is not to be trusted
// (RFC 6698 §4.1, RFC 7672 §2.1.1), and without trust there is no DANE.
type TLSAResolver interface {
	LookupTLSA(ctx context.Context, name string) (recs []TLSA, secure bool, err error)
}

// typeTLSA is the RR type of TLSA (RFC 6698 §7.1).
const typeTLSA dnsmessage.Type = 52

// Validating is a Resolver whose server validates DNSSEC, so that its AD
// bit ("authentic data", RFC 4035 §3.2.3) can be trusted. It answers
// TLSA lookups itself, with the AD bit as "secure"; every other lookup
// goes to the embedded Resolver.
type Validating struct {
	Resolver
	// Server is the validating resolver, host:port.
	Server string
	// Timeout bounds one query [5 s].
	Timeout time.Duration
}

var _ TLSAResolver = (*Validating)(nil)

// NewValidating wraps r, sending TLSA queries to server ("" = the first
// nameserver of /etc/resolv.conf, as the system resolver would).
func NewValidating(r Resolver, server string) (*Validating, error) {
	if server == "" {
		s, err := systemNameserver("/etc/resolv.conf")
		if err != nil {
			return nil, err
		}
		server = s
	}
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(strings.Trim(server, "[]"), "53")
	}
	return &Validating{Resolver: r, Server: server}, nil
}

// systemNameserver returns the first "nameserver" of a resolv.conf.
func systemNameserver(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("dnsresolver: no resolver configured and %w", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "nameserver" && net.ParseIP(f[1]) != nil {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("dnsresolver: no nameserver in %s", path)
}

// LookupTLSA implements TLSAResolver. A name without TLSA records (NXDOMAIN
// or NODATA) is IsNotFound; a server failure is temporary (RFC 7672 §2.1.1:
// the caller must then not deliver without the records it could not see).
func (v *Validating) LookupTLSA(ctx context.Context, name string) ([]TLSA, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, pickDur(v.Timeout, DefaultLookupTimeout))
	defer cancel()
	resp, id, err := v.ask(ctx, name, typeTLSA)
	if err != nil {
		return nil, false, err
	}
	return parseTLSAResponse(resp, id, name)
}

// ask sends one query of type t for name to the validating server (UDP,
// TCP when truncated) and returns the reply and the query's id.
func (v *Validating) ask(ctx context.Context, name string, t dnsmessage.Type) ([]byte, uint16, error) {
	q, id, err := query(name, t)
	if err != nil {
		return nil, 0, err
	}
	resp, err := exchange(ctx, "udp", v.Server, q)
	if err == nil {
		var h dnsmessage.Header
		if h, err = peekHeader(resp); err == nil && h.Truncated {
			resp, err = exchange(ctx, "tcp", v.Server, q) // RFC 7766 §5
		}
	}
	if err != nil {
		return nil, 0, &net.DNSError{Err: err.Error(), Name: name, Server: v.Server, IsTemporary: true}
	}
	return resp, id, nil
}

func peekHeader(b []byte) (dnsmessage.Header, error) {
	var p dnsmessage.Parser
	return p.Start(b)
}

// tlsaQuery builds a TLSA query (query).
func tlsaQuery(name string) ([]byte, uint16, error) { return query(name, typeTLSA) }

// query builds a query of type t with the AD bit set (RFC 6840 §5.7:
// the resolver then says whether it validated) and EDNS0 with DO
// (RFC 3225), so that a validating resolver answers DNSSEC-aware.
func query(name string, t dnsmessage.Type) ([]byte, uint16, error) {
	n, err := dnsmessage.NewName(strings.TrimSuffix(name, ".") + ".")
	if err != nil {
		return nil, 0, fmt.Errorf("dnsresolver: bad name %q: %w", name, err)
	}
	var idb [2]byte
	rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true, AuthenticData: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, 0, err
	}
	if err := b.Question(dnsmessage.Question{Name: n, Type: t, Class: dnsmessage.ClassINET}); err != nil {
		return nil, 0, err
	}
	if err := b.StartAdditionals(); err != nil {
		return nil, 0, err
	}
	var opt dnsmessage.ResourceHeader
	if err := opt.SetEDNS0(1232, dnsmessage.RCodeSuccess, true); err != nil {
		return nil, 0, err
	}
	if err := b.OPTResource(opt, dnsmessage.OPTResource{}); err != nil {
		return nil, 0, err
	}
	msg, err := b.Finish()
	return msg, id, err
}

// maxDNSMessage bounds what a reply may be (RFC 1035 §4.2.2: TCP length
// is 16 bits).
const maxDNSMessage = 65535

// exchange sends q over network ("udp" or "tcp") and returns the reply.
func exchange(ctx context.Context, network, server string, q []byte) ([]byte, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, server)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if network == "udp" {
		if _, err := c.Write(q); err != nil {
			return nil, err
		}
		buf := make([]byte, maxDNSMessage)
		n, err := c.Read(buf)
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	msg := make([]byte, 2+len(q))
	binary.BigEndian.PutUint16(msg, uint16(len(q)))
	copy(msg[2:], q)
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

var errBadReply = errors.New("malformed DNS reply")

// parseTLSAResponse reads the TLSA records of a reply to query id. The
// answer is secure when the AD bit is set (RFC 4035 §3.2.3).
func parseTLSAResponse(b []byte, id uint16, name string) ([]TLSA, bool, error) {
	var p dnsmessage.Parser
	h, err := p.Start(b)
	if err != nil || h.ID != id || !h.Response {
		return nil, false, &net.DNSError{Err: errBadReply.Error(), Name: name, IsTemporary: true}
	}
	switch h.RCode {
	case dnsmessage.RCodeSuccess:
	case dnsmessage.RCodeNameError:
		return nil, h.AuthenticData, notFound(name)
	default:
		// SERVFAIL is what a validating resolver answers for bogus data.
		return nil, false, &net.DNSError{Err: "server answered " + h.RCode.String(), Name: name, IsTemporary: true}
	}
	if err := p.SkipAllQuestions(); err != nil {
		return nil, false, &net.DNSError{Err: errBadReply.Error(), Name: name, IsTemporary: true}
	}
	var out []TLSA
	for {
		rh, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			return nil, false, &net.DNSError{Err: errBadReply.Error(), Name: name, IsTemporary: true}
		}
		if rh.Type != typeTLSA || rh.Class != dnsmessage.ClassINET {
			if err := p.SkipAnswer(); err != nil { // a CNAME on the way, or RRSIG
				return nil, false, &net.DNSError{Err: errBadReply.Error(), Name: name, IsTemporary: true}
			}
			continue
		}
		r, err := p.UnknownResource()
		if err != nil || len(r.Data) < 3 {
			return nil, false, &net.DNSError{Err: errBadReply.Error(), Name: name, IsTemporary: true}
		}
		out = append(out, TLSA{Usage: r.Data[0], Selector: r.Data[1], MatchingType: r.Data[2],
			Data: append([]byte(nil), r.Data[3:]...)})
	}
	if len(out) == 0 {
		return nil, h.AuthenticData, notFound(name) // NODATA
	}
	return out, h.AuthenticData, nil
}
