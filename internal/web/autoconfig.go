package web

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/youju/youju/internal/clientconf"
)

// ---- Thunderbird autoconfig ----
//
// The format is Mozilla's "config-v1.1.xml"
// (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat).
// Thunderbird asks https://autoconfig.DOMAIN/mail/config-v1.1.xml?emailaddress=ADDR
// and https://DOMAIN/.well-known/autoconfig/mail/config-v1.1.xml.

type tbConfig struct {
	XMLName  xml.Name   `xml:"clientConfig"`
	Version  string     `xml:"version,attr"`
	Provider tbProvider `xml:"emailProvider"`
}

type tbProvider struct {
	ID               string     `xml:"id,attr"`
	Domain           []string   `xml:"domain"`
	DisplayName      string     `xml:"displayName"`
	DisplayShortName string     `xml:"displayShortName"`
	Incoming         []tbServer `xml:"incomingServer"`
	Outgoing         []tbServer `xml:"outgoingServer"`
}

type tbServer struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"`
	Username       string `xml:"username"`
	Authentication string `xml:"authentication"`
}

func (s *server) autoconfig(w http.ResponseWriter, r *http.Request) {
	addr := r.URL.Query().Get("emailaddress")
	if addr != "" {
		if _, err := checkAddress(addr); err != nil {
			http.Error(w, "emailaddress: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	d := s.requestDomain(r, addr)
	if !s.isLocal(r.Context(), d) {
		http.Error(w, "this server does not serve mail for "+d, http.StatusNotFound)
		return
	}
	p := tbProvider{ID: d, Domain: []string{d}, DisplayName: d + " (youju)", DisplayShortName: d}
	for _, e := range s.opt.Settings {
		srv := tbServer{
			Type: strings.ToLower(e.Protocol), Hostname: e.Host, Port: e.Port,
			SocketType: "SSL", Username: "%EMAILADDRESS%",
			// The password goes inside TLS, so "cleartext" is what is meant.
			Authentication: "password-cleartext",
		}
		if e.Security == clientconf.StartTLS {
			srv.SocketType = "STARTTLS"
		}
		if e.Role == "outgoing" {
			p.Outgoing = append(p.Outgoing, srv)
		} else {
			p.Incoming = append(p.Incoming, srv)
		}
	}
	writeXML(w, tbConfig{Version: "1.1", Provider: p})
}

func writeXML(w http.ResponseWriter, v any) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	b.WriteByte('\n')
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Write(b.Bytes())
}

// ---- Outlook autodiscover (POX) ----
//
// [MS-OXDSCLI] §2.2.4: the client POSTs an Autodiscover request with its
// e-mail address and gets the settings of the "email" account type back.

const (
	adRequestNS   = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
	adResponseNS  = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	adOutlookNS   = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
	maxADBodySize = 16 << 10 // a real request is a few hundred bytes
)

// adRequest is the request; element names match in any namespace, since
// clients differ in how they declare it.
type adRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Request struct {
		EMailAddress             string `xml:"EMailAddress"`
		AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
	} `xml:"Request"`
}

type adResponse struct {
	XMLName  xml.Name  `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response adOutlook `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
}

type adOutlook struct {
	User    adUser    `xml:"User"`
	Account adAccount `xml:"Account"`
}

type adUser struct {
	DisplayName string `xml:"DisplayName"`
}

type adAccount struct {
	AccountType string       `xml:"AccountType"`
	Action      string       `xml:"Action"`
	Protocol    []adProtocol `xml:"Protocol"`
}

type adProtocol struct {
	Type           string `xml:"Type"`
	Server         string `xml:"Server"`
	Port           int    `xml:"Port"`
	LoginName      string `xml:"LoginName"`
	DomainRequired string `xml:"DomainRequired"`
	SPA            string `xml:"SPA"`
	SSL            string `xml:"SSL"`
	// Encryption overrides SSL where supported: "SSL" is implicit TLS,
	// "TLS" is STARTTLS.
	Encryption   string `xml:"Encryption"`
	AuthRequired string `xml:"AuthRequired"`
	UsePOPAuth   string `xml:"UsePOPAuth,omitempty"`
}

// errBadRequest marks requests refused with 400.
var errBadRequest = errors.New("bad request")

// parseAutodiscover reads an autodiscover request of at most
// maxADBodySize bytes and returns the address it asks for.
func parseAutodiscover(body io.Reader) (address, schema string, err error) {
	b, err := io.ReadAll(io.LimitReader(body, maxADBodySize+1))
	if err != nil {
		return "", "", fmt.Errorf("%w: reading the body: %v", errBadRequest, err)
	}
	if len(b) > maxADBodySize {
		return "", "", fmt.Errorf("%w: body over %d bytes", errBadRequest, maxADBodySize)
	}
	var req adRequest
	dec := xml.NewDecoder(bytes.NewReader(b))
	// Only UTF-8 (and its ASCII subset): no charset readers, no surprises.
	dec.CharsetReader = func(cs string, r io.Reader) (io.Reader, error) {
		if strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "us-ascii") {
			return r, nil
		}
		return nil, fmt.Errorf("unsupported charset %q", cs)
	}
	if err := dec.Decode(&req); err != nil {
		return "", "", fmt.Errorf("%w: %v", errBadRequest, err)
	}
	addr, err := checkAddress(strings.TrimSpace(req.Request.EMailAddress))
	if err != nil {
		return "", "", fmt.Errorf("%w: EMailAddress: %v", errBadRequest, err)
	}
	return addr, strings.TrimSpace(req.Request.AcceptableResponseSchema), nil
}

