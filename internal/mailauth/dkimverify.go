package mailauth

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"

	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/message"
)

// The DKIM verifier (RFC 6376 §6.1, RFC 8463 for ed25519-sha256) works
// on the message as it is in memory after DATA, with its header already
// split by message.ReadHeader: no second parse, one canonicalization
// pass over the body per (canonicalization, l=) however many
// signatures share it, the signed fields found through an index of the
// header, and key records parsed once (keyCache). Its verdicts are
// go-msgauth's (the tests compare both on a corpus) except where
// go-msgauth departs from the RFC:
//   - l= is honoured (§3.5): a signature whose l= covers the whole
//     canonical body verifies; one that leaves body content unsigned
//     fails (§8.2: unsigned content can be anything), as does every
//     l= signature in go-msgauth;
//   - only the b= tag's value is removed from the signature field
//     (§3.7), not whatever else matches "b=";
//   - t=s in the key record is enforced (§3.6.1), i= is compared with
//     d= case-insensitively, and a DNS failure other than "no such
//     name" is a temperror (§6.1.2), whatever error type the resolver
//     returned.

// dkimFail is a DKIM verdict with its reason: result is "fail",
// "permerror" or "temperror" (RFC 8601 §2.7.1).
type dkimFail struct {
	result string
	err    error
}

func permFail(format string, a ...any) *dkimFail {
	return &dkimFail{"permerror", fmt.Errorf("dkim: "+format, a...)}
}

func sigFail(format string, a ...any) *dkimFail {
	return &dkimFail{"fail", fmt.Errorf("dkim: "+format, a...)}
}

// keyFetcher returns the TXT records of a key's name.
type keyFetcher func(name string) ([]string, error)

// bodyKey names one body hash: canonicalization and l= (-1: none).
type bodyKey struct {
	relaxed bool
	limit   int64
}

// bodyHash is a computed body hash and the canonical body's length.
type bodyHash struct {
	sum    []byte
	length int64
}

// dkimMessage is one message under verification.
type dkimMessage struct {
	hdr    *message.Header
	body   []byte
	fetch  keyFetcher
	now    time.Time
	bodies map[bodyKey]bodyHash
	byName map[string][]int // lower-case field name -> field indexes, top down
	buf    []byte
}

func newDKIMMessage(hdr *message.Header, msg []byte, fetch keyFetcher) *dkimMessage {
	return &dkimMessage{hdr: hdr, body: msg[min(hdr.Size, len(msg)):], fetch: fetch, now: time.Now()}
}

// dkimSig is a DKIM-Signature's parsed tag-list and its field.
type dkimSig struct {
	field *message.HeaderField
	tags  tagList
	err   error
}

// verify checks one signature (RFC 6376 §6.1.1 to §6.1.3), in
// go-msgauth's order of checks, so that a signature with several faults
// gets the same verdict.
func (m *dkimMessage) verify(s *dkimSig) DKIMResult {
	var res DKIMResult
	if s.err != nil {
		return m.result(res, permFail("malformed signature tags: %v", s.err))
	}
	t := s.tags
	if v, _ := t.get("v"); string(v) != "1" {
		return m.result(res, permFail("incompatible signature version"))
	}
	d, _ := t.get("d")
	domain := stripFWS(d)
	res.Domain = strings.ToLower(domain)
	for _, name := range []string{"v", "a", "b", "bh", "d", "h", "s"} {
		if _, ok := t.get(name); !ok {
			return m.result(res, permFail("signature missing required tag %s=", name))
		}
	}
	res.Identifier = "@" + domain
	if i, ok := t.get("i"); ok {
		res.Identifier = stripFWS(i)
		li, ld := strings.ToLower(res.Identifier), strings.ToLower(domain)
		// §3.5 i=: its domain is d= or a subdomain of it.
		if !strings.HasSuffix(li, "@"+ld) && !strings.HasSuffix(li, "."+ld) {
			return m.result(res, permFail("i= not within d="))
		}
	}
	h, _ := t.get("h")
	names := strings.Split(stripFWS(h), ":")
	if !hasFold(names, "from") {
		// §5.4: From MUST be signed.
		return m.result(res, permFail("From field not signed"))
	}
	if f := m.checkTimes(t); f != nil {
		return m.result(res, f)
	}
	key, f := m.key(t, domain)
	if f != nil {
		return m.result(res, f)
	}
	if f := checkKeyFits(t, key, res.Identifier, domain); f != nil {
		return m.result(res, f)
	}
	hcan, bcan, f := canonicalizations(t)
	if f != nil {
		return m.result(res, f)
	}
	return m.result(res, m.checkHashes(s, key, names, hcan, bcan))
}

