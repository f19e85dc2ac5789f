package mailauth

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"
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

// Verifier input limits: go-msgauth v0.7.0's header reader appends each
// continuation line to the field string read so far (dkim/header.go,
// readHeader: h[len(h)-1] += l + crlf), so a field folded n times costs
// O(n²) copying; its header picker scans every field once per h= entry.
const (
	// maxVerifierFolds: a field folded more often is handed to the
	// verifier unfolded. Relaxed header canonicalization (RFC 6376
	// §3.4.2) unfolds anyway, so only a simple-canonicalized signature
	// over such a field fails to verify.
	maxVerifierFolds = 64
	// maxSignedFields bounds a signature's h= list; a longer one is a
	// permerror without verification (RFC 6376 §6.1: verifiers may limit
	// the work they do).
	maxSignedFields = 128
)

// SPFCheck is an SPF evaluation running in the background, started when
// MAIL FROM names the sender, long before the message has arrived.
type SPFCheck struct {
	done   chan struct{}
	res    SPFResult
	cancel context.CancelFunc
}

// StartSPF starts checking SPF for the connection (RFC 7208 §2.4: the
// MAIL FROM identity, or HELO for a null sender). Stop or Wait must be
// called.
func StartSPF(ctx context.Context, r Resolver, ip net.IP, helo, mailFrom string) *SPFCheck {
	ctx, cancel := context.WithTimeout(ctx, SPFTimeout)
	c := &SPFCheck{done: make(chan struct{}), cancel: cancel}
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
	from, fromErr := fromDomainOf(hdr)
	if fromErr == nil {
		lk.startPolicy(from)
	}
	var res Result
	res.DKIM = verifyDKIM(lk, hdr, msg)
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

// verifyDKIM verifies up to maxSignatures signatures. The keys are asked
// for all at once (if Field has not already) before go-msgauth, which
// queries them one after the other, needs them.
func verifyDKIM(lk *Lookups, hdr *message.Header, msg []byte) []DKIMResult {
	keep, keys, out := signedFields(hdr, lk)
	if len(out) == 0 && keys == 0 {
		return nil
	}
	var in bytes.Buffer
	for i := range hdr.Fields {
		if !keep[i] {
			continue
		}
		f := &hdr.Fields[i]
		if f.Continuations > maxVerifierFolds {
			in.Write(unfoldField(f.Raw))
		} else {
			in.Write(f.Raw)
		}
	}
	if keys == 0 {
		return out
	}
	end := headerEnd(hdr.Fields)
	vs, err := dkim.VerifyWithOptions(&twoParts{in.Bytes(), msg[end:]}, &dkim.VerifyOptions{
		LookupTXT:        lk.lookup,
		MaxVerifications: maxSignatures,
	})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		return append(out, DKIMResult{Result: "permerror", Err: err})
	}
	return append(out, dkimResults(vs)...)
}

// twoParts reads a then b. Unlike io.MultiReader, its WriteTo hands
// both slices to the writer as they are: the verifier's io.Copy of the
// body then needs no 32 KiB copy buffer per message.
type twoParts struct{ a, b []byte }

func (t *twoParts) Read(p []byte) (int, error) {
	if len(t.a) == 0 && len(t.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, t.a)
	t.a = t.a[n:]
	m := copy(p[n:], t.b)
	t.b = t.b[m:]
	return n + m, nil
}

func (t *twoParts) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for _, p := range [][]byte{t.a, t.b} {
		if len(p) == 0 {
			continue
		}
		n, err := w.Write(p)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	t.a, t.b = nil, nil
	return total, nil
}

// signedFields picks the fields the verifier needs: the first
// maxSignatures DKIM-Signature fields and, of each name their h= tags
// list n times, the last n fields of that name (RFC 6376 §5.4.2: fields
// are taken from the bottom up). The verifier then computes the same
// hashes as over the whole header, and its per-name scans of the header
// stay short however many other fields there are. A signature with
// more than maxSignedFields names is a permerror and is left out. The
// key of each signature kept is asked for (sigs counts them).
func signedFields(hdr *message.Header, lk *Lookups) (keep []bool, sigs int, out []DKIMResult) {
	keep = make([]bool, len(hdr.Fields))
	need := map[string]int{}
	for i := range hdr.Fields {
		f := &hdr.Fields[i]
		if !strings.EqualFold(f.Name, "DKIM-Signature") || sigs == maxSignatures {
			continue
		}
		tags := sigTags(f.Value)
		names := strings.Split(strings.ToLower(tags.h), ":")
		if len(names) > maxSignedFields {
			out = append(out, DKIMResult{Result: "permerror", Domain: strings.ToLower(tags.d),
				Err: errors.New("too many signed header fields")})
			continue
		}
		sigs++
		keep[i] = true
		if q := keyQuery(tags); q != "" {
			lk.start(q)
		}
		count := map[string]int{}
		for _, n := range names {
			count[n]++
			need[n] = max(need[n], count[n])
		}
	}
	for i := len(hdr.Fields) - 1; i >= 0 && len(need) > 0; i-- {
		n := strings.ToLower(hdr.Fields[i].Name)
		if need[n] > 0 {
			keep[i] = true
			if need[n]--; need[n] == 0 {
				delete(need, n)
			}
		}
	}
	return keep, sigs, out
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

// unfoldField removes the line breaks of continuation lines, keeping
// the final CRLF (RFC 5322 §2.2.3).
func unfoldField(raw []byte) []byte {
	out := make([]byte, 0, len(raw))
	body := bytes.TrimSuffix(raw, []byte("\r\n"))
	for len(body) > 0 {
		i := bytes.Index(body, []byte("\r\n"))
		if i < 0 {
			out = append(out, body...)
			break
		}
		out = append(out, body[:i]...)
		body = body[i+2:]
	}
	return append(out, "\r\n"...)
}

// fromDomainOf returns the domain of the single From address (RFC 7489
// §6.6.1); a message with none or several has no DMARC identity.
func fromDomainOf(hdr *message.Header) (string, error) {
	if hdr.Count("From") != 1 {
		return "", errors.New("not exactly one From field")
	}
	v, _ := hdr.Get("From")
	d := singleDomain(message.ParseAddressList(v))
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

func (b bounded) LookupTXT(ctx context.Context, name string) ([]string, error) {
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
