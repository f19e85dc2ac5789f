package web

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// Independent readings of the two formats (not the server's structs).
type tbRead struct {
	XMLName  xml.Name `xml:"clientConfig"`
	Version  string   `xml:"version,attr"`
	Provider struct {
		ID       string   `xml:"id,attr"`
		Domains  []string `xml:"domain"`
		Incoming []struct {
			Type     string `xml:"type,attr"`
			Hostname string `xml:"hostname"`
			Port     int    `xml:"port"`
			Socket   string `xml:"socketType"`
			Username string `xml:"username"`
			Auth     string `xml:"authentication"`
		} `xml:"incomingServer"`
		Outgoing []struct {
			Type     string `xml:"type,attr"`
			Hostname string `xml:"hostname"`
			Port     int    `xml:"port"`
			Socket   string `xml:"socketType"`
			Username string `xml:"username"`
		} `xml:"outgoingServer"`
	} `xml:"emailProvider"`
}

func TestThunderbirdAutoconfig(t *testing.T) {
	e := newEnv(t, nil)
	ts := httptest.NewServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	for _, path := range []string{"/mail/config-v1.1.xml?emailaddress=bob%40second.test", "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=bob@second.test"} {
		resp, body := get(t, c, ts.URL+path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/xml") {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		var cfg tbRead
		if err := xml.Unmarshal([]byte(body), &cfg); err != nil {
			t.Fatalf("%s: %v\n%s", path, err, body)
		}
		p := cfg.Provider
		if cfg.Version != "1.1" || p.ID != "second.test" || len(p.Domains) != 1 || p.Domains[0] != "second.test" {
			t.Errorf("%s: provider %+v", path, cfg)
		}
		in := map[string]bool{}
		for _, s := range p.Incoming {
			in[s.Type+" "+s.Socket+" "+strconv.Itoa(s.Port)] = true
			if s.Hostname != testHost || s.Username != "%EMAILADDRESS%" || s.Auth != "password-cleartext" {
				t.Errorf("incoming %+v", s)
			}
		}
		for _, want := range []string{"imap SSL 10993", "imap STARTTLS 10143", "pop3 SSL 10995", "pop3 STARTTLS 10110"} {
			if !in[want] {
				t.Errorf("%s: no incoming %q in %v", path, want, in)
			}
		}
		if p.Incoming[0].Type != "imap" || p.Incoming[0].Socket != "SSL" {
			t.Errorf("first incoming server must be IMAP over TLS: %+v", p.Incoming[0])
		}
		if len(p.Outgoing) != 2 || p.Outgoing[0].Port != 10465 || p.Outgoing[0].Socket != "SSL" ||
			p.Outgoing[1].Port != 10587 || p.Outgoing[1].Socket != "STARTTLS" || p.Outgoing[0].Username != "%EMAILADDRESS%" {
			t.Errorf("outgoing %+v", p.Outgoing)
		}
	}
	// The autoconfig.DOMAIN host without an address.
	req, _ := http.NewRequest("GET", ts.URL+"/mail/config-v1.1.xml", nil)
	req.Host = "autoconfig.second.test"
	resp, body := do(t, c, req)
	if resp.StatusCode != 200 || !strings.Contains(body, "<domain>second.test</domain>") {
		t.Errorf("by host: %d %s", resp.StatusCode, body)
	}
	// A domain not served here, and garbage.
	if resp, _ := get(t, c, ts.URL+"/mail/config-v1.1.xml?emailaddress=x@other.test"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("foreign domain: %d", resp.StatusCode)
	}
	if resp, _ := get(t, c, ts.URL+"/mail/config-v1.1.xml?emailaddress=no-at-sign"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad address: %d", resp.StatusCode)
	}
}

const adRequestBody = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>Alice@Example.TEST</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`

type adRead struct {
	XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response struct {
		XMLName xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
		Account struct {
			AccountType string `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a AccountType"`
			Action      string `xml:"Action"`
			Protocol    []struct {
				Type, Server, LoginName, SSL, Encryption, SPA, AuthRequired string
				Port                                                        int
			} `xml:"Protocol"`
		} `xml:"Account"`
	} `xml:"Response"`
}

