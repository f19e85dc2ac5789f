package mailauth

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/youju/youju/internal/message"
)

// ARC, the Authenticated Received Chain (RFC 8617), is ours:
// go-msgauth has none. An ARC set is three fields of one instance i=:
// ARC-Authentication-Results (AAR: what that hop's checks found),
// ARC-Message-Signature (AMS: a DKIM signature without v=, over the
// message as that hop saw it) and ARC-Seal (AS: a signature over every
// ARC set up to its own). The AMS is checked with the DKIM verifier
// (dkimverify.go: canonicalization, key records and their cache), the AS
// with the same key and hash code over the ARC fields.

// The names of the ARC fields (RFC 8617 §4.1).
const (
	fieldAAR = "ARC-Authentication-Results"
	fieldAMS = "ARC-Message-Signature"
	fieldAS  = "ARC-Seal"
)

// arcMaxInstance is the highest instance allowed (RFC 8617 §4.2.1): a
// chain beyond it fails, and no one may seal past it.
const arcMaxInstance = 50

// Chain validation states (RFC 8617 §4.4).
const (
	arcNone = "none"
	arcPass = "pass"
	arcFail = "fail"
)

// ARCResult is the outcome of the ARC chain check (RFC 8617 §5.2).
type ARCResult struct {
	Result string // none, pass or fail
	// Instances is the number of ARC sets of the chain.
	Instances int
	// OldestPass is the lowest instance whose AMS still verifies, 0
	// when all do (RFC 8617 §5.2 step 5); only set for a pass.
	OldestPass int
	// Sealer is the d= of the newest ARC-Seal of a passing chain: the
	// last hop that vouches for the AAR it added.
	Sealer string
	// RemoteIP is the SMTP client that handed us the message, recorded
	// as smtp.remote-ip (RFC 8617 §10.1): the AAR of our seal then tells
	// the next hop where the message entered our domain.
	RemoteIP net.IP
	Err      error
}

// arcSet is the fields of one instance.
type arcSet struct {
	aar, ams, as *message.HeaderField
	amsTags      tagList
	asTags       tagList
}

// errARCStructure: the ARC fields do not form a chain (RFC 8617 §5.2
// step 2: missing, duplicated or out-of-range instances).
var errARCStructure = errors.New("arc: broken chain structure")

// arcFieldKind reports which ARC field name is (0: none). Most fields
// are told apart by their first letter, so a large header costs little.
func arcFieldKind(name string) int {
	if len(name) < len(fieldAS) || name[0]|0x20 != 'a' {
		return 0
	}
	switch {
	case strings.EqualFold(name, fieldAAR):
		return 1
	case strings.EqualFold(name, fieldAMS):
		return 2
	case strings.EqualFold(name, fieldAS):
		return 3
	}
	return 0
}

// aarInstance reads the instance of an AAR value ("i=N; authserv-id;
// results", RFC 8617 §4.1.1): it is not a tag-list.
func aarInstance(v []byte) (int, error) {
	v = trimFWS(v)
	head, _, _ := bytes.Cut(v, []byte(";"))
	name, num, ok := bytes.Cut(head, []byte("="))
	if !ok || string(trimFWS(name)) != "i" {
		return 0, fmt.Errorf("arc: AAR without i=")
	}
	return parseInstance(trimFWS(num))
}

// parseInstance reads an i= value: 1 to arcMaxInstance (RFC 8617
// §4.2.1).
func parseInstance(b []byte) (int, error) {
	if len(b) == 0 || len(b) > 2 {
		return 0, fmt.Errorf("arc: bad instance %q", b)
	}
	n, err := strconv.Atoi(string(b))
	if err != nil || n < 1 || n > arcMaxInstance {
		return 0, fmt.Errorf("arc: bad instance %q", b)
	}
	return n, nil
}

// collectARC gathers the ARC sets of hdr, in instance order (RFC 8617
// §5.2 steps 1 and 2). No ARC field: nil, nil. Every instance 1..N must
// have exactly one field of each kind; anything else is
// errARCStructure, as is a field whose instance cannot be read.
func collectARC(hdr *message.Header) ([]arcSet, error) {
	for i := range hdr.Fields {
		if arcFieldKind(hdr.Fields[i].Name) != 0 {
			return collectARCSets(hdr)
		}
	}
	return nil, nil // most mail: no table of instances (3.7 KB) to clear
}