// result fills in the verdict.
func (m *dkimMessage) result(res DKIMResult, f *dkimFail) DKIMResult {
	res.Result = "pass"
	if f != nil {
		res.Result, res.Err = f.result, f.err
	}
	return res
}

func hasFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// checkTimes reads t= and x= (§3.5): an expired signature is a
// PERMFAIL.
func (m *dkimMessage) checkTimes(t tagList) *dkimFail {
	if v, ok := t.get("t"); ok {
		if _, err := strconv.ParseInt(stripFWS(v), 10, 64); err != nil {
			return permFail("malformed t=: %v", err)
		}
	}
	if v, ok := t.get("x"); ok {
		x, err := strconv.ParseInt(stripFWS(v), 10, 64)
		if err != nil {
			return permFail("malformed x=: %v", err)
		}
		if m.now.After(time.Unix(x, 0)) {
			return permFail("signature has expired")
		}
	}
	return nil
}

// key fetches and parses the signature's key (§6.1.2). The query was
// usually started long before, when the signature field arrived.
func (m *dkimMessage) key(t tagList, domain string) (*dkimKey, *dkimFail) {
	if q, ok := t.get("q"); ok && !hasItem(stripFWS(q), "dns/txt") {
		return nil, permFail("unsupported key query method")
	}
	s, _ := t.get("s")
	txts, err := m.fetch(stripFWS(s) + "._domainkey." + domain)
	switch {
	case err != nil && dnsresolver.IsNotFound(err):
		return nil, permFail("no key for signature: %v", err)
	case err != nil:
		return nil, &dkimFail{"temperror", fmt.Errorf("dkim: key unavailable: %w", err)}
	case len(txts) == 0:
		return nil, permFail("no key for signature")
	case len(txts) > 1:
		// §3.6.2.2: several records give undefined results.
		return nil, permFail("several key records")
	}
	e := parsedKeys.get(txts[0])
	k, err := e.key, e.err
	if err != nil {
		return nil, permFail("%v", err)
	}
	return k, nil
}

// checkKeyFits checks a= against the key (§3.6.1 k= and h=; RFC 8301
// §3.1: rsa-sha1 is not accepted) and t=s.
func checkKeyFits(t tagList, k *dkimKey, identifier, domain string) *dkimFail {
	a, _ := t.get("a")
	keyAlgo, hashAlgo, ok := strings.Cut(stripFWS(a), "-")
	if !ok {
		return permFail("malformed a=")
	}
	if k.hashes != nil && !hasItem(strings.Join(k.hashes, ":"), hashAlgo) {
		return permFail("hash algorithm not allowed by the key")
	}
	if hashAlgo != "sha256" {
		return permFail("unsupported hash algorithm %q", hashAlgo)
	}
	if keyAlgo != k.algo {
		return permFail("key algorithm %q does not match the key", keyAlgo)
	}
	if k.strict {
		_, idDomain, _ := strings.Cut(identifier, "@")
		if !strings.EqualFold(idDomain, domain) {
			return permFail("i= is a subdomain of d= and the key has t=s")
		}
	}
	return nil
}

// canonicalizations reads c= (§3.5; "simple/simple" by default).
func canonicalizations(t tagList) (hrelaxed, brelaxed bool, f *dkimFail) {
	c, _ := t.get("c")
	hc, bc, _ := strings.Cut(stripFWS(c), "/")
	var ok1, ok2 bool
	hrelaxed, ok1 = canonName(hc)
	brelaxed, ok2 = canonName(bc)
	if !ok1 || !ok2 {
		return false, false, permFail("unsupported canonicalization %q", c)
	}
	return hrelaxed, brelaxed, nil
}

func canonName(s string) (relaxed, ok bool) {
	switch s {
	case "", "simple":
		return false, true
	case "relaxed":
		return true, true
	}
	return false, false
}

// checkHashes checks the body hash, then the signature over the header
// hash (§6.1.3).
func (m *dkimMessage) checkHashes(s *dkimSig, k *dkimKey, names []string, hrelaxed, brelaxed bool) *dkimFail {
	t := s.tags
	limit := int64(-1)
	if l, ok := t.get("l"); ok {
		n, err := strconv.ParseInt(stripFWS(l), 10, 64)
		if err != nil || n < 0 {
			return permFail("malformed l=")
		}
		limit = n
	}
	wantBody, err := decodeB64(t, "bh")
	if err != nil {
		return permFail("malformed bh=: %v", err)
	}
	sig, err := decodeB64(t, "b")
	if err != nil {
		return permFail("malformed b=: %v", err)
	}
	got := m.bodyHash(bodyKey{brelaxed, limit})
	if limit >= 0 && got.length != limit {
		// Shorter: §6.1.3 fails it. Longer: content after the signed
		// part is unsigned (§8.2).
		return sigFail("l=%d but the canonical body has %d bytes", limit, got.length)
	}
	if subtle.ConstantTimeCompare(got.sum, wantBody) != 1 {
		return sigFail("body hash did not verify")
	}
	return verifyHash(k, m.headerHash(s, names, hrelaxed), sig)
}