func TestOutlookAutodiscover(t *testing.T) {
	e := newEnv(t, nil)
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	for _, path := range []string{"/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"} {
		resp, body := do(t, c, mustReq(t, "POST", ts.URL+path, adRequestBody))
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		var ad adRead
		if err := xml.Unmarshal([]byte(body), &ad); err != nil {
			t.Fatalf("%s: %v\n%s", path, err, body)
		}
		a := ad.Response.Account
		if a.AccountType != "email" || a.Action != "settings" || len(a.Protocol) != 3 {
			t.Fatalf("%s: account %+v\n%s", path, a, body)
		}
		want := map[string]int{"IMAP": 10993, "POP3": 10995, "SMTP": 10465}
		for _, p := range a.Protocol {
			// The domain is lower-cased, the local part kept as asked.
			if want[p.Type] != p.Port || p.Server != testHost || p.LoginName != "Alice@example.test" ||
				p.SSL != "on" || p.Encryption != "SSL" || p.SPA != "off" || p.AuthRequired != "on" {
				t.Errorf("%s: protocol %+v", path, p)
			}
			delete(want, p.Type)
		}
		if len(want) != 0 {
			t.Errorf("missing protocols %v", want)
		}
	}
	bad := []struct {
		name, body string
		code       int
	}{
		{"foreign domain", strings.Replace(adRequestBody, "Example.TEST", "other.test", 1), http.StatusNotFound},
		{"garbage", "this is not xml", http.StatusBadRequest},
		{"wrong root", "<Foo><Request><EMailAddress>a@example.test</EMailAddress></Request></Foo>", http.StatusBadRequest},
		{"no address", "<Autodiscover><Request></Request></Autodiscover>", http.StatusBadRequest},
		{"bad address", "<Autodiscover><Request><EMailAddress>a b@example.test</EMailAddress></Request></Autodiscover>", http.StatusBadRequest},
		{"activesync", strings.Replace(adRequestBody, "outlook/responseschema/2006a", "mobilesync/responseschema/2006", 1), http.StatusBadRequest},
		{"too big", "<Autodiscover><Request><EMailAddress>a@example.test</EMailAddress></Request>" + strings.Repeat("<x/>", 8000) + "</Autodiscover>", http.StatusBadRequest},
		{"other charset", `<?xml version="1.0" encoding="ISO-8859-1"?>` + "<Autodiscover><Request><EMailAddress>a@example.test</EMailAddress></Request></Autodiscover>", http.StatusBadRequest},
	}
	for _, b := range bad {
		resp, body := do(t, c, mustReq(t, "POST", ts.URL+"/autodiscover/autodiscover.xml", b.body))
		if resp.StatusCode != b.code || strings.Contains(body, "<Protocol>") {
			t.Errorf("%s: %d %s", b.name, resp.StatusCode, body)
		}
	}
	if resp, _ := get(t, c, ts.URL+"/autodiscover/autodiscover.xml"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}

func mustReq(t *testing.T, method, u, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml")
	return req
}

func FuzzParseAutodiscover(f *testing.F) {
	f.Add([]byte(adRequestBody))
	f.Add([]byte("<Autodiscover><Request><EMailAddress>a@b.c</EMailAddress></Request></Autodiscover>"))
	f.Add([]byte("<Autodiscover><Request><EMailAddress>a@@b</EMailAddress></Request></Autodiscover>"))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY e "x">]><Autodiscover>&e;</Autodiscover>`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		addr, _, err := parseAutodiscover(strings.NewReader(string(b)))
		if err != nil {
			if addr != "" {
				t.Errorf("address %q with error %v", addr, err)
			}
			return
		}
		again, err := checkAddress(addr)
		if err != nil || again != addr || strings.Count(addr, "@") != 1 {
			t.Errorf("accepted %q: %v", addr, err)
		}
	})
}

func TestMTASTSPolicyRoute(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MTASTSMode = "enforce" })
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	req, _ := http.NewRequest("GET", ts.URL+"/.well-known/mta-sts.txt", nil)
	req.Host = "mta-sts.second.test"
	resp, body := do(t, c, req)
	want := "version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmax_age: 604800\r\n"
	if resp.StatusCode != 200 || body != want || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("%d %q %s", resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}
	req.Host = "mta-sts.other.test"
	if resp, _ := do(t, c, req); resp.StatusCode != http.StatusNotFound {
		t.Errorf("foreign domain: %d", resp.StatusCode)
	}
}

func TestRequestDomain(t *testing.T) {
	s := New(Options{Hostname: testHost, Domain: testDomain}).(*server)
	for _, tc := range []struct{ host, addr, want string }{
		{"autoconfig.second.test", "", "second.test"},
		{"autoconfig.second.test:8443", "", "second.test"},
		{"Autodiscover.Second.Test", "", "second.test"},
		{"mta-sts.second.test:443", "", "second.test"},
		{"mail.example.test", "", testDomain},
		{"[::1]:8080", "", testDomain},
		{"autoconfig.second.test", "a@Third.Test", "third.test"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = tc.host
		if got := s.requestDomain(r, tc.addr); got != tc.want {
			t.Errorf("requestDomain(%q, %q) = %q, want %q", tc.host, tc.addr, got, tc.want)
		}
	}
}
