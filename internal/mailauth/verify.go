package mailauth

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dmarc"

	"github.com/youju/youju/internal/message"
)

// Time bounds of the checks. A resolver that drops queries costs a message
// at most these, not the sum of all its lookups: SPF runs from MAIL FROM
// on, and DKIM keys and DMARC policies are looked up at the same time.
const (
	// LookupTimeout bounds one DNS query; past it the query is a
	// temporary error (SPF, DKIM and DMARC "temperror").
	LookupTimeout = 3 * time.Second
	// SPFTimeout bounds the whole SPF evaluation (RFC 7208 §4.6.4 bounds
	// its queries to 10 plus the addresses of MX names).
	SPFTimeout = 10 * time.Second
)

// maxSignedFields bounds a signature's h= list; a longer one is a
// permerror without verification (RFC 6376 §6.1: verifiers may limit the
// work they do).
const maxSignedFields = 128

// SPFCheck is an SPF evaluation running in the background, started when
// MAIL FROM names the sender, long before the message has arrived.
type SPFCheck struct {
	done   chan struct{}
	res    SPFResult
	cancel context.CancelFunc
	ip     net.IP // the SMTP client, for arc= smtp.remote-ip
}

// StartSPF starts checking SPF for the connection (RFC 7208 §2.4: the
// MAIL FROM identity, or HELO for a null sender). Stop or Wait must be
// called. When r has every answer the check needs in its cache
// (cached.go), the check is done before StartSPF returns; otherwise it
// runs in the background, bounded by SPFTimeout.
func StartSPF(ctx context.Context, r Resolver, ip net.IP, helo, mailFrom string) *SPFCheck {
	if res, ok := cachedSPF(ctx, r, ip, helo, mailFrom); ok {
		return &SPFCheck{done: closed, res: res, cancel: noCancel, ip: ip}
	}
	ctx, cancel := context.WithTimeout(ctx, SPFTimeout)
	c := &SPFCheck{done: make(chan struct{}), cancel: cancel, ip: ip}
	go func() {
		defer close(c.done)
		c.res = checkSPF(ctx, bounded{r}, ip, helo, mailFrom)
	}()
	return c
}

// Wait returns the result. If ctx ends first, the result is temperror.
func (c *SPFCheck) Wait(ctx context.Context) SPFResult {
	select {
	case <-c.done:
		c.cancel()
		return c.res
	case <-ctx.Done():
		c.cancel()
		<-c.done // ends at once: its context is cancelled
		return c.res
	}
}

// Stop abandons the check (the transaction was reset).
func (c *SPFCheck) Stop() { c.cancel() }

// Verify checks a message whose header was parsed by message.ReadHeader:
// the DKIM key queries of all its signatures and the DMARC policy queries
// of its From domain all run at once, and with spf's evaluation, which
// may have been started earlier.
func Verify(ctx context.Context, r Resolver, spf *SPFCheck, hdr *message.Header, msg []byte) Result {
	lk := StartLookups(ctx, r)
	defer lk.Stop()
	return verify(ctx, lk, spf, hdr, msg)
}

// verify is Verify with the queries of lk, some of which may have been
// started while the message was arriving. Whatever it still needs is
// started at once, before anything waits.
func verify(ctx context.Context, lk *Lookups, spf *SPFCheck, hdr *message.Header, msg []byte) Result {
	from, fromErr := fromDomainOf(hdr, lk)
	if fromErr == nil {
		lk.startPolicy(from)
	}
	sets, arcErr := collectARC(hdr)
	for _, q := range arcKeyQueries(sets) {
		lk.start(q)
	}
	var res Result
	res.DKIM = verifyDKIM(lk, hdr, msg)
	res.ARC = ARCResult{Result: arcNone}
	if len(sets) > 0 || arcErr != nil {
		res.ARC = newDKIMMessage(hdr, msg, lk.lookup).verifyARC(sets, arcErr)
	}
	res.ARC.RemoteIP = spf.ip
	res.SPF = spf.Wait(ctx)
	if fromErr != nil {
		res.DMARC = DMARCResult{Result: "none", Reason: "no single From domain"}
	} else {
		res.DMARC = evalDMARC(from, lookupPolicy(ctx, lk, from), res.SPF, res.DKIM)
	}
	return res
}

// headerEnd is where the fields of hdr end in msg: the blank line and
// the body follow.
func headerEnd(fields []message.HeaderField) int {
	n := 0
	for i := range fields {
		n += len(fields[i].Raw)
	}
	return n
}

// verifyDKIM verifies the first maxSignatures signatures (RFC 6376 §6.1
// lets a verifier limit them) with our own verifier (dkimverify.go), in
// header order. The keys of all of them are asked for (if Field has not
// already) before any is waited for. A signature listing more than
// maxSignedFields names is a permerror, not verified and not counted.
func verifyDKIM(lk *Lookups, hdr *message.Header, msg []byte) []DKIMResult {
	var sigs []dkimSig
	var out []DKIMResult
	for i := range hdr.Fields {
		f := &hdr.Fields[i]
		if len(sigs) == maxSignatures || !strings.EqualFold(f.Name, "DKIM-Signature") {
			continue
		}
		tags, err := parseTagList(f.Value)
		if err == nil {
			if h, _ := tags.get("h"); bytes.Count(h, []byte(":")) >= maxSignedFields {
				d, _ := tags.get("d")
				out = append(out, DKIMResult{Result: "permerror", Domain: strings.ToLower(stripFWS(d)), Err: errTooManyNames})
				continue
			}
			if q := keyQuery(sigInfo{d: tagString(tags, "d"), s: tagString(tags, "s")}); q != "" {
				lk.start(q)
			}
		}
		sigs = append(sigs, dkimSig{field: f, tags: tags, err: err})
	}
	if len(sigs) == 0 {
		return out
	}
	m := newDKIMMessage(hdr, msg, lk.lookup)
	for i := range sigs {
		out = append(out, m.verify(&sigs[i]))
	}
	return out
}