func (s *server) autodiscover(w http.ResponseWriter, r *http.Request) {
	addr, schema, err := parseAutodiscover(http.MaxBytesReader(w, r.Body, maxADBodySize+1))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// Only the Outlook POX schema: ActiveSync clients (mobilesync schema)
	// must fall back to IMAP settings, which they do on an error.
	if schema != "" && schema != adOutlookNS {
		http.Error(w, "only the Outlook response schema "+adOutlookNS+" is supported", http.StatusBadRequest)
		return
	}
	_, d, _ := strings.Cut(addr, "@")
	if !s.isLocal(r.Context(), d) {
		http.Error(w, "this server does not serve mail for "+d, http.StatusNotFound)
		return
	}
	acct := adAccount{AccountType: "email", Action: "settings"}
	seen := map[string]bool{}
	for _, e := range s.opt.Settings {
		// Outlook takes one Protocol per type: the preferred (first) one.
		if seen[e.Protocol] {
			continue
		}
		seen[e.Protocol] = true
		p := adProtocol{Type: e.Protocol, Server: e.Host, Port: e.Port, LoginName: addr,
			DomainRequired: "off", SPA: "off", SSL: "on", Encryption: "SSL", AuthRequired: "on"}
		if e.Security == clientconf.StartTLS {
			p.Encryption = "TLS"
		}
		if e.Protocol == "SMTP" {
			p.UsePOPAuth = "on"
		}
		acct.Protocol = append(acct.Protocol, p)
	}
	writeXML(w, adResponse{Response: adOutlook{User: adUser{DisplayName: addr}, Account: acct}})
}

// checkAddress checks the shape of an e-mail address and lower-cases its
// domain: one "@", a local part of printable ASCII or UTF-8 without
// spaces, a domain of letters, digits, '-' and '.'.
func checkAddress(a string) (string, error) {
	if len(a) > 254 {
		return "", errors.New("address too long")
	}
	local, domain, ok := strings.Cut(a, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return "", errors.New("want local@domain")
	}
	for _, c := range local {
		if c <= ' ' || c == 0x7f || strings.ContainsRune("<>()[],;:\\\"", c) {
			return "", errors.New("bad character in the local part")
		}
	}
	domain = strings.ToLower(domain)
	for _, label := range strings.Split(domain, ".") {
		if label == "" || len(label) > 63 {
			return "", errors.New("bad domain")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", errors.New("bad domain (international names go in their xn-- form)")
			}
		}
	}
	return local + "@" + domain, nil
}
