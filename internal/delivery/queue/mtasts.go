package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MTA-STS (RFC 8461): a domain that publishes a policy in "enforce" mode
// receives mail only over STARTTLS with a certificate valid for an MX host
// the policy names. Policies are cached for their max_age, refetched when
// the TXT record's id changes, and used from the cache while a refetch
// fails (§5.1), so that an attacker who blocks the policy host cannot turn
// enforcement off.

const (
	stsMaxPolicy = 64 << 10 // RFC 8461 §3.3: policy bodies are small
	stsMaxAge    = 31557600 // §3.2: at most one year
	stsTimeout   = 30 * time.Second
)

type stsPolicy struct {
	mode    string // "enforce", "testing", "none"
	mx      []string
	maxAge  time.Duration
	id      string // from the TXT record
	fetched time.Time
}

// parseSTSPolicy parses a policy body (RFC 8461 §3.2): "key: value" lines.
func parseSTSPolicy(b []byte) (*stsPolicy, error) {
	p := &stsPolicy{}
	version, age := "", ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "version":
			version = v
		case "mode":
			p.mode = v
		case "max_age":
			age = v
		case "mx":
			p.mx = append(p.mx, strings.ToLower(v))
		}
	}
	if version != "STSv1" {
		return nil, errors.New("mta-sts: not an STSv1 policy")
	}
	switch p.mode {
	case "enforce", "testing", "none":
	default:
		return nil, fmt.Errorf("mta-sts: bad mode %q", p.mode)
	}
	n, err := strconv.Atoi(age)
	if err != nil || n < 0 || len(age) > 10 {
		return nil, fmt.Errorf("mta-sts: bad max_age %q", age)
	}
	p.maxAge = time.Duration(min(n, stsMaxAge)) * time.Second
	if p.mode != "none" && len(p.mx) == 0 {
		return nil, errors.New("mta-sts: no mx")
	}
	return p, nil
}

// matches reports whether MX host name h is allowed by the policy: an
// exact name, or "*.example.com" matching one more label (§4.1).
func (p *stsPolicy) matches(h string) bool {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	for _, m := range p.mx {
		if m == h {
			return true
		}
		if rest, ok := strings.CutPrefix(m, "*."); ok {
			if i := strings.IndexByte(h, '.'); i > 0 && h[i+1:] == rest {
				return true
			}
		}
	}
	return false
}

// stsCache keeps policies per domain.
type stsCache struct {
	mu sync.Mutex
	m  map[string]*stsPolicy
}

// stsID returns the id of the domain's _mta-sts TXT record (§3.1), "" if
// there is none.
func (q *Queue) stsID(ctx context.Context, domain string) string {
	txts, err := q.opt.Resolver.LookupTXT(ctx, "_mta-sts."+domain)
	if err != nil {
		return ""
	}
	for _, t := range txts {
		if !strings.HasPrefix(t, "v=STSv1;") {
			continue
		}
		for _, f := range strings.Split(t, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(f), "="); ok && k == "id" {
				return v
			}
		}
	}
	return ""
}

// stsPolicy returns the domain's policy, or nil if it has none.
func (q *Queue) stsPolicy(ctx context.Context, domain string) *stsPolicy {
	if q.opt.DisableMTASTS {
		return nil
	}
	now := time.Now()
	q.sts.mu.Lock()
	cached := q.sts.m[domain]
	q.sts.mu.Unlock()
	if cached != nil && now.Sub(cached.fetched) >= cached.maxAge {
		cached = nil
	}
	id := q.stsID(ctx, domain)
	if id == "" || (cached != nil && cached.id == id) {
		return cached
	}
	p, err := q.fetchSTS(ctx, domain)
	if err != nil {
		q.log().Warn("queue: MTA-STS policy fetch failed", "domain", domain, "err", err)
		return cached
	}
	p.id, p.fetched = id, now
	q.sts.mu.Lock()
	if q.sts.m == nil {
		q.sts.m = map[string]*stsPolicy{}
	}
	q.sts.m[domain] = p
	q.sts.mu.Unlock()
	return p
}

// fetchSTS gets https://mta-sts.DOMAIN/.well-known/mta-sts.txt (§3.3):
// certificate verified, no redirects, bounded size and time.
func (q *Queue) fetchSTS(ctx context.Context, domain string) (*stsPolicy, error) {
	ctx, cancel := context.WithTimeout(ctx, stsTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "https://mta-sts."+domain+"/.well-known/mta-sts.txt", nil)
	if err != nil {
		return nil, err
	}
	resp, err := q.stsClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, stsMaxPolicy+1))
	if err != nil {
		return nil, err
	}
	if len(b) > stsMaxPolicy {
		return nil, errors.New("policy too large")
	}
	return parseSTSPolicy(b)
}

// stsClient is an HTTP client that resolves through Options.Resolver and
// dials through Options.Dial, like SMTP connections.
func (q *Queue) stsClient() *http.Client {
	tc := q.tlsConfig(hop{}, true)
	tc.ServerName = ""
	return &http.Client{
		Timeout: stsTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("mta-sts: redirects are not followed (RFC 8461 §3.3)")
		},
		Transport: &http.Transport{
			TLSClientConfig: tc,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, port, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				ips, err := q.opt.Resolver.LookupIPAddr(ctx, host)
				if err != nil {
					return nil, err
				}
				var last error = errors.New("no address")
				for _, ip := range ips {
					c, err := q.opt.Dial(ctx, network, net.JoinHostPort(ip.IP.String(), port))
					if err == nil {
						return c, nil
					}
					last = err
				}
				return nil, last
			},
		},
	}
}