// collectARCSets is collectARC for a header with ARC fields.
func collectARCSets(hdr *message.Header) ([]arcSet, error) {
	var byInst [arcMaxInstance + 1]arcSet
	maxInst, count := 0, 0
	for i := range hdr.Fields {
		f := &hdr.Fields[i]
		kind := arcFieldKind(f.Name)
		if kind == 0 {
			continue
		}
		count++
		inst, tags, err := arcFieldInstance(kind, f.Value)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errARCStructure, err)
		}
		s := &byInst[inst]
		slot := [...]**message.HeaderField{nil, &s.aar, &s.ams, &s.as}[kind]
		if *slot != nil {
			return nil, fmt.Errorf("%w: two %s fields of i=%d", errARCStructure, f.Name, inst)
		}
		*slot = f
		switch kind {
		case 2:
			s.amsTags = tags
		case 3:
			s.asTags = tags
		}
		maxInst = max(maxInst, inst)
	}
	if count == 0 {
		return nil, nil
	}
	if count != 3*maxInst {
		return nil, fmt.Errorf("%w: %d fields for %d instances", errARCStructure, count, maxInst)
	}
	sets := make([]arcSet, maxInst)
	for i := 1; i <= maxInst; i++ {
		s := byInst[i]
		if s.aar == nil || s.ams == nil || s.as == nil {
			return nil, fmt.Errorf("%w: instance %d incomplete", errARCStructure, i)
		}
		sets[i-1] = s
	}
	return sets, nil
}

// arcFieldInstance reads the instance of an ARC field, and the tags of
// an AMS or AS.
func arcFieldInstance(kind int, v []byte) (int, tagList, error) {
	if kind == 1 {
		n, err := aarInstance(v)
		return n, nil, err
	}
	tags, err := parseTagList(v)
	if err != nil {
		return 0, nil, err
	}
	i, ok := tags.get("i")
	if !ok {
		return 0, nil, errors.New("arc: signature without i=")
	}
	n, err := parseInstance([]byte(stripFWS(i)))
	return n, tags, err
}

// arcKeyQueries are the key record names of the chain's signatures, to
// start before anything waits.
func arcKeyQueries(sets []arcSet) []string {
	var out []string
	for _, s := range sets {
		for _, t := range []tagList{s.amsTags, s.asTags} {
			if q := keyQuery(sigInfo{d: tagString(t, "d"), s: tagString(t, "s")}); q != "" {
				out = append(out, q)
			}
		}
	}
	return out
}

// verifyARC validates the chain of m's header (RFC 8617 §5.2).
func (m *dkimMessage) verifyARC(sets []arcSet, err error) ARCResult {
	if err != nil {
		return ARCResult{Result: arcFail, Err: err}
	}
	n := len(sets)
	if n == 0 {
		return ARCResult{Result: arcNone}
	}
	res := ARCResult{Result: arcFail, Instances: n}
	// Step 3: the newest seal says the chain failed before us.
	if cv := tagString(sets[n-1].asTags, "cv"); cv == arcFail {
		res.Err = errors.New("arc: the newest seal has cv=fail")
		return res
	}
	// Step 4 (§5.1.1): cv=none on instance 1 only, pass on the others.
	for i, s := range sets {
		want := arcPass
		if i == 0 {
			want = arcNone
		}
		if cv := tagString(s.asTags, "cv"); cv != want {
			res.Err = fmt.Errorf("arc: ARC-Seal i=%d has cv=%q, want %s", i+1, cv, want)
			return res
		}
	}
	// Step 5: the newest AMS must verify; the older ones give the
	// oldest instance that still verifies.
	if f := m.verifyAMS(&sets[n-1]); f != nil {
		res.Err = f.err
		return res
	}
	for i := n - 2; i >= 0; i-- {
		if m.verifyAMS(&sets[i]) != nil {
			res.OldestPass = i + 2
			break
		}
	}
	// Step 6: every seal, newest first.
	for i := n - 1; i >= 0; i-- {
		if f := m.verifyAS(sets, i); f != nil {
			res.Err, res.OldestPass = f.err, 0
			return res
		}
	}
	res.Result = arcPass
	res.Sealer = strings.ToLower(tagString(sets[n-1].asTags, "d"))
	return res
}

