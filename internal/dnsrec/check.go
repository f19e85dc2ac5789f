package dnsrec

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/youju/youju/internal/dnsresolver"
)

// Status is the verdict on one record.
type Status int

// Statuses, from good to bad.
const (
	OK      Status = iota
	Warn           // works, but could be better (or an optional record is absent)
	Missing        // not published
	Wrong          // published with a value that does not work
	Failed         // the lookup failed (timeout, SERVFAIL): could not check
)

func (s Status) String() string {
	return [...]string{"OK", "WARN", "MISSING", "WRONG", "ERROR"}[s]
}

// Result is the check of one record.
type Result struct {
	Record Record
	Status Status
	Found  string // what DNS answered, for the reader
	// Problem says what is wrong and Fix how to fix it (empty when OK).
	Problem, Fix string
}

// Check looks every record up through r and says, per record, whether it
// is right. Each lookup gets its own timeout so one slow name does not
// hide the others.
func Check(ctx context.Context, r dnsresolver.Resolver, rs []Record) []Result {
	out := make([]Result, 0, len(rs))
	for _, rec := range rs {
		c := &checker{ctx: ctx, r: r}
		res := rec.check(c)
		res.Record = rec
		if res.Status == Missing && rec.Optional {
			res.Status = Warn
		}
		if res.Status != OK && res.Fix == "" {
			res.Fix = "publish: " + rec.Line()
		}
		if rec.Placeholder && !rec.Optional && res.Status != OK && res.Status != Failed {
			res.Fix = "publish the record with the server's real address (youju dns --ip/--ipv6 prints it)"
		}
		out = append(out, res)
	}
	return out
}

// checker runs the lookups of one record.
type checker struct {
	ctx context.Context
	r   dnsresolver.Resolver
}

const lookupTimeout = 10 * time.Second

func (c *checker) timeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.ctx, lookupTimeout)
}

// result is Result without the record.
type result = Result

// failed turns a lookup error into a result: "not found" is Missing,
// anything else means DNS could not be asked.
func failed(name string, err error) result {
	if dnsresolver.IsNotFound(err) {
		return result{Status: Missing, Problem: "no such record at " + name}
	}
	return result{Status: Failed, Problem: "lookup failed: " + err.Error(), Fix: "check the resolver (--resolver) and try again"}
}

func sameName(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

func checkMX(d, host string) func(*checker) result {
	return func(c *checker) result {
		ctx, cancel := c.timeout()
		defer cancel()
		mxs, err := c.r.LookupMX(ctx, d)
		if err != nil {
			return failed(d, err)
		}
		var hosts []string
		for _, mx := range mxs {
			hosts = append(hosts, fmt.Sprintf("%d %s", mx.Pref, mx.Host))
			if sameName(mx.Host, host) {
				return result{Status: OK, Found: strings.Join(hosts, ", ")}
			}
		}
		found := strings.Join(hosts, ", ")
		if len(mxs) == 1 && mxs[0].Host == "." {
			return result{Status: Wrong, Found: found, Problem: "a null MX (RFC 7505) says the domain accepts no mail",
				Fix: "replace it with: " + d + " MX 10 " + host}
		}
		return result{Status: Wrong, Found: found, Problem: "the MX records point elsewhere, so mail for " + d + " does not reach youju",
			Fix: "replace them with: " + d + " MX 10 " + host}
	}
}

// checkAddr checks the A (or AAAA) records of host; want empty accepts any
// address of the family.
func checkAddr(host string, v6 bool, want []netip.Addr, optional bool) func(*checker) result {
	return func(c *checker) result {
		ctx, cancel := c.timeout()
		defer cancel()
		addrs, err := c.r.LookupIPAddr(ctx, host)
		if err != nil {
			return failed(host, err)
		}
		var got []netip.Addr
		var found []string
		for _, ip := range addrs {
			a, ok := netip.AddrFromSlice(ip.IP)
			if ok && a.Unmap().Is6() == v6 {
				got = append(got, a.Unmap())
				found = append(found, a.Unmap().String())
			}
		}
		fam := "IPv4 (A)"
		if v6 {
			fam = "IPv6 (AAAA)"
		}
		if len(got) == 0 {
			res := result{Status: Missing, Problem: "no " + fam + " address for " + host}
			if optional {
				res.Status, res.Problem, res.Fix = Warn, res.Problem+" (fine if the server has no IPv6)", "add an AAAA record if the server has a public IPv6 address"
			}
			return res
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				return result{Status: Wrong, Found: strings.Join(found, ", "),
					Problem: host + " does not resolve to " + w.String(), Fix: "set " + host + " " + fam + " to " + w.String()}
			}
		}
		return result{Status: OK, Found: strings.Join(found, ", ")}
	}
}