// tagString is a tag's value without whitespace, "" if absent.
func tagString(t tagList, name string) string {
	v, _ := t.get(name)
	return stripFWS(v)
}

// sigInfo holds the tags of a DKIM-Signature that name its key and its
// signed fields (RFC 6376 §3.5), whitespace removed.
type sigInfo struct{ d, s, h string }

// sigTags reads the d=, s= and h= tags of a DKIM-Signature value (RFC
// 6376 §3.2 tag-list), enough to find the key to ask for; the verifier
// reads the whole signature itself. The other values (b= and bh= are the
// long ones) are skipped without a copy.
func sigTags(v []byte) sigInfo {
	var t sigInfo
	for len(v) > 0 {
		var kv []byte
		kv, v, _ = bytes.Cut(v, []byte(";"))
		k, val, ok := bytes.Cut(kv, []byte("="))
		if !ok {
			continue
		}
		switch string(bytes.TrimSpace(k)) {
		case "d":
			t.d = compact(val)
		case "s":
			t.s = compact(val)
		case "h":
			t.h = compact(val)
		}
	}
	return t
}

// compact is v without its whitespace (folding included).
func compact(v []byte) string {
	return strings.Join(strings.Fields(string(v)), "")
}

// fromDomainOf returns the domain of the single From address (RFC 7489
// §6.6.1); a message with none or several has no DMARC identity. The
// domain lk found when the field arrived is taken if the field is the
// same.
func fromDomainOf(hdr *message.Header, lk *Lookups) (string, error) {
	if hdr.Count("From") != 1 {
		return "", errors.New("not exactly one From field")
	}
	var d string
	var known bool
	for i := range hdr.Fields {
		if f := &hdr.Fields[i]; strings.EqualFold(f.Name, "From") {
			if d, known = lk.knownFrom(f.Value); !known {
				d = singleDomain(message.ParseAddressList(message.UnfoldValue(f.Value)))
			}
			break
		}
	}
	if d == "" {
		return "", errors.New("not exactly one From address")
	}
	return d, nil
}

// singleDomain is the lower-case domain of the one address of list that
// has one, "" if there are none or several.
func singleDomain(list []message.Address) string {
	d := ""
	for _, a := range list {
		if a.Host == "" {
			continue
		}
		if d != "" {
			return ""
		}
		d = strings.ToLower(a.Host)
	}
	return d
}

// policyLookup is the outcome of the DMARC policy queries.
type policyLookup struct {
	rec *dmarc.Record
	org bool
	err error
}

// lookupPolicy reads the policy of domain and, if it has none, of its
// organizational domain (RFC 7489 §6.6.3). Both queries were started at
// once (Lookups.startPolicy): the second read only joins.
func lookupPolicy(ctx context.Context, r txtResolver, domain string) policyLookup {
	rec, err := lookupRecord(ctx, r, domain)
	od := OrgDomain(domain)
	if err == nil || !errors.Is(err, dmarc.ErrNoPolicy) || od == domain {
		return policyLookup{rec: rec, err: err}
	}
	rec, err = lookupRecord(ctx, r, od)
	return policyLookup{rec: rec, org: true, err: err}
}

// bounded gives every query LookupTimeout.
type bounded struct{ Resolver }

// cachedTXT is the optional side of a Resolver that hands out a kept
// answer without asking or waiting (dnsresolver.Cache, which smtpd puts
// in front of its resolver).
type cachedTXT interface {
	CachedTXT(name string) (txt []string, ok bool, err error)
}

// cachedTXT returns the answer to a TXT query for name if the resolver
// has it in its cache; ok is false if it has not, or keeps nothing.
func (b bounded) cachedTXT(name string) (txt []string, ok bool, err error) {
	if c, ok := b.Resolver.(cachedTXT); ok {
		return c.CachedTXT(name)
	}
	return nil, false, nil
}

// LookupTXT answers from the cache when it can: no timer and context for
// an answer that is already here (SPF, DKIM and DMARC ask three or more
// per message, most of them of the same few domains).
func (b bounded) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if txt, ok, err := b.cachedTXT(name); ok {
		return txt, err
	}
	ctx, cancel := context.WithTimeout(ctx, LookupTimeout)
	defer cancel()
	return b.Resolver.LookupTXT(ctx, name)
}

func (b bounded) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	ctx, cancel := context.WithTimeout(ctx, LookupTimeout)
	defer cancel()
	return b.Resolver.LookupMX(ctx, name)
}

func (b bounded) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	ctx, cancel := context.WithTimeout(ctx, LookupTimeout)
	defer cancel()
	return b.Resolver.LookupIPAddr(ctx, host)
}

func (b bounded) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, LookupTimeout)
	defer cancel()
	return b.Resolver.LookupAddr(ctx, addr)
}
