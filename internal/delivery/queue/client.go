package queue

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/youju/youju/internal/dnsresolver"
)

// TLS modes of a Route.
const (
	TLSOpportunistic = ""         // STARTTLS if offered, unverified (RFC 7435); plaintext otherwise
	TLSStartTLS      = "starttls" // STARTTLS required, certificate verified
	TLSImplicit      = "implicit" // TLS from the first byte (RFC 8314 §3.3), verified
	TLSNone          = "none"     // never TLS
)

// Route is a fixed next hop: the smarthost, or a per-domain transport pin
// (like a Postfix transport map entry).
type Route struct {
	Addr     string // host:port
	TLS      string // one of the TLS* modes
	Username string // AUTH PLAIN (or LOGIN) when set; needs TLS unless TLS is "none"
	Password string
	// InsecureSkipVerify accepts any certificate for a required TLS mode
	// (a relay with a self-signed certificate on a private network).
	InsecureSkipVerify bool
}

// hop is one host to try for a domain.
type hop struct {
	name   string      // host name (TLS server name, pool key)
	addrs  []string    // ip:port
	route  *Route      // nil for an MX host
	sts    bool        // MTA-STS enforce: STARTTLS with a verified certificate
	dane   *danePolicy // secure TLSA records: STARTTLS matching them (dane.go)
	domain string      // the recipient domain of an MX hop, for TLS reports (tlsrpt.go)
}

// result is the outcome for one recipient of an attempt.
type result struct {
	code     int // SMTP reply code; 0 for a network or local error
	enhanced string
	diag     string
	remote   string
	perm     bool
}

func (r result) sent() bool { return r.code/100 == 2 }

func tempResult(diag string) result { return result{code: 0, diag: diag} }

func errResult(err error, remote string) result {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		r := result{code: se.Code, diag: se.Message, remote: remote, perm: se.Code/100 == 5}
		if se.EnhancedCode != (smtp.EnhancedCode{}) && se.EnhancedCode != smtp.NoEnhancedCode {
			r.enhanced = fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
		}
		return r
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return result{code: te.Code, diag: te.Msg, remote: remote, perm: te.Code/100 == 5}
	}
	return result{diag: err.Error(), remote: remote}
}

// hops returns the hosts to try for domain, in order: the transport pin,
// else the smarthost, else the MX hosts by preference (RFC 5321 §5.1),
// else the domain itself (implicit MX). A permanent error means the domain
// cannot receive mail at all.
func (q *Queue) hops(ctx context.Context, domain string) ([]hop, *result) {
	if r, ok := q.opt.Transports[domain]; ok {
		return q.routeHop(ctx, &r)
	}
	if q.opt.Smarthost != nil {
		return q.routeHop(ctx, q.opt.Smarthost)
	}
	mxs, err := q.opt.Resolver.LookupMX(ctx, domain)
	var names []string
	switch {
	case err != nil && dnsresolver.IsNotFound(err) && len(mxs) == 0:
		// RFC 5321 §5.1: no MX records, the domain is its own implicit MX.
		names = []string{domain}
	case err != nil && len(mxs) == 0:
		r := tempResult("MX lookup: " + err.Error())
		return nil, &r
	default:
		sort.SliceStable(mxs, func(i, j int) bool { return mxs[i].Pref < mxs[j].Pref })
		for _, mx := range mxs {
			h := strings.TrimSuffix(mx.Host, ".")
			if h == "" {
				// RFC 7505 §3: a null MX, the domain accepts no mail.
				return nil, &result{code: 556, enhanced: "5.1.10", diag: "domain " + domain + " accepts no mail (null MX)", perm: true}
			}
			names = append(names, h)
		}
	}
	sts := q.stsPolicy(ctx, domain)
	if sts != nil && sts.mode == "enforce" {
		// RFC 8461 §4.1: only MX hosts the policy names.
		var ok []string
		for _, n := range names {
			if sts.matches(n) {
				ok = append(ok, n)
			}
		}
		if len(ok) == 0 {
			r := tempResult("no MX host of " + domain + " matches its MTA-STS policy")
			r.enhanced = "4.7.5"
			return nil, &r
		}
		names = ok
	}
	var hs []hop
	var last error
	for _, n := range names {
		ips, err := q.opt.Resolver.LookupIPAddr(ctx, n)
		if err != nil {
			last = err
			continue
		}
		h := hop{name: n, sts: sts != nil && sts.mode == "enforce", domain: domain}
		if h.dane, err = q.dane(ctx, n, domain); err != nil {
			last = err // RFC 7672 §2.1.1: not this host, not without its records
			continue
		} else if h.dane != nil {
			h.sts = false // RFC 8461 §2: DANE takes precedence over MTA-STS
		}
		for _, ip := range ips {
			h.addrs = append(h.addrs, net.JoinHostPort(ip.IP.String(), "25"))
		}
		hs = append(hs, h)
	}
	if len(hs) == 0 {
		if last != nil && dnsresolver.IsNotFound(last) && len(names) == 1 && names[0] == domain {
			return nil, &result{code: 550, enhanced: "5.1.2", diag: "domain " + domain + " does not exist", perm: true}
		}
		r := tempResult(fmt.Sprintf("no usable mail host of %s: %v", domain, last))
		return nil, &r
	}
	return hs, nil
}