// verifyHash checks a signature over a header hash with key k (RFC 6376
// §3.3, RFC 8463 §3: Ed25519 signs the SHA-256 hash).
func verifyHash(k *dkimKey, hashed, sig []byte) *dkimFail {
	switch k.algo {
	case "rsa":
		if err := rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, hashed, sig); err != nil {
			return sigFail("signature did not verify: %v", err)
		}
	case "ed25519":
		if !ed25519.Verify(k.ed, hashed, sig) {
			return sigFail("signature did not verify")
		}
	}
	return nil
}

// decodeB64 decodes a base64 tag value (FWS allowed inside, RFC 6376
// §3.5 b= and bh=).
func decodeB64(t tagList, name string) ([]byte, error) {
	v, _ := t.get(name)
	return base64.StdEncoding.DecodeString(stripFWS(v))
}

// bodyHash computes (once per message and key) the SHA-256 of the
// canonical body, or of its first l= bytes.
func (m *dkimMessage) bodyHash(k bodyKey) bodyHash {
	if h, ok := m.bodies[k]; ok {
		return h
	}
	w := &countingHash{h: sha256.New(), limit: k.limit}
	if k.relaxed {
		canonRelaxedBody(w, m.body)
	} else {
		canonSimpleBody(w, m.body)
	}
	h := bodyHash{w.h.Sum(nil), w.n}
	if m.bodies == nil {
		m.bodies = map[bodyKey]bodyHash{}
	}
	m.bodies[k] = h
	return h
}

// countingHash hashes at most limit bytes (all if limit < 0) and counts
// every byte written.
type countingHash struct {
	h     hash.Hash
	limit int64
	n     int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	q := p
	if c.limit >= 0 {
		room := max(c.limit-c.n, 0)
		q = p[:min(int64(len(p)), room)]
	}
	c.h.Write(q)
	c.n += int64(len(p))
	return len(p), nil
}

// headerHash hashes the signed fields in h= order, each name taking its
// fields from the bottom up (§5.4.2; a name listed more often than there
// are fields adds nothing), then the signature field itself with its b=
// value removed and without its final CRLF (§3.7).
func (m *dkimMessage) headerHash(s *dkimSig, names []string, relaxed bool) []byte {
	m.indexNames()
	h := sha256.New()
	used := map[string]int{}
	for _, n := range names {
		n = strings.ToLower(n)
		idx := m.byName[n]
		u := used[n]
		if u >= len(idx) {
			continue
		}
		used[n] = u + 1
		m.writeField(h, m.hdr.Fields[idx[len(idx)-1-u]].Raw, relaxed)
	}
	sf := withoutB(s.field, s.tags)
	if relaxed {
		m.buf = canonRelaxedHeader(m.buf[:0], sf)
	} else {
		m.buf = append(m.buf[:0], sf...)
	}
	h.Write(bytes.TrimRight(m.buf, "\r\n"))
	return h.Sum(nil)
}

func (m *dkimMessage) writeField(h hash.Hash, raw []byte, relaxed bool) {
	if !relaxed {
		h.Write(raw)
		return
	}
	m.buf = canonRelaxedHeader(m.buf[:0], raw)
	h.Write(m.buf)
}

// indexNames builds the name index once per message: the picker then
// costs one map lookup per h= entry, however large the header.
func (m *dkimMessage) indexNames() {
	if m.byName != nil {
		return
	}
	m.byName = map[string][]int{}
	var lower []byte
	for i := range m.hdr.Fields {
		lower = append(lower[:0], m.hdr.Fields[i].Name...)
		for j, c := range lower {
			if c >= 'A' && c <= 'Z' {
				lower[j] = c + 'a' - 'A'
			}
		}
		if idx, ok := m.byName[string(lower)]; ok {
			m.byName[string(lower)] = append(idx, i)
		} else {
			m.byName[string(lower)] = []int{i}
		}
	}
}

// errTooManyNames: a signature over more than maxSignedFields names.
var errTooManyNames = errors.New("too many signed header fields")
