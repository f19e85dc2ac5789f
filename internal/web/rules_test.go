package web

import (
	"context"
	"image/png"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/delivery/deliverytest"
	"github.com/youju/youju/internal/sieve"
)

func newRulesEnv(t *testing.T) (*env, *sieve.FileStore) {
	fs := &sieve.FileStore{Dir: t.TempDir()}
	return newEnv(t, func(o *Options) { o.Sieve = fs }), fs
}

var vacationForm = url.Values{
	"vac_on": {"on"}, "vac_subject": {"休假中"}, "vac_text": {"我在休假，下周回来。"}, "vac_days": {"7"},
	"fwd_address": {""},
	"rule_field":  {"subject", "from"}, "rule_value": {"发票", ""}, "rule_action": {"move", "move"}, "rule_arg": {"财务", ""},
}

// TestRulesForms saves the forms, sees the generated script, gets a
// precise error for a bad script, and receives the auto-reply.
func TestRulesForms(t *testing.T) {
	e, fs := newRulesEnv(t)
	ts := httptest.NewTLSServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	_, body := signIn(t, c, ts.URL, testUser, testPassword)
	if !strings.Contains(body, `action="/settings/rules"`) {
		t.Fatal("no rules form on the settings page")
	}
	form := url.Values{"csrf": {csrfOf(t, body)}}
	for k, v := range vacationForm {
		form[k] = v
	}
	resp, _ := postForm(t, c, ts.URL+"/settings/rules", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving rules: %s", resp.Status)
	}
	_, body = get(t, c, ts.URL+"/settings")
	for _, want := range []string{`vacation :days 7 :subject &#34;休假中&#34;`, `value="财务"`, `name="vac_on" value="on" checked`} {
		if !strings.Contains(body, want) {
			t.Errorf("settings page lacks %q", want)
		}
	}
	ctx := context.Background()
	script, name, err := fs.Active(ctx, e.acct.ID)
	if err != nil || script == nil || name != generatedScript {
		t.Fatalf("active script %q: %v", name, err)
	}

	// The auto-reply reaches a sender.
	q := &deliverytest.Queue[delivery.DSN]{}
	d := delivery.New(e.st, q, testHost, slog.New(slog.DiscardHandler))
	d.Sieve = &delivery.Sieve{Scripts: fs, Tracker: fs}
	res, err := d.Resolver.Resolve(ctx, testUser, false)
	if err != nil {
		t.Fatal(err)
	}
	env := &delivery.Envelope{ID: "w1", From: "carol@remote.test", Rcpts: []delivery.Recipient{{Address: testUser, Resolution: res}}}
	if err := d.Deliver(ctx, env, []byte("From: carol@remote.test\r\nTo: "+testUser+"\r\nSubject: hi\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	if l := q.List(); len(l) != 1 || l[0].Rcpts[0] != "carol@remote.test" || !strings.Contains(string(l[0].Data), "Auto-Submitted: auto-replied") {
		t.Fatalf("queued %+v", l)
	}

	// Bad rules: the error names the rule.
	form.Set("rule_value", "x")
	form["rule_action"] = []string{"forward", "move"}
	form["rule_arg"] = []string{"not-an-address", ""}
	resp, body = postForm(t, c, ts.URL+"/settings/rules", form)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "rule 1: forwarding address") {
		t.Errorf("bad rule: %s\n%s", resp.Status, body)
	}

	// The advanced form: an error with line and column, shown inline.
	resp, body = postForm(t, c, ts.URL+"/settings/sieve", url.Values{"csrf": {form.Get("csrf")}, "script": {"if true {\r\n  discard\r\n}"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="script-error"`) || !strings.Contains(body, "line 3, column 1: expected &#39;;&#39; or &#39;{&#39; after command discard") {
		t.Errorf("bad script: %s\n%s", resp.Status, body)
	}
	resp, _ = postForm(t, c, ts.URL+"/settings/sieve", url.Values{"csrf": {form.Get("csrf")}, "script": {"discard;"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("good script: %s", resp.Status)
	}
	_, body = get(t, c, ts.URL+"/settings")
	if !strings.Contains(body, "rules_handwritten") && !strings.Contains(body, "written by hand") {
		t.Errorf("hand-written script not marked:\n%s", body)
	}
}

// TestBrowserRulesPage renders the rules forms in Chromium in both
// languages, at desktop and phone widths.
func TestBrowserRulesPage(t *testing.T) {
	bin := chromiumPath(t)
	e, fs := newRulesEnv(t)
	rules := sieve.Rules{Vacation: sieve.VacationRule{Enabled: true, Subject: "休假中", Text: "我在休假"},
		Filters: []sieve.Filter{{Field: "subject", Value: "发票", Action: "move", Arg: "财务"}}}
	src, err := rules.Script()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := fs.Put(ctx, e.acct.ID, generatedScript, src); err != nil {
		t.Fatal(err)
	}
	fs.SetActive(ctx, e.acct.ID, generatedScript)
	id, _, _ := e.srv.sessions.create(context.Background(), e.acct.ID, false)
	// The cookie is set before the server starts: its handler reads it.
	wrap := &withCookie{h: e.h, cookie: &http.Cookie{Name: "youju-session", Value: id}}
	ts := httptest.NewServer(wrap)
	defer ts.Close()
	// English at desktop width, Chinese at phone width: both languages
	// and both layouts, in four browser runs.
	for _, tc := range []struct {
		flag, accept, width string
		want                []string
	}{
		{"en-US", "en-US", "1280", []string{"Mail rules", "Auto-reply", "Forwarding", "Sorting rules", "Advanced: Sieve script", "休假中", "财务"}},
		{"zh-CN", "zh-CN,zh", "390", []string{"收信规则", "自动回复", "自动转发", "分类规则", "高级：Sieve 脚本", "休假中", "财务"}},
	} {
		t.Run(tc.flag+"-"+tc.width, func(t *testing.T) {
			size := "--window-size=" + tc.width + ",2400"
			dom := string(runChromium(t, bin, "--lang="+tc.flag, "--accept-lang="+tc.accept, size, "--dump-dom", ts.URL+"/settings"))
			for _, w := range tc.want {
				if !strings.Contains(dom, w) {
					t.Errorf("DOM lacks %q", w)
				}
			}
			shot := filepath.Join(t.TempDir(), "rules.png")
			runChromium(t, bin, "--lang="+tc.flag, "--accept-lang="+tc.accept, size, "--screenshot="+shot, "--hide-scrollbars", ts.URL+"/settings")
			f, err := os.Open(shot)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			if tc.width == "1280" {
				checkRendered(t, img)
			} else {
				// Phone width: the header band is there and the page is
				// drawn (checkRendered wants a desktop-sized shot).
				b := img.Bounds()
				r, g, bl, _ := img.At(b.Min.X+10, b.Min.Y+10).RGBA()
				if b.Dx() > 500 || r>>8 != 0x1f || g>>8 != 0x5f || bl>>8 != 0x8b {
					t.Errorf("phone screenshot %v, top-left %02x%02x%02x", b, r>>8, g>>8, bl>>8)
				}
			}
			if dir := os.Getenv("YOUJU_SCREENSHOT_DIR"); dir != "" {
				b, _ := os.ReadFile(shot)
				os.WriteFile(filepath.Join(dir, "rules-"+tc.flag+"-"+tc.width+".png"), b, 0o644)
			}
		})
	}
}