// verifyAMS checks one ARC-Message-Signature (RFC 8617 §4.1.2): a DKIM
// signature in all but v= and i=.
func (m *dkimMessage) verifyAMS(s *arcSet) *dkimFail {
	t := s.amsTags
	for _, name := range []string{"a", "b", "bh", "d", "h", "s"} {
		if _, ok := t.get(name); !ok {
			return permFail("arc: AMS missing required tag %s=", name)
		}
	}
	names := strings.Split(tagString(t, "h"), ":")
	if len(names) > maxSignedFields {
		return permFail("arc: AMS signs too many fields")
	}
	// §4.1.2: the AMS MUST NOT sign ARC-Seal fields.
	if hasFold(names, fieldAS) {
		return permFail("arc: AMS signs ARC-Seal")
	}
	domain := tagString(t, "d")
	key, f := m.key(t, domain)
	if f != nil {
		return f
	}
	if f := checkKeyFits(t, key, "@"+domain, domain); f != nil {
		return f
	}
	hcan, bcan, f := canonicalizations(t)
	if f != nil {
		return f
	}
	return m.checkHashes(&dkimSig{field: s.ams, tags: t}, key, names, hcan, bcan)
}

// verifyAS checks the ARC-Seal of sets[i] (RFC 8617 §4.1.3, §5.1.1).
func (m *dkimMessage) verifyAS(sets []arcSet, i int) *dkimFail {
	t := sets[i].asTags
	for _, name := range []string{"a", "b", "cv", "d", "s"} {
		if _, ok := t.get(name); !ok {
			return permFail("arc: ARC-Seal missing required tag %s=", name)
		}
	}
	if _, ok := t.get("h"); ok {
		// §4.1.3: an h= tag in an ARC-Seal is a failure.
		return permFail("arc: ARC-Seal with h=")
	}
	domain := tagString(t, "d")
	key, f := m.key(t, domain)
	if f != nil {
		return f
	}
	if f := checkKeyFits(t, key, "@"+domain, domain); f != nil {
		return f
	}
	sig, err := decodeB64(t, "b")
	if err != nil {
		return permFail("arc: malformed b=: %v", err)
	}
	return verifyHash(key, sealHash(sets[:i], sets[i]), sig)
}

// sealHash is the hash an ARC-Seal signs (RFC 8617 §5.1.1): the ARC sets
// before it in instance order, each as AAR, AMS, AS, then its own AAR
// and AMS and itself without its b= value and final CRLF, all in relaxed
// header canonicalization.
func sealHash(before []arcSet, cur arcSet) []byte {
	h := sha256.New()
	var buf []byte
	for _, s := range before {
		for _, f := range []*message.HeaderField{s.aar, s.ams, s.as} {
			buf = canonRelaxedHeader(buf[:0], f.Raw)
			h.Write(buf)
		}
	}
	for _, f := range []*message.HeaderField{cur.aar, cur.ams} {
		buf = canonRelaxedHeader(buf[:0], f.Raw)
		h.Write(buf)
	}
	buf = canonRelaxedHeader(buf[:0], withoutB(cur.as, cur.asTags))
	h.Write(bytes.TrimRight(buf, "\r\n"))
	return h.Sum(nil)
}

// withoutB is a signature field with its b= value removed (RFC 6376
// §3.7, RFC 8617 §5.1.1).
func withoutB(f *message.HeaderField, tags tagList) []byte {
	bt := tags.find("b")
	if bt == nil {
		return f.Raw
	}
	off := len(f.Raw) - len(f.Value)
	out := make([]byte, 0, len(f.Raw))
	return append(append(out, f.Raw[:off+bt.start]...), f.Raw[off+bt.end:]...)
}
