package queue

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/youju/youju/internal/dkimkeys"
)

// signedHeaders are the fields a DKIM signature covers (RFC 6376 §5.4.1).
// From is listed twice: "oversigning" stops a second From from being
// added without breaking the signature (RFC 6376 §8.15).
var signedHeaders = []string{"From", "From", "To", "Cc", "Subject", "Date", "Message-ID",
	"Reply-To", "In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "List-Unsubscribe"}

// keyCache remembers each domain's keys for a minute, so that a domain
// added while the server runs is signed for soon after.
type keyCache struct {
	load func(domain string) ([]dkimkeys.Key, error)
	mu   sync.Mutex
	m    map[string]cachedKeys
}

type cachedKeys struct {
	keys []dkimkeys.Key
	at   time.Time
}

func (c *keyCache) get(domain string) ([]dkimkeys.Key, error) {
	if c.load == nil {
		return nil, nil
	}
	c.mu.Lock()
	e, ok := c.m[domain]
	c.mu.Unlock()
	if ok && time.Since(e.at) < time.Minute {
		return e.keys, nil
	}
	keys, err := c.load(domain)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]cachedKeys{}
	}
	c.m[domain] = cachedKeys{keys, time.Now()}
	c.mu.Unlock()
	return keys, nil
}

// fromDomain returns the domain of the message's From: address (RFC 5322
// §3.6.2), the one DMARC aligns with (RFC 7489 §3.1).
func fromDomain(data []byte) string {
	m, err := mail.ReadMessage(bytes.NewReader(headerOf(data)))
	if err != nil {
		return ""
	}
	list, err := mail.ParseAddressList(m.Header.Get("From"))
	if err != nil || len(list) != 1 {
		return ""
	}
	return domainOf(list[0].Address)
}

// sign prepends one DKIM-Signature per key of the From domain. A message
// of a domain without keys is returned as is.
func (q *Queue) sign(data []byte) ([]byte, error) {
	d := fromDomain(data)
	if d == "" {
		return data, nil
	}
	keys, err := q.keys.get(d)
	if err != nil || len(keys) == 0 {
		return data, err
	}
	return Sign(data, d, keys)
}

// Sign returns msg with a DKIM-Signature for each key (Ed25519 first, as
// dkimkeys lists them), relaxed/relaxed canonicalization (RFC 6376 §3.4),
// signing d=domain. It is exported for the tests of other packages and
// for a future submission path that signs before storing a Sent copy.
func Sign(msg []byte, domain string, keys []dkimkeys.Key) ([]byte, error) {
	var sigs strings.Builder
	for _, k := range keys {
		s, err := dkim.NewSigner(&dkim.SignOptions{
			Domain: domain, Selector: k.Selector, Signer: k.Signer,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             presentHeaders(msg),
		})
		if err != nil {
			return nil, fmt.Errorf("queue: DKIM %s: %w", k.Selector, err)
		}
		if _, err := s.Write(msg); err != nil {
			s.Close()
			return nil, fmt.Errorf("queue: DKIM %s: %w", k.Selector, err)
		}
		if err := s.Close(); err != nil {
			return nil, fmt.Errorf("queue: DKIM %s: %w", k.Selector, err)
		}
		sigs.WriteString(s.Signature())
	}
	out := make([]byte, 0, sigs.Len()+len(msg))
	out = append(out, sigs.String()...)
	return append(out, msg...), nil
}

// presentHeaders returns signedHeaders that the message has (plus the
// oversigned From): signing an absent field is allowed but only makes the
// signature fragile.
func presentHeaders(msg []byte) []string {
	h := strings.ToLower(string(headerOf(msg)))
	var out []string
	for _, k := range signedHeaders {
		lk := strings.ToLower(k)
		if lk == "from" || strings.HasPrefix(h, lk+":") || strings.Contains(h, "\n"+lk+":") {
			out = append(out, k)
		}
	}
	return out
}
