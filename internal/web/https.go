package web

import (
	"net"
	"net/http"
	"net/netip"
	pathpkg "path"
	"strconv"
	"strings"
	"time"
)

// defaultHSTSMaxAge is one year: long enough that a browser which saw the
// site once keeps refusing plain HTTP across holidays (the usual floor is
// 180 days; the HSTS preload list asks for a year).
const defaultHSTSMaxAge = 365 * 24 * time.Hour

// hstsValue returns the Strict-Transport-Security value (RFC 6797 §6.1),
// "" when none is to be sent.
//
// No includeSubDomains (§6.1.2): the handler answers for every name that
// points at this server — the mail host, autoconfig.DOMAIN,
// mta-sts.DOMAIN, and DOMAIN itself for Outlook's
// https://DOMAIN/autodiscover/ and Thunderbird's well-known path. DOMAIN
// is usually the company's main domain, and includeSubDomains sent from
// it would make every browser that once fetched autodiscover refuse plain
// HTTP on all of the company's other hosts (intranet.DOMAIN, a printer, a
// NAS), which are not ours to decide. For the same reason no "preload".
//
// Only when HTTPS is on 443: HSTS pins the host name, not the port, and a
// browser upgrades http://host:P/ to https://host:P/ (§8.3). With HTTPS on
// another port (a test install with a port offset) that would send
// browsers to a plain-HTTP port with TLS, and break it.
func hstsValue(maxAge time.Duration, httpsPort int) string {
	if maxAge < 0 || (httpsPort != 0 && httpsPort != 443) {
		return ""
	}
	if maxAge == 0 {
		maxAge = defaultHSTSMaxAge
	}
	return "max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
}

// plainHTTPPath reports whether path stays reachable over plain HTTP from
// any client. These are what machines fetch, without credentials, and
// some only ever over HTTP:
//   - Thunderbird autoconfig falls back to http://autoconfig.DOMAIN/mail/
//     config-v1.1.xml (the file holds server names and ports, no secret);
//   - /.well-known/ (RFC 8615): the autoconfig path on the domain, the
//     MTA-STS policy (senders fetch it over HTTPS only, RFC 8461 §3.3, so
//     HTTP does no harm), and ACME http-01 challenges, which must be
//     answerable on port 80 (RFC 8555 §8.3) if an ACME client is put in
//     front of this listener;
//   - Outlook's autodiscover (POX; it tries HTTP after HTTPS);
//   - /healthz for load balancers and probes.
//
// Everything else — the sign-in page, its form posts, the settings and the
// Apple profile (which tells the device where to send the password, so a
// changed copy would steal it) — goes to HTTPS.
func plainHTTPPath(path string) bool {
	// Cleaned first, so that "/.well-known/../login" is not let through.
	switch p := strings.ToLower(pathpkg.Clean("/" + path)); {
	case p == "/healthz", p == "/mail/config-v1.1.xml", p == "/autodiscover/autodiscover.xml":
		return true
	case strings.HasPrefix(p, "/.well-known/"):
		return true
	}
	return false
}

// toHTTPS answers a request for a page over plain HTTP from a client that
// is not local. A GET or HEAD is redirected permanently to the same host
// and path on the HTTPS port. Anything else — above all a POST of the
// sign-in form — is refused without reading its body, so the password is
// never checked (a guess over HTTP would tell an eavesdropper whether it
// was right) and the form shown instead points to HTTPS. Without an HTTPS
// listener, pages are shown without a sign-in form.
func (s *server) toHTTPS(w http.ResponseWriter, r *http.Request) {
	safe := r.Method == http.MethodGet || r.Method == http.MethodHead
	if u := s.redirectURL(r); u != "" && safe {
		// 301 rather than 308: every browser knows it, and for GET and
		// HEAD they mean the same (RFC 9110 §15.4.2).
		http.Redirect(w, r, u, http.StatusMovedPermanently)
		return
	}
	if safe {
		s.mux.ServeHTTP(w, r) // no HTTPS at all: public pages, no form
		return
	}
	s.log.Info("plain-HTTP form post refused", "path", r.URL.Path, "remote", remoteAddr(r))
	w.Header().Set("Connection", "close") // the unread body is not worth draining
	p := s.newPage(r)
	p.Error = "use_https"
	s.render(w, http.StatusForbidden, "login", p)
}

// redirectURL is r's URL on the HTTPS listener: the host the client asked
// for (as `return 301 https://$host$request_uri` in nginx; the browser
// then checks the certificate for that name), falling back to our host
// name when the Host header is not a plain name or address. "" when there
// is no HTTPS listener.
func (s *server) redirectURL(r *http.Request) string {
	if s.opt.HTTPSPort < 0 {
		return ""
	}
	host := s.redirectHost(r.Host)
	if p := s.opt.HTTPSPort; p != 0 && p != 443 {
		host += ":" + strconv.Itoa(p)
	}
	path := r.URL.EscapedPath()
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	if r.URL.RawQuery != "" {
		// A "#" may reach us inside the query (no fragment is sent in a
		// request line); in a Location it would start one.
		path += "?" + strings.ReplaceAll(r.URL.RawQuery, "#", "%23")
	}
	return "https://" + host + path
}

// redirectHost is the host part of a Host header if it is a DNS name or
// an IP address (without zone), else our host name.
func (s *server) redirectHost(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		switch {
		case ip.Zone() != "":
			return s.opt.Hostname
		case ip.Is6():
			return "[" + ip.String() + "]"
		}
		return ip.String()
	}
	if !validHostName(host) {
		return s.opt.Hostname
	}
	return host
}

// validHostName accepts a DNS name of letters, digits, hyphens and dots
// (RFC 1123 §2.1), at most 253 characters: nothing a client could use to
// steer the redirect elsewhere (no "@", "/", "\" or spaces).
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
