package web

import (
	"bytes"
	"crypto/sha1"
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/youju/youju/internal/clientconf"
)

// Apple configuration profiles (iPhone, iPad, macOS Mail): a property list
// with one com.apple.mail.managed payload, as described in Apple's
// "Configuration Profile Reference" (Mail payload). Opening the file on
// the device installs the account; the user types only the password.

func (s *server) mobileconfig(w http.ResponseWriter, r *http.Request) {
	addr, err := checkAddress(r.URL.Query().Get("emailaddress"))
	if err != nil {
		http.Error(w, "emailaddress: "+err.Error(), http.StatusBadRequest)
		return
	}
	_, d, _ := strings.Cut(addr, "@")
	if !s.isLocal(r.Context(), d) {
		http.Error(w, "this server does not serve mail for "+d, http.StatusNotFound)
		return
	}
	in, out, ok := s.appleServers()
	if !ok {
		http.Error(w, "this server offers no IMAP or no SMTP submission", http.StatusNotFound)
		return
	}
	body := profile(s.opt.Hostname, addr, in, out)
	if name := personName(r.URL.Query().Get("name")); name != "" {
		body = profileNamed(s.opt.Hostname, addr, name, in, out)
	}
	if s.opt.TLSCert != nil {
		if cert := s.opt.TLSCert(); cert != nil {
			signed, err := signCMS(body, cert)
			if err != nil {
				// Unsigned still works (the device shows "Not Verified").
				s.log.Warn("signing the configuration profile failed; serving it unsigned", "err", err)
			} else {
				body = signed
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-apple-aspen-config")
	w.Header().Set("Content-Disposition", `attachment; filename="`+d+`.mobileconfig"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(body)
}

// appleServers picks the IMAP and SMTP entries for the profile: iOS Mail
// speaks IMAP (its POP support cannot be set by a profile) and uses
// implicit TLS or STARTTLS by port, so the preferred entry of each.
func (s *server) appleServers() (in, out clientconf.Entry, ok bool) {
	var haveIn, haveOut bool
	for _, e := range s.opt.Settings {
		switch {
		case e.Protocol == "IMAP" && !haveIn:
			in, haveIn = e, true
		case e.Protocol == "SMTP" && !haveOut:
			out, haveOut = e, true
		}
	}
	return in, out, haveIn && haveOut
}

// personName cleans the optional ?name= of a profile request: the
// person's name for the From: of their mail (EmailAccountName), "" if
// absent or unusable.
func personName(v string) string {
	v = strings.TrimSpace(v)
	if v == "" || len([]rune(v)) > 64 || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return ""
	}
	return v
}

// profile renders the unsigned .mobileconfig for addr, without a person's
// name: Apple's Mail asks for it when the profile is installed.
func profile(hostname, addr string, in, out clientconf.Entry) []byte {
	return profileNamed(hostname, addr, "", in, out)
}

// profileNamed renders the unsigned .mobileconfig for addr; name, when
// set, is EmailAccountName, the name shown in the From: of sent mail
// (Apple's Mail payload: "the full user name for the account").
func profileNamed(hostname, addr, name string, in, out clientconf.Entry) []byte {
	rootUUID := stableUUID(hostname, addr, "profile")
	mailUUID := stableUUID(hostname, addr, "mail")
	// Identifiers are reverse-DNS and unique per address, so installing a
	// second account does not replace the first; the same address always
	// gets the same ones, so installing again updates in place.
	ident := reverseDNS(hostname) + ".youju." + rootUUID
	mail := dict{
		{"EmailAccountDescription", addr},
		{"EmailAccountType", "EmailTypeIMAP"},
		{"EmailAddress", addr},
		{"IncomingMailServerAuthentication", "EmailAuthPassword"},
		{"IncomingMailServerHostName", in.Host},
		{"IncomingMailServerPortNumber", in.Port},
		{"IncomingMailServerUseSSL", true},
		{"IncomingMailServerUsername", addr},
		{"OutgoingMailServerAuthentication", "EmailAuthPassword"},
		{"OutgoingMailServerHostName", out.Host},
		{"OutgoingMailServerPortNumber", out.Port},
		{"OutgoingMailServerUseSSL", true},
		{"OutgoingMailServerUsername", addr},
		{"OutgoingPasswordSameAsIncomingPassword", true},
		{"PayloadDescription", "Mail account " + addr},
		{"PayloadDisplayName", addr},
		{"PayloadIdentifier", ident + ".mail"},
		{"PayloadType", "com.apple.mail.managed"},
		{"PayloadUUID", mailUUID},
		{"PayloadVersion", 1},
	}
	if name != "" {
		mail = slices.Insert(mail, 1, dict{{"EmailAccountName", name}}...) // keys stay sorted
	}
	root := dict{
		{"PayloadContent", []any{mail}},
		{"PayloadDescription", "Sets up " + addr + " in Mail (server " + hostname + ")."},
		{"PayloadDisplayName", "Mail: " + addr},
		{"PayloadIdentifier", ident},
		{"PayloadOrganization", hostname},
		{"PayloadRemovalDisallowed", false},
		{"PayloadType", "Configuration"},
		{"PayloadUUID", rootUUID},
		{"PayloadVersion", 1},
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	b.WriteString(`<plist version="1.0">` + "\n")
	writePlist(&b, root, 0)
	b.WriteString("</plist>\n")
	return b.Bytes()
}

// dict is a property-list dictionary with its keys in order.
type dict []struct {
	k string
	v any
}

// writePlist writes v (string, int, bool, []any, dict) as plist XML.
func writePlist(b *bytes.Buffer, v any, depth int) {
	ind := strings.Repeat("\t", depth)
	switch v := v.(type) {
	case string:
		b.WriteString(ind + "<string>")
		xml.EscapeText(b, []byte(v))
		b.WriteString("</string>\n")
	case int:
		b.WriteString(ind + "<integer>" + strconv.Itoa(v) + "</integer>\n")
	case bool:
		b.WriteString(ind + "<" + strconv.FormatBool(v) + "/>\n")
	case []any:
		b.WriteString(ind + "<array>\n")
		for _, x := range v {
			writePlist(b, x, depth+1)
		}
		b.WriteString(ind + "</array>\n")
	case dict:
		b.WriteString(ind + "<dict>\n")
		for _, kv := range v {
			b.WriteString(ind + "\t<key>")
			xml.EscapeText(b, []byte(kv.k))
			b.WriteString("</key>\n")
			writePlist(b, kv.v, depth+1)
		}
		b.WriteString(ind + "</dict>\n")
	default:
		panic(fmt.Sprintf("web: plist type %T", v)) // a programming error, caught by the tests
	}
}

// youjuNamespace is the name-space UUID of youju's name-based UUIDs.
var youjuNamespace = [16]byte{0x6f, 0x75, 0x6a, 0x75, 0x2d, 0x6d, 0x41, 0x69, 0x8c, 0x2e, 0x70, 0x72, 0x6f, 0x66, 0x69, 0x6c}

// stableUUID is a name-based (version 5, SHA-1) UUID, RFC 9562 §5.5: the
// same host, address and payload always give the same UUID, so that a
// re-downloaded profile replaces the installed one instead of adding a
// second account.
func stableUUID(parts ...string) string {
	h := sha1.New()
	h.Write(youjuNamespace[:])
	h.Write([]byte(strings.Join(parts, "\x00")))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return fmt.Sprintf("%X-%X-%X-%X-%X", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func reverseDNS(host string) string {
	labels := strings.Split(host, ".")
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	return strings.Join(labels, ".")
}
