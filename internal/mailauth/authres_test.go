package mailauth

import (
	"net"
	"sort"
	"strconv"
	"strings"
	"testing"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
)

// goMsgauthHeader is Result.Header as it was written with go-msgauth's
// authres.Format: the reference our own formatting must equal byte for
// byte.
func goMsgauthHeader(r Result, hostname string) string {
	var rs []authres.Result
	sr := &authres.SPFResult{Value: authres.ResultValue(r.SPF.Result)}
	if r.SPF.Identity == "helo" {
		sr.Helo = r.SPF.Domain
	} else {
		sr.From = r.SPF.Domain
	}
	rs = append(rs, sr)
	if len(r.DKIM) == 0 {
		rs = append(rs, &authres.DKIMResult{Value: authres.ResultNone})
	}
	for _, d := range r.DKIM {
		rs = append(rs, &authres.DKIMResult{Value: authres.ResultValue(d.Result), Domain: d.Domain, Identifier: d.Identifier})
	}
	dr := &authres.DMARCResult{Value: authres.ResultValue(r.DMARC.Result), From: r.DMARC.FromDomain}
	if r.DMARC.Result == "fail" {
		dr.Reason = "p=" + r.DMARC.Policy
	}
	rs = append(rs, dr)
	if r.ARC.Result != "" {
		params := map[string]string{}
		if r.ARC.RemoteIP != nil {
			params["smtp.remote-ip"] = r.ARC.RemoteIP.String()
		}
		if r.ARC.OldestPass > 0 {
			params["header.oldest-pass"] = strconv.Itoa(r.ARC.OldestPass)
		}
		rs = append(rs, &authres.GenericResult{Method: "arc", Value: authres.ResultValue(r.ARC.Result), Params: params})
	}
	v := authres.Format(hostname, rs)
	v = strings.ReplaceAll(v, "; ", ";\r\n\t")
	return "Authentication-Results: " + v + "\r\n"
}

// Values that take every path of the quoting: plain domains, addresses,
// spaces, tspecials, quotes, controls, "; " (which the folding also
// meets inside a quoted value), letters and digits beyond ASCII, bytes
// that are not UTF-8, and the empty value (left out).
var awkwardValues = []string{
	"", "example.org", "a.b-c.example", "user@example.org", "@example.org", "[192.0.2.1]",
	"2001:db8::1", "192.0.2.1", "with space", "semi;colon", "a; b", "eq=ual", `q"uote`, `"`,
	"paren(s)", "back\\slash", "tab\there", "cr\rlf\n", "ctl\x01", "ÿnïcödé.example", "例え.テスト",
	"٣٤٥", "\xff\xfe", "a\xffb", "~#$%&'*+,./-^_`{|}", "<angle>", "?", "", strings.Repeat("x", 300),
}

var resultValues = []string{"none", "pass", "fail", "softfail", "neutral", "temperror", "permerror", "policy", ""}

// TestHeaderMatchesGoMsgauth formats a corpus of results both ways:
// every result value of each method, both SPF identities, no, one and
// many DKIM signatures (a long field that folds), DMARC failures with
// their reason, ARC with and without its properties, and awkward
// domains everywhere.
func TestHeaderMatchesGoMsgauth(t *testing.T) {
	var corpus []Result
	for i, v := range resultValues {
		w := awkwardValues[i%len(awkwardValues)]
		corpus = append(corpus,
			Result{SPF: SPFResult{Result: spf.Result(v), Domain: w, Identity: "mailfrom"}, DMARC: DMARCResult{Result: v, FromDomain: w, Policy: "reject"}},
			Result{SPF: SPFResult{Result: spf.Result(v), Domain: w, Identity: "helo"}, DKIM: []DKIMResult{{Result: v, Domain: w, Identifier: "@" + w}},
				DMARC: DMARCResult{Result: "fail", FromDomain: w, Policy: v}, ARC: ARCResult{Result: v, OldestPass: i, RemoteIP: net.IPv4(192, 0, 2, byte(i))}},
			Result{SPF: SPFResult{Result: spf.Result(v)}, DMARC: DMARCResult{Result: v}, ARC: ARCResult{Result: v}})
	}
	for _, w := range awkwardValues {
		var many []DKIMResult
		for j := 0; j < 12; j++ { // beyond the 8 results built on the stack
			many = append(many, DKIMResult{Result: resultValues[j%len(resultValues)], Domain: w, Identifier: awkwardValues[j%len(awkwardValues)]})
		}
		corpus = append(corpus,
			Result{SPF: SPFResult{Result: spf.Pass, Domain: w, Identity: "mailfrom"}, DKIM: many,
				DMARC: DMARCResult{Result: "fail", FromDomain: w, Policy: w}, ARC: ARCResult{Result: "fail", RemoteIP: net.ParseIP("2001:db8::25")}},
			Result{SPF: SPFResult{Result: spf.TempError, Domain: w, Identity: "helo"}, DKIM: []DKIMResult{{Result: "pass", Domain: w}, {Result: "fail", Identifier: w}},
				DMARC: DMARCResult{Result: "pass", FromDomain: w}, ARC: ARCResult{Result: "pass", OldestPass: 2}})
	}
	hosts := []string{"mx.example.org", "", "host; with space", "ÿ"}
	for i, r := range corpus {
		for _, h := range hosts {
			if got, want := r.Header(h), goMsgauthHeader(r, h); got != want {
				t.Errorf("result %d %+v, host %q:\n got %q\nwant %q", i, r, h, got, want)
			}
		}
	}
}