// txtWith returns the TXT records at name that start with prefix
// (case-insensitive), e.g. "v=spf1".
func (c *checker) txtWith(name, prefix string) ([]string, *result) {
	ctx, cancel := c.timeout()
	defer cancel()
	txts, err := c.r.LookupTXT(ctx, name)
	if err != nil {
		res := failed(name, err)
		return nil, &res
	}
	var out []string
	for _, t := range txts {
		if len(t) >= len(prefix) && strings.EqualFold(t[:len(prefix)], prefix) &&
			(len(t) == len(prefix) || t[len(prefix)] == ' ' || t[len(prefix)] == ';') {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, &result{Status: Missing, Problem: "no " + prefix + " TXT record at " + name}
	}
	return out, nil
}

// one wraps the "exactly one record" rule shared by SPF (RFC 7208 §4.5),
// DMARC (RFC 7489 §6.6.3) and MTA-STS (RFC 8461 §3.1).
func (c *checker) one(name, prefix, rfc string, judge func(string) result) result {
	txts, res := c.txtWith(name, prefix)
	if res != nil {
		return *res
	}
	if len(txts) > 1 {
		return result{Status: Wrong, Found: strings.Join(txts, " | "),
			Problem: fmt.Sprintf("%d %s records: %s says receivers then ignore them all", len(txts), prefix, rfc),
			Fix:     "keep exactly one " + prefix + " record at " + name}
	}
	r := judge(txts[0])
	r.Found = txts[0]
	return r
}

// tags parses "k=v; k=v" (DKIM RFC 6376 §3.2, DMARC, MTA-STS, TLS-RPT).
func tags(s string) map[string]string {
	m := map[string]string{}
	for _, part := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(part, "=")
		if ok {
			m[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	return m
}

func checkSPF(name, host string) func(*checker) result {
	return func(c *checker) result {
		return c.one(name, "v=spf1", "RFC 7208 §4.5", func(spf string) result {
			terms := strings.Fields(strings.ToLower(spf))[1:]
			covers := false
			for _, t := range terms {
				t = strings.TrimPrefix(t, "+")
				if t == "mx" || t == "a" || t == "a:"+strings.TrimSuffix(host, ".") || t == "mx:"+strings.TrimSuffix(name, ".") ||
					strings.HasPrefix(t, "ip4:") || strings.HasPrefix(t, "ip6:") || strings.HasPrefix(t, "include:") || strings.HasPrefix(t, "redirect=") {
					covers = true
				}
				if t == "all" || t == "?all" {
					return result{Status: Wrong, Problem: "'" + t + "' lets anyone send as " + name,
						Fix: "end the record with -all (or ~all while testing)"}
				}
			}
			if !covers {
				return result{Status: Wrong, Problem: "the record does not allow the youju host to send",
					Fix: "add the 'mx' mechanism, e.g. \"v=spf1 mx -all\""}
			}
			if !slices.Contains(terms, "-all") && !slices.Contains(terms, "~all") && !slices.ContainsFunc(terms, func(t string) bool { return strings.HasPrefix(t, "redirect=") }) {
				return result{Status: Warn, Problem: "the record does not end in -all or ~all, so forgers are not refused",
					Fix: "end the record with -all"}
			}
			return result{Status: OK}
		})
	}
}

func checkDKIM(name, want string) func(*checker) result {
	return func(c *checker) result {
		txts, res := c.txtWith(name, "v=DKIM1")
		if res != nil {
			// v= is optional in a DKIM key record (RFC 6376 §3.6.1); look
			// for a p= without it before calling the record missing.
			if res.Status != Missing {
				return *res
			}
			ctx, cancel := c.timeout()
			defer cancel()
			all, _ := c.r.LookupTXT(ctx, name)
			for _, t := range all {
				if _, ok := tags(t)["p"]; ok {
					txts = append(txts, t)
				}
			}
			if len(txts) == 0 {
				return *res
			}
		}
		wantP := tags(want)["p"]
		for _, t := range txts {
			if strings.Join(strings.Fields(tags(t)["p"]), "") == wantP {
				return result{Status: OK, Found: abbrev(t)}
			}
		}
		got := tags(txts[0])["p"]
		if got == "" {
			return result{Status: Wrong, Found: abbrev(txts[0]), Problem: "the key is revoked (empty p=)"}
		}
		return result{Status: Wrong, Found: abbrev(txts[0]),
			Problem: "the published key is not youju's key for this selector, so signatures will fail",
			Fix:     "replace the record (a long value is split into several quoted strings) with: " + name + " TXT " + QuoteTXT(want)}
	}
}

func abbrev(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

func checkDMARC(name string) func(*checker) result {
	return func(c *checker) result {
		return c.one(name, "v=DMARC1", "RFC 7489 §6.6.3", func(t string) result {
			switch strings.ToLower(tags(t)["p"]) {
			case "quarantine", "reject":
				return result{Status: OK}
			case "none":
				return result{Status: Warn, Problem: "p=none only monitors: forged mail is still delivered",
					Fix: "once reports look clean, set p=quarantine or p=reject"}
			}
			return result{Status: Wrong, Problem: "the record has no valid p= tag (RFC 7489 §6.3), so receivers ignore it",
				Fix: "use: " + name + " TXT \"v=DMARC1; p=quarantine\""}
		})
	}
}

func checkSTS(name, id string) func(*checker) result {
	return func(c *checker) result {
		return c.one(name, "v=STSv1", "RFC 8461 §3.1", func(t string) result {
			got := tags(t)["id"]
			if got == "" {
				return result{Status: Wrong, Problem: "no id= tag (RFC 8461 §3.1)", Fix: "use: " + name + " TXT \"v=STSv1; id=" + id + "\""}
			}
			if got != id {
				return result{Status: Warn, Problem: "id=" + got + " is not the id of youju's current policy, so senders may keep an old one",
					Fix: "set id=" + id + " (it must change whenever the policy changes)"}
			}
			return result{Status: OK}
		})
	}
}

func checkTLSRPT(name string) func(*checker) result {
	return func(c *checker) result {
		return c.one(name, "v=TLSRPTv1", "RFC 8460 §3", func(t string) result {
			if tags(t)["rua"] == "" {
				return result{Status: Wrong, Problem: "no rua= tag: senders have nowhere to report", Fix: "add rua=mailto:postmaster@..."}
			}
			return result{Status: OK}
		})
	}
}

func checkSRV(service, d string, port int, target string) func(*checker) result {
	return func(c *checker) result {
		ctx, cancel := c.timeout()
		defer cancel()
		name := service + "._tcp." + d
		_, srvs, err := c.r.LookupSRV(ctx, strings.TrimPrefix(service, "_"), "tcp", d)
		if err != nil {
			return failed(name, err)
		}
		var found []string
		for _, s := range srvs {
			found = append(found, fmt.Sprintf("%d %d %d %s", s.Priority, s.Weight, s.Port, s.Target))
		}
		f := strings.Join(found, ", ")
		for _, s := range srvs {
			if target == "." && (s.Target == "." || s.Target == "") {
				return result{Status: OK, Found: f}
			}
			if target != "." && sameName(s.Target, target) && int(s.Port) == port {
				return result{Status: OK, Found: f}
			}
		}
		if target == "." {
			return result{Status: Wrong, Found: f, Problem: "the service is off in youju, but the record sends clients to it",
				Fix: "publish " + name + " SRV 0 0 0 . (or turn the listener on)"}
		}
		return result{Status: Wrong, Found: f, Problem: "clients are sent to another host or port than youju's " + target + " port " + strconv.Itoa(port)}
	}
}

// checkCNAME accepts a CNAME to target, or the same addresses as target
// (A records instead of a CNAME work as well).
func checkCNAME(name, target string) func(*checker) result {
	return func(c *checker) result {
		ctx, cancel := c.timeout()
		defer cancel()
		cname, err := c.r.LookupCNAME(ctx, name)
		if err != nil {
			return failed(name, err)
		}
		if sameName(cname, target) {
			return result{Status: OK, Found: cname}
		}
		got, err := c.lookupHost(ctx, name)
		if err != nil {
			return failed(name, err)
		}
		want, err := c.lookupHost(ctx, target)
		if err != nil {
			return result{Status: Failed, Found: strings.Join(got, ", "), Problem: "cannot resolve " + target + " to compare: " + err.Error()}
		}
		for _, a := range got {
			if slices.Contains(want, a) {
				return result{Status: OK, Found: strings.Join(got, ", ") + " (same address as " + target + ")"}
			}
		}
		return result{Status: Wrong, Found: cname + " " + strings.Join(got, ", "),
			Problem: name + " does not lead to the youju host, so clients and senders reach another server",
			Fix:     "replace it with: " + name + " CNAME " + target}
	}
}

// lookupHost is net.Resolver.LookupHost on top of LookupIPAddr: the
// addresses of host as strings.
func (c *checker) lookupHost(ctx context.Context, host string) ([]string, error) {
	ips, err := c.r.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.IP.String()
	}
	return out, nil
}