func (q *Queue) routeHop(ctx context.Context, r *Route) ([]hop, *result) {
	host, port, err := net.SplitHostPort(r.Addr)
	if err != nil {
		return nil, &result{diag: "bad route address " + r.Addr}
	}
	ips, err := q.opt.Resolver.LookupIPAddr(ctx, host)
	if err != nil {
		res := tempResult("route " + r.Addr + ": " + err.Error())
		return nil, &res
	}
	h := hop{name: host, route: r}
	for _, ip := range ips {
		h.addrs = append(h.addrs, net.JoinHostPort(ip.IP.String(), port))
	}
	return []hop{h}, nil
}

// session is an open SMTP client connection.
type session struct {
	c      *smtp.Client
	conn   net.Conn
	key    string
	remote string
	tls    bool
	used   time.Time
}

func (s *session) close() { s.c.Close() }

// pool keeps idle sessions per hop for reuse by the next message to the
// same destination: a burst to one domain costs one TCP+TLS handshake.
type pool struct {
	mu   sync.Mutex
	idle map[string][]*session
}

func (p *pool) get(key string, maxIdle time.Duration) *session {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := p.idle[key]; len(l) > 0; l = p.idle[key] {
		s := l[len(l)-1]
		p.idle[key] = l[:len(l)-1]
		if time.Since(s.used) < maxIdle {
			return s
		}
		s.conn.SetDeadline(time.Now().Add(time.Second))
		go s.c.Quit()
	}
	return nil
}

func (p *pool) put(s *session) {
	s.used = time.Now()
	p.mu.Lock()
	if p.idle == nil {
		p.idle = map[string][]*session{}
	}
	p.idle[s.key] = append(p.idle[s.key], s)
	p.mu.Unlock()
}

// reap closes sessions idle for longer than maxIdle (all if maxIdle is 0).
func (p *pool) reap(maxIdle time.Duration) {
	p.mu.Lock()
	var old []*session
	for k, l := range p.idle {
		keep := l[:0]
		for _, s := range l {
			if maxIdle == 0 || time.Since(s.used) >= maxIdle {
				old = append(old, s)
			} else {
				keep = append(keep, s)
			}
		}
		p.idle[k] = keep
	}
	p.mu.Unlock()
	for _, s := range old {
		s.conn.SetDeadline(time.Now().Add(time.Second))
		s.c.Quit()
		s.c.Close()
	}
}

// greetedConn replays a greeting to go-smtp's client, which expects one
// when it starts: we read the real greeting and did EHLO/STARTTLS
// ourselves, to choose TLS before the client takes over (RFC 3207 §4.2:
// after TLS the client starts again with EHLO, and no greeting comes).
type greetedConn struct {
	net.Conn
	prefix string
}

func (g *greetedConn) Read(b []byte) (int, error) {
	if g.prefix != "" {
		n := copy(b, g.prefix)
		g.prefix = g.prefix[n:]
		return n, nil
	}
	return g.Conn.Read(b)
}

func (q *Queue) tlsConfig(h hop, verify bool) *tls.Config {
	name := h.name
	var c *tls.Config
	if q.opt.TLSConfig != nil {
		c = q.opt.TLSConfig.Clone()
	} else {
		c = &tls.Config{}
	}
	c.ServerName = name
	c.MinVersion = tls.VersionTLS12
	// Opportunistic TLS (RFC 7435) encrypts without authenticating: most
	// MX certificates do not match their names, and refusing would only
	// fall back to plaintext.
	c.InsecureSkipVerify = !verify || c.InsecureSkipVerify
	if h.dane != nil {
		// RFC 7672 §3: the TLSA records, not the Web PKI, authenticate.
		c.InsecureSkipVerify, c.VerifyConnection = true, h.dane.verify
	}
	return c
}

