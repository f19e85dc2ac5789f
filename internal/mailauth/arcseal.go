package mailauth

import (
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"github.com/youju/youju/internal/dkimkeys"
	"github.com/youju/youju/internal/message"
)

// ErrNoSeal: Seal added nothing (the message is forwarded as it is).
var ErrNoSeal = errors.New("arc: not sealed")

// arcSignedFields are the fields an AMS covers when present (RFC 8617
// §4.1.2 follows RFC 6376 §5.4.1); never Authentication-Results nor an
// ARC field (§4.1.2: ARC-Seal MUST NOT be signed; the others are covered
// by the seal).
var arcSignedFields = []string{"From", "To", "Cc", "Subject", "Date", "Message-ID",
	"Reply-To", "In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "List-Id", "List-Unsubscribe", "DKIM-Signature"}

// SealKey picks the key an ARC set is signed with: RSA if the domain has
// one (receivers that check ARC all know rsa-sha256, RFC 8617 §4.1.2
// takes DKIM's algorithms, and few know Ed25519 yet), else the first.
func SealKey(keys []dkimkeys.Key) (dkimkeys.Key, bool) {
	for _, k := range keys {
		if k.Algorithm == dkimkeys.AlgRSA {
			return k, true
		}
	}
	if len(keys) == 0 {
		return dkimkeys.Key{}, false
	}
	return keys[0], true
}

// Seal adds an ARC set to a message we forward (RFC 8617 §5.1): an
// ARC-Authentication-Results with our verdicts (the value of the
// topmost Authentication-Results field naming hostname, which Inbound
// put there), an ARC-Message-Signature and an ARC-Seal of instance i =
// previous + 1, signed as domain with key. The chain validation state
// cv is the arc= verdict of that field. The returned message starts
// with the three new fields. ErrNoSeal (wrapped) means the message is to
// be forwarded unchanged: no verdict of ours, a broken chain, or the
// 50-instance limit of §4.2.1 reached.
func Seal(msg []byte, hostname, domain string, key dkimkeys.Key, now time.Time) ([]byte, error) {
	hdr, err := message.ReadHeader(msg, message.HeaderLimits{})
	if err != nil {
		return msg, fmt.Errorf("%w: %v", ErrNoSeal, err)
	}
	sets, err := collectARC(hdr)
	if err != nil {
		return msg, fmt.Errorf("%w: %v", ErrNoSeal, err)
	}
	if len(sets) >= arcMaxInstance {
		return msg, fmt.Errorf("%w: %d instances already (RFC 8617 §4.2.1)", ErrNoSeal, len(sets))
	}
	ar, cv, err := ourVerdicts(hdr, hostname, len(sets))
	if err != nil {
		return msg, fmt.Errorf("%w: %v", ErrNoSeal, err)
	}
	inst := len(sets) + 1
	algo := key.Algorithm
	common := fmt.Sprintf("i=%d; a=%s; d=%s; s=%s; t=%d", inst, algo, domain, key.Selector, now.Unix())
	m := newDKIMMessage(hdr, msg, nil)

	var cur arcSet
	if cur.aar, err = buildField(fieldAAR + ": i=" + strconv.Itoa(inst) + "; " + ar); err != nil {
		return msg, err
	}
	names := presentFields(hdr, arcSignedFields)
	bh := base64.StdEncoding.EncodeToString(m.bodyHash(bodyKey{relaxed: true, limit: -1}).sum)
	ams := fieldAMS + ": " + common + "; c=relaxed/relaxed;\r\n\th=" + strings.Join(names, ":") +
		";\r\n\tbh=" + bh + "; b="
	cur.ams, cur.amsTags, err = signField(ams, key, func(s *dkimSig) []byte { return m.headerHash(s, names, true) })
	if err != nil {
		return msg, err
	}

	before := sets
	if cv == arcFail {
		// A failed chain is not vouched for: our seal covers our set
		// only (the chain is dead for every later hop, §5.2 step 3).
		before = nil
	}
	as := fieldAS + ": " + common + "; cv=" + cv + ";\r\n\tb="
	cur.as, cur.asTags, err = signField(as, key, func(s *dkimSig) []byte {
		return sealHash(before, arcSet{aar: cur.aar, ams: cur.ams, as: s.field, asTags: s.tags})
	})
	if err != nil {
		return msg, err
	}
	out := make([]byte, 0, len(cur.as.Raw)+len(cur.ams.Raw)+len(cur.aar.Raw)+len(msg))
	out = append(append(append(out, cur.as.Raw...), cur.ams.Raw...), cur.aar.Raw...)
	return append(out, msg...), nil
}

// ourVerdicts returns the value of the topmost Authentication-Results
// field of hostname and the chain validation state it records (RFC
// 8617 §5.1.2: the sealer's own arc= verdict; "none" for the first
// instance).
func ourVerdicts(hdr *message.Header, hostname string, prev int) (string, string, error) {
	for _, f := range hdr.Fields {
		if !strings.EqualFold(f.Name, "Authentication-Results") || !strings.EqualFold(authservID(f.Raw), hostname) {
			continue
		}
		v := strings.TrimSpace(string(f.Value))
		if prev == 0 {
			return v, arcNone, nil
		}
		_, results, err := authres.Parse(message.UnfoldValue(f.Value))
		if err != nil {
			return "", "", fmt.Errorf("our Authentication-Results: %w", err)
		}
		for _, r := range results {
			if a, ok := r.(*authres.ARCResult); ok {
				switch a.Value {
				case authres.ResultPass:
					return v, arcPass, nil
				case authres.ResultFail:
					return v, arcFail, nil
				}
			}
		}
		return "", "", errors.New("no arc verdict of ours for an existing chain")
	}
	return "", "", errors.New("no Authentication-Results of ours")
}

// signField signs a field text that ends in "b=" (hash gives what is
// signed, from the field parsed with an empty b=) and returns it with
// the signature in b=, folded, as a parsed field.
func signField(text string, key dkimkeys.Key, hash func(*dkimSig) []byte) (*message.HeaderField, tagList, error) {
	f, err := buildField(text)
	if err != nil {
		return nil, nil, err
	}
	tags, err := parseTagList(f.Value)
	if err != nil {
		return nil, nil, fmt.Errorf("arc: %w", err)
	}
	hashed := hash(&dkimSig{field: f, tags: tags})
	opts := crypto.SignerOpts(crypto.SHA256)
	if key.Algorithm == dkimkeys.AlgEd25519 {
		opts = crypto.Hash(0) // RFC 8463 §3: Ed25519 over the SHA-256 hash
	}
	sig, err := key.Signer.Sign(rand.Reader, hashed, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("arc: signing with %s: %w", key.Selector, err)
	}
	if f, err = buildField(text + foldB64(base64.StdEncoding.EncodeToString(sig))); err != nil {
		return nil, nil, err
	}
	tags, err = parseTagList(f.Value)
	return f, tags, err
}

// foldB64 breaks a base64 value into lines of 72 (FWS is allowed
// anywhere in it, RFC 6376 §3.5).
func foldB64(s string) string {
	var b strings.Builder
	for len(s) > 72 {
		b.WriteString(s[:72])
		b.WriteString("\r\n\t")
		s = s[72:]
	}
	b.WriteString(s)
	return b.String()
}

// buildField parses a field we built (name, colon, value without the
// final CRLF); a domain or selector with a line break in it would make
// it more than one field.
func buildField(text string) (*message.HeaderField, error) {
	h, err := message.ReadHeader([]byte(text+"\r\n\r\n"), message.HeaderLimits{})
	if err != nil || len(h.Fields) != 1 {
		return nil, fmt.Errorf("arc: built a bad field %.40q", text)
	}
	return &h.Fields[0], nil
}

// presentFields is the names of list that hdr has, in list order.
func presentFields(hdr *message.Header, list []string) []string {
	var out []string
	for _, n := range list {
		if hdr.Count(n) > 0 {
			out = append(out, strings.ToLower(n))
		}
	}
	return out
}

// Sealer seals the mail we forward (Seal) as Domain, with the DKIM keys
// that dkimkeys keeps for it under DataDir; Hostname is our authserv-id,
// the name of the Authentication-Results field whose verdicts the AAR
// repeats. The keys are read at each seal, so a key rotated on disk is
// used at once (forwarding is rare next to delivery).
type Sealer struct {
	DataDir, Hostname, Domain string
	Now                       func() time.Time // nil: time.Now
}

// Seal is Seal with s's domain and key.
func (s *Sealer) Seal(msg []byte) ([]byte, error) {
	keys, err := dkimkeys.Load(s.DataDir, s.Domain)
	if err != nil {
		return msg, fmt.Errorf("%w: %v", ErrNoSeal, err)
	}
	k, ok := SealKey(keys)
	if !ok {
		return msg, fmt.Errorf("%w: no key for %s", ErrNoSeal, s.Domain)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	return Seal(msg, s.Hostname, s.Domain, k, now())
}
