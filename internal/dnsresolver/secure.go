package dnsresolver

import (
	"context"
	"errors"
	"fmt"
	"net"

	"golang.org/x/net/dns/dnsmessage"
)

// SecureResolver says whether the MX and address answers DANE rests on
// are DNSSEC-secure (RFC 7672 §2.2: DANE applies only when the MX RRset
// and the MX host's addresses validate). As for TLSAResolver, only a
// resolver declared validating implements it.
type SecureResolver interface {
	// LookupSecure asks for the RRset of type qtype ("MX", "A" or
	// "AAAA") at name. secure is the AD bit of the answer, or of the
	// denial when the name has no such records (err IsNotFound);
	// target is where a CNAME chain from name ends ("" when name is
	// not an alias).
	LookupSecure(ctx context.Context, name, qtype string) (secure bool, target string, err error)
}

var (
	_ SecureResolver = (*Validating)(nil)
	_ SecureResolver = (*Fake)(nil)
	_ SecureResolver = (*Cache)(nil)
)

var secureTypes = map[string]dnsmessage.Type{
	"MX": dnsmessage.TypeMX, "A": dnsmessage.TypeA, "AAAA": dnsmessage.TypeAAAA,
}

// LookupSecure implements SecureResolver.
func (v *Validating) LookupSecure(ctx context.Context, name, qtype string) (bool, string, error) {
	t, ok := secureTypes[qtype]
	if !ok {
		return false, "", fmt.Errorf("dnsresolver: LookupSecure of type %q", qtype)
	}
	ctx, cancel := context.WithTimeout(ctx, pickDur(v.Timeout, DefaultLookupTimeout))
	defer cancel()
	resp, id, err := v.ask(ctx, name, t)
	if err != nil {
		return false, "", err
	}
	return parseSecureResponse(resp, id, name, t)
}

// parseSecureResponse reads the AD bit of a reply, and follows the CNAME
// records of its answer section from name (RFC 1034 §3.6.2: the
// resolver puts the chain before the records of the last name).
func parseSecureResponse(b []byte, id uint16, name string, t dnsmessage.Type) (bool, string, error) {
	bad := &net.DNSError{Err: errBadReply.Error(), Name: name, IsTemporary: true}
	var p dnsmessage.Parser
	h, err := p.Start(b)
	if err != nil || h.ID != id || !h.Response {
		return false, "", bad
	}
	switch h.RCode {
	case dnsmessage.RCodeSuccess:
	case dnsmessage.RCodeNameError:
		return h.AuthenticData, "", notFound(name)
	default:
		// SERVFAIL: what a validating resolver answers for bogus data.
		return false, "", &net.DNSError{Err: "server answered " + h.RCode.String(), Name: name, IsTemporary: true}
	}
	if err := p.SkipAllQuestions(); err != nil {
		return false, "", bad
	}
	cur, found := key(name), false
	for {
		rh, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			return false, "", bad
		}
		owner := key(rh.Name.String())
		switch {
		case rh.Type == dnsmessage.TypeCNAME && owner == cur:
			c, err := p.CNAMEResource()
			if err != nil {
				return false, "", bad
			}
			cur = key(c.CNAME.String())
			continue
		case rh.Type == t && owner == cur:
			found = true
		}
		if err := p.SkipAnswer(); err != nil {
			return false, "", bad
		}
	}
	target := ""
	if cur != key(name) {
		target = cur
	}
	if !found {
		return h.AuthenticData, target, notFound(name) // NODATA
	}
	return h.AuthenticData, target, nil
}

// LookupSecure implements SecureResolver: a name has records when the
// Fake's MX or IP map has it (after its CNAME), and is secure when
// SecureRR lists "QTYPE name" (the name asked for).
func (f *Fake) LookupSecure(_ context.Context, name, qtype string) (bool, string, error) {
	if err := f.fail(name); err != nil {
		return false, "", err
	}
	secure := f.SecureRR[qtype+" "+key(name)]
	target := key(f.CNAME[key(name)])
	n := key(name)
	if target != "" {
		n = target
	}
	has := false
	switch qtype {
	case "MX":
		has = len(f.MX[n]) > 0
	case "A", "AAAA":
		for _, ip := range f.IP[n] {
			has = has || (ip.IP.To4() != nil) == (qtype == "A")
		}
	}
	if !has {
		return secure, target, notFound(name)
	}
	return secure, target, nil
}

// LookupSecure passes the query through uncached to a validating
// resolver behind the cache (as LookupTLSA); in front of any other it
// answers "insecure", which turns DANE off (RFC 7672 §2.2).
func (c *Cache) LookupSecure(ctx context.Context, name, qtype string) (bool, string, error) {
	sr, ok := c.Resolver.(SecureResolver)
	if !ok {
		return false, "", nil
	}
	return sr.LookupSecure(ctx, name, qtype)
}