// connect opens a session to addr of hop h, with the TLS mode of its
// route and AUTH if configured.
func (q *Queue) connect(ctx context.Context, h hop, addr string, mode string) (*session, error) {
	dctx, cancel := context.WithTimeout(ctx, q.opt.ConnectTimeout)
	defer cancel()
	conn, err := q.opt.Dial(dctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &session{conn: conn, remote: h.name + " [" + addr + "]"}
	verify := h.sts || (h.route != nil && !h.route.InsecureSkipVerify)
	if mode == TLSImplicit {
		tc := tls.Client(conn, q.tlsConfig(h, verify))
		conn.SetDeadline(time.Now().Add(q.opt.ConnectTimeout))
		if err := tc.HandshakeContext(dctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS with %s: %w", s.remote, err)
		}
		s.conn, s.tls = tc, true
		s.c = smtp.NewClient(tc)
	} else {
		fresh, err := q.starttls(dctx, s, h, mode, verify)
		if err != nil {
			conn.Close()
			if errors.Is(err, errTLSHandshake) && mode == TLSOpportunistic {
				// RFC 7435 §5: a failed opportunistic handshake falls back to
				// a new plaintext connection rather than no delivery.
				return q.connect(ctx, h, addr, TLSNone)
			}
			return nil, err
		}
		s.c = smtp.NewClient(fresh)
	}
	s.conn.SetDeadline(time.Time{})
	s.c.CommandTimeout = q.opt.CommandTimeout
	s.c.SubmissionTimeout = q.opt.DataTimeout
	if err := s.c.Hello(q.opt.Hostname); err != nil {
		s.close()
		return nil, err
	}
	if err := q.auth(s, h.route); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

var errTLSHandshake = errors.New("TLS handshake failed")

// starttls reads the greeting, says EHLO and upgrades to TLS if offered
// (or required by mode), then returns a connection for the go-smtp client.
func (q *Queue) starttls(ctx context.Context, s *session, h hop, mode string, verify bool) (net.Conn, error) {
	s.conn.SetDeadline(time.Now().Add(q.opt.CommandTimeout))
	tp := textproto.NewConn(s.conn)
	if _, msg, err := tp.ReadResponse(220); err != nil {
		return nil, fmt.Errorf("greeting: %w", err)
	} else if strings.Contains(msg, "\n") {
		msg, _, _ = strings.Cut(msg, "\n")
	}
	if err := tp.PrintfLine("EHLO %s", q.opt.Hostname); err != nil {
		return nil, err
	}
	_, ext, err := tp.ReadResponse(250)
	if err != nil {
		return nil, fmt.Errorf("EHLO: %w", err)
	}
	offered := false
	for _, l := range strings.Split(ext, "\n") {
		if strings.EqualFold(strings.TrimSpace(l), "STARTTLS") {
			offered = true
		}
	}
	greet := "220 " + h.name + " ESMTP\r\n"
	if mode == TLSNone || (!offered && mode == TLSOpportunistic) {
		return &greetedConn{Conn: s.conn, prefix: greet}, nil
	}
	if !offered {
		return nil, &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: h.name + " does not offer STARTTLS, which the route requires"}
	}
	if err := tp.PrintfLine("STARTTLS"); err != nil {
		return nil, err
	}
	if _, _, err := tp.ReadResponse(220); err != nil {
		if mode == TLSOpportunistic {
			return nil, fmt.Errorf("%w: STARTTLS: %v", errTLSHandshake, err)
		}
		return nil, fmt.Errorf("STARTTLS: %w", err)
	}
	tc := tls.Client(s.conn, q.tlsConfig(h, verify))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("%w with %s: %v", errTLSHandshake, s.remote, err)
	}
	s.conn, s.tls = tc, true
	return &greetedConn{Conn: tc, prefix: greet}, nil
}

// auth authenticates to a route with a user name: PLAIN if offered, else
// LOGIN. Credentials never cross an unencrypted connection unless the
// route says TLS "none" explicitly.
func (q *Queue) auth(s *session, r *Route) error {
	if r == nil || r.Username == "" {
		return nil
	}
	if !s.tls && r.TLS != TLSNone {
		return errors.New("refusing to send credentials without TLS")
	}
	var c sasl.Client
	switch {
	case s.c.SupportsAuth("PLAIN"):
		c = sasl.NewPlainClient("", r.Username, r.Password)
	case s.c.SupportsAuth("LOGIN"):
		c = sasl.NewLoginClient(r.Username, r.Password)
	default:
		return errors.New("the relay offers neither AUTH PLAIN nor LOGIN")
	}
	return s.c.Auth(c)
}

func hopMode(h hop) string {
	switch {
	case h.route != nil:
		return h.route.TLS
	case h.sts, h.dane != nil:
		return TLSStartTLS
	}
	return TLSOpportunistic
}