// TestAuthResultsMatchesFormat compares appendAuthResults with
// authres.Format for every method go-msgauth knows, and for none.
func TestAuthResultsMatchesFormat(t *testing.T) {
	methods := []string{"auth", "dkim", "domainkeys", "iprev", "sender-id", "spf", "dmarc", "arc", "x-custom"}
	keys := []string{"smtp.auth", "header.d", "header.i", "header.from", "header.sender", "policy.iprev", "smtp.mailfrom", "smtp.helo", "smtp.remote-ip", "header.oldest-pass"}
	check := func(id string, rs []resInfo, props []resProp) {
		t.Helper()
		want := authres.Format(id, toGoMsgauth(rs, props))
		if got := string(appendAuthResults(nil, id, rs, props)); got != want {
			t.Errorf("%q %+v:\n got %q\nwant %q", id, rs, got, want)
		}
	}
	check("mx.example.org", nil, nil)
	for i, m := range methods {
		for j, v := range resultValues {
			var props []resProp
			for k := 0; k < (i+j)%4; k++ {
				key := keys[(i+j+k)%len(keys)]
				props = append(props, resProp{key, awkwardValues[(i*j+k)%len(awkwardValues)]})
			}
			r := resInfo{method: m, value: v, reason: awkwardValues[(i+j)%len(awkwardValues)], nprops: len(props)}
			check("mx.example.org", []resInfo{r, {method: "spf", value: "pass"}}, props)
		}
	}
}

// toGoMsgauth is rs as go-msgauth results: GenericResult, whose params
// carry the reason under "reason" as the typed results' do.
func toGoMsgauth(rs []resInfo, props []resProp) []authres.Result {
	out := make([]authres.Result, 0, len(rs))
	for _, r := range rs {
		params := map[string]string{"reason": r.reason}
		for _, p := range props[:r.nprops] {
			params[p.key] = p.value
		}
		props = props[r.nprops:]
		out = append(out, &authres.GenericResult{Method: r.method, Value: authres.ResultValue(r.value), Params: params})
	}
	return out
}

// FuzzAuthResults compares appendAuthResults with authres.Format on
// results made of the fuzzer's strings: id, then for each result
// (separated by "\n") method, value, reason and key=value properties
// separated by "\x00".
func FuzzAuthResults(f *testing.F) {
	f.Add("mx.example.org", "spf\x00pass\x00\x00smtp.mailfrom=example.org\ndkim\x00none\x00\x00")
	f.Add("a; b", "dmarc\x00fail\x00p=reject\x00header.from=ex ample.org\x00x=\"q\"")
	f.Add("", "arc\x00pass\x00\x00smtp.remote-ip=192.0.2.1\x00header.oldest-pass=2")
	f.Add("h", "x\x00y\x00r;e\x00k=\xff\x00j=例え")
	f.Fuzz(func(t *testing.T, id, spec string) {
		var rs []resInfo
		var props []resProp
		if spec != "" {
			for _, line := range strings.Split(spec, "\n") {
				parts := strings.Split(line, "\x00")
				for len(parts) < 3 {
					parts = append(parts, "")
				}
				r := resInfo{method: parts[0], value: parts[1], reason: parts[2]}
				seen := map[string]bool{"reason": true}
				for _, kv := range parts[3:] {
					k, v, _ := strings.Cut(kv, "=")
					if !seen[k] {
						seen[k] = true
						props = append(props, resProp{k, v})
						r.nprops++
					}
				}
				rs = append(rs, r)
			}
		}
		want := authres.Format(id, toGoMsgauth(rs, props))
		got := string(appendAuthResults(nil, id, rs, props))
		if got != want {
			t.Fatalf("got %q\nwant %q", got, want)
		}
		// Each result's props come back sorted by key, as documented.
		for _, r := range rs {
			p := props[:r.nprops]
			props = props[r.nprops:]
			if !sort.SliceIsSorted(p, func(i, j int) bool { return p[i].key < p[j].key }) {
				t.Fatalf("props not sorted: %+v", p)
			}
		}
	})
}

// BenchmarkHeader is the Authentication-Results field of a usual
// message: SPF, one DKIM signature, DMARC.
func BenchmarkHeader(b *testing.B) {
	r := Result{SPF: SPFResult{Result: spf.Pass, Domain: "example.org", Identity: "mailfrom"},
		DKIM:  []DKIMResult{{Result: "pass", Domain: "example.org", Identifier: "@example.org"}},
		DMARC: DMARCResult{Result: "pass", FromDomain: "example.org"}}
	b.Run("youju", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = r.Header("mx.example.net")
		}
	})
	b.Run("go-msgauth", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = goMsgauthHeader(r, "mx.example.net")
		}
	})
}