// hopKey names the pool of a hop; sessions opened under different TLS
// rules never mix.
func hopKey(h hop) string {
	switch {
	case h.route != nil:
		return "route:" + h.route.Addr
	case h.dane != nil:
		return "dane:" + h.name
	case h.sts:
		return "sts:" + h.name
	}
	return "mx:" + h.name
}

// acquire returns a pooled session for h or a new one, trying each address.
func (q *Queue) acquire(ctx context.Context, h hop) (*session, error) {
	if s := q.pool.get(hopKey(h), q.opt.IdleTimeout); s != nil {
		// A pooled session may have been closed by the server meanwhile;
		// NOOP costs one round trip and tells.
		if err := s.c.Noop(); err == nil {
			return s, nil
		}
		s.close()
	}
	var last error
	for _, a := range h.addrs {
		s, err := q.connect(ctx, h, a, hopMode(h))
		q.reportTLS(h, a, s, err)
		if err == nil {
			s.key = hopKey(h)
			return s, nil
		}
		last = err
		q.log().Debug("queue: connect failed", "host", h.name, "addr", a, "err", err)
	}
	if last == nil {
		last = errors.New("no address")
	}
	return nil, last
}

// transact runs one mail transaction on s. It returns the result per
// recipient, and whether the session is still usable.
func (q *Queue) transact(ctx context.Context, s *session, st *State, rcpts []*Rcpt, data *Body) ([]result, bool) {
	stop := context.AfterFunc(ctx, func() { s.conn.Close() })
	defer stop()
	res := make([]result, len(rcpts))
	fill := func(r result) {
		for i := range res {
			if res[i].code == 0 && res[i].diag == "" {
				res[i] = r
			}
		}
	}
	mo := &smtp.MailOptions{Size: data.size, Return: smtp.DSNReturn(st.Ret), EnvelopeID: st.EnvID,
		UTF8: needsUTF8(st.From, rcpts)}
	if ok, _ := s.c.Extension("SMTPUTF8"); mo.UTF8 && !ok {
		// RFC 6531 §3.2: an internationalized address cannot be sent to a
		// server without SMTPUTF8; we do not downgrade.
		fill(result{code: 553, enhanced: "5.6.7", diag: s.remote + " does not support SMTPUTF8", remote: s.remote, perm: true})
		return res, true
	}
	if err := s.c.Mail(st.From, mo); err != nil {
		fill(errResult(err, s.remote))
		return res, isReply(err)
	}
	accepted := 0
	for i, r := range rcpts {
		if err := s.c.Rcpt(r.Addr, rcptOptions(r)); err != nil {
			res[i] = errResult(err, s.remote)
			if !isReply(err) {
				fill(res[i])
				return res, false
			}
			continue
		}
		res[i] = result{code: -1} // accepted so far
		accepted++
	}
	if accepted == 0 {
		return res, s.c.Reset() == nil
	}
	err := q.data(s, data)
	var final result
	if err != nil {
		final = errResult(err, s.remote)
	} else {
		final = result{code: 250, remote: s.remote}
	}
	for i := range res {
		if res[i].code == -1 {
			res[i] = final
		}
	}
	return res, err == nil || isReply(err)
}

func (q *Queue) data(s *session, data *Body) error {
	w, err := s.c.Data()
	if err != nil {
		return err
	}
	// go-smtp bounds commands and the final reply, not the writes between:
	// a server that stops reading must not hold the worker forever.
	s.conn.SetWriteDeadline(time.Now().Add(q.opt.DataTimeout))
	if _, err := io.Copy(w, data.reader()); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// isReply reports whether err is an SMTP reply (the session is still in
// step) rather than a broken connection.
func isReply(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se) && se.Code >= 200
}

func needsUTF8(from string, rcpts []*Rcpt) bool {
	if !isASCII(from) {
		return true
	}
	for _, r := range rcpts {
		if !isASCII(r.Addr) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func rcptOptions(r *Rcpt) *smtp.RcptOptions {
	o := &smtp.RcptOptions{}
	for _, n := range r.Notify {
		o.Notify = append(o.Notify, smtp.DSNNotify(strings.ToUpper(n)))
	}
	if t, a, ok := strings.Cut(r.ORcpt, ";"); ok && strings.EqualFold(t, "rfc822") && isASCII(a) {
		o.OriginalRecipientType, o.OriginalRecipient = smtp.DSNAddressTypeRFC822, a
	}
	return o
}

// statusOf renders a result for logs and the queue listing.
func (r result) String() string {
	s := strconv.Itoa(r.code)
	if r.enhanced != "" {
		s += " " + r.enhanced
	}
	return s + " " + r.diag
}
