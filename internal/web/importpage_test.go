package web

import (
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/youju/youju/internal/importer"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/testutil"
)

// TestImportPageWithDovecot: a signed-in user starts an import from a
// real Dovecot (the old provider) on the page; it runs in the
// background, the status JSON reports it to the end, every message
// arrives (Chinese folder included), a notice mail is sent, and the
// password is in no file afterwards. Then the page in headless Chromium,
// both languages, at 1280 px and 390 px.
func TestImportPageWithDovecot(t *testing.T) {
	const n = 40
	d := testutil.StartDovecot(t, func(md string) {
		for i := 0; i < n; i++ {
			dir := md
			if i%2 == 1 {
				dir = filepath.Join(md, ".&XfJT0ZAB-") // 已发送 in modified UTF-7
			}
			os.MkdirAll(filepath.Join(dir, "cur"), 0o755)
			os.MkdirAll(filepath.Join(dir, "new"), 0o755)
			os.MkdirAll(filepath.Join(dir, "tmp"), 0o755)
			msg := fmt.Sprintf("From: a@example.org\r\nSubject: 旧邮件 %d\r\nMessage-ID: <%d@example.org>\r\n\r\nbody %d\r\n", i, i, i)
			os.WriteFile(filepath.Join(dir, "cur", fmt.Sprintf("%d.M%d.test:2,S", 1600000000+i, i)), []byte(msg), 0o644)
		}
	})
	dataDir := t.TempDir()
	var mu sync.Mutex
	var notices []string
	e := newEnv(t, func(o *Options) {
		o.Import = &importer.Jobs{DataDir: dataDir, Target: importer.Local{Mail: o.Store.(store.Mail)}, Security: importer.IMAPPlain,
			Notify: func(_ context.Context, _ store.AccountID, subject, body string) {
				mu.Lock()
				notices = append(notices, subject+"\n"+body)
				mu.Unlock()
			}}
	})
	ts := httptest.NewServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	signIn(t, c, ts.URL, testUser, testPassword)
	_, body := get(t, c, ts.URL+"/settings/import")
	for _, want := range []string{"imap.qq.com", "imap.163.com", "imap.126.com", "imap.gmail.com", "outlook.office365.com", `name="password"`} {
		if !strings.Contains(body, want) {
			t.Fatalf("import page lacks %q", want)
		}
	}
	host, port, _ := strings.Cut(d.Addr, ":")
	resp, _ := postForm(t, c, ts.URL+"/settings/import", url.Values{"csrf": {csrfOf(t, body)}, "remote": {d.User},
		"host": {host}, "port": {port}, "password": {d.Password}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("start: %s", resp.Status)
	}
	var st importer.JobStatus
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		_, js := get(t, c, ts.URL+"/settings/import/status")
		if err := json.Unmarshal([]byte(js), &st); err != nil {
			t.Fatalf("status %q: %v", js, err)
		}
		if st.State != "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still running: %+v", st)
		}
	}
	if st.State != "done" || st.Imported != n || st.Error != "" {
		t.Fatalf("job: %+v", st)
	}
	ctx := context.Background()
	for _, name := range []string{"INBOX", "Sent"} {
		mb, err := e.st.Mailbox(ctx, e.acct.ID, name)
		if err != nil || mb.Messages != n/2 {
			t.Fatalf("%s: %+v %v", name, mb, err)
		}
	}
	mu.Lock()
	if len(notices) != 1 || !strings.Contains(notices[0], "邮箱搬家完成") || !strings.Contains(notices[0], fmt.Sprintf("%d messages imported", n)) {
		t.Fatalf("notices: %q", notices)
	}
	mu.Unlock()
	filepath.Walk(dataDir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), d.Password) {
				t.Errorf("the remote password is in %s", p)
			}
		}
		return nil
	})

	bin := chromiumPath(t)
	wrap := &withCookie{h: e.h}
	bs := httptest.NewServer(wrap)
	defer bs.Close()
	id, _, _ := e.srv.sessions.create(context.Background(), e.acct.ID, false)
	wrap.mu.Lock()
	wrap.cookie = &http.Cookie{Name: "youju-session", Value: id}
	wrap.mu.Unlock()
	for _, c := range []struct {
		lang, accept string
		width        int
		want         []string
	}{
		{"zh-CN", "zh-CN,zh", 1280, []string{"邮箱搬家", "已完成", "授权码", "imap.163.com"}},
		{"en-US", "en-US", 390, []string{"Import mail from another provider", "complete", "App password", "outlook.office365.com"}},
		{"zh-CN", "zh-CN,zh", 390, []string{"邮箱搬家", "已完成"}},
		{"en-US", "en-US", 1280, []string{"Import mail from another provider", "complete"}},
	} {
		size := fmt.Sprintf("--window-size=%d,900", c.width)
		dom := string(runChromium(t, bin, "--lang="+c.lang, "--accept-lang="+c.accept, size, "--dump-dom", bs.URL+"/settings/import"))
		for _, w := range append(c.want, ">"+fmt.Sprint(n)+"<") {
			if !strings.Contains(dom, w) {
				t.Errorf("%s at %d px: DOM lacks %q", c.lang, c.width, w)
			}
		}
		shot := filepath.Join(t.TempDir(), "import.png")
		runChromium(t, bin, "--lang="+c.lang, "--accept-lang="+c.accept, size, "--screenshot="+shot, "--hide-scrollbars", bs.URL+"/settings/import")
		f, err := os.Open(shot)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if w := img.Bounds().Dx(); w != c.width {
			t.Errorf("screenshot %d px wide, want %d", w, c.width)
		}
		if dir := os.Getenv("YOUJU_SCREENSHOT_DIR"); dir != "" {
			b, _ := os.ReadFile(shot)
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("import-%s-%d.png", c.lang, c.width)), b, 0o644)
		}
	}
}

// stepJobs reports a running job to the page, then a finished one: the
// page's script must replace the server-rendered state by polling.
type stepJobs struct {
	mu    sync.Mutex
	calls int
}

func (s *stepJobs) StartWith(store.AccountID, string, string, int, string, string, bool) error {
	return nil
}
func (s *stepJobs) Status(store.AccountID) (importer.JobStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	st := importer.JobStatus{State: "running", Host: "imap.qq.com", User: "old@qq.com", Read: 5, Imported: 5}
	if s.calls > 2 {
		st.State, st.Read, st.Imported = "done", 1234, 1233
	}
	return st, true
}

// TestImportPagePolls: headless Chromium runs the page's script, which
// polls the status JSON and shows the progress without a reload.
func TestImportPagePolls(t *testing.T) {
	bin := chromiumPath(t)
	jobs := &stepJobs{}
	e := newEnv(t, func(o *Options) { o.Import = jobs })
	wrap := &withCookie{h: e.h}
	bs := httptest.NewServer(wrap)
	defer bs.Close()
	id, _, _ := e.srv.sessions.create(context.Background(), e.acct.ID, false)
	wrap.mu.Lock()
	wrap.cookie = &http.Cookie{Name: "youju-session", Value: id}
	wrap.mu.Unlock()
	dom := string(runChromium(t, bin, "--lang=zh-CN", "--accept-lang=zh-CN,zh", "--virtual-time-budget=10000", "--dump-dom", bs.URL+"/settings/import"))
	for _, w := range []string{`data-state="done"`, ">1233<", ">已完成<"} {
		if !strings.Contains(dom, w) {
			t.Errorf("DOM lacks %q after polling:\n%s", w, dom)
		}
	}
}

// recordJobs records the jobs the page starts.
type recordJobs struct {
	mu      sync.Mutex
	started []string
}

func (r *recordJobs) StartWith(_ store.AccountID, _, host string, port int, user, _ string, starttls bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started = append(r.started, fmt.Sprintf("%s@%s:%d starttls=%v", user, host, port, starttls))
	return nil
}
func (r *recordJobs) Status(store.AccountID) (importer.JobStatus, bool) {
	return importer.JobStatus{}, false
}

// TestImportPageSecurity: the page offers STARTTLS beside SSL/TLS; a
// STARTTLS choice left with the pre-filled 993 (or no port) connects to
// 143, an explicit port is kept, and SSL/TLS stays the default.
func TestImportPageSecurity(t *testing.T) {
	jobs := &recordJobs{}
	e := newEnv(t, func(o *Options) { o.Import = jobs })
	ts := httptest.NewServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	signIn(t, c, ts.URL, testUser, testPassword)
	_, body := get(t, c, ts.URL+"/settings/import")
	for _, want := range []string{`name="security"`, `value="starttls"`, "STARTTLS (port 143)"} {
		if !strings.Contains(body, want) {
			t.Fatalf("import page lacks %q", want)
		}
	}
	for _, f := range []url.Values{
		{"host": {"mail.old.example"}, "port": {"993"}, "security": {"starttls"}},
		{"host": {"mail.old.example"}, "port": {""}, "security": {"starttls"}},
		{"host": {"mail.old.example"}, "port": {"1143"}, "security": {"starttls"}},
		{"host": {"mail.old.example"}, "port": {"993"}, "security": {"tls"}},
		{"host": {"mail.old.example"}, "port": {"993"}},
	} {
		f.Set("csrf", csrfOf(t, body))
		f.Set("remote", "me@old.example")
		f.Set("password", "pw")
		if resp, _ := postForm(t, c, ts.URL+"/settings/import", f); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%v: %s", f, resp.Status)
		}
	}
	want := []string{
		"me@old.example@mail.old.example:143 starttls=true",
		"me@old.example@mail.old.example:143 starttls=true",
		"me@old.example@mail.old.example:1143 starttls=true",
		"me@old.example@mail.old.example:993 starttls=false",
		"me@old.example@mail.old.example:993 starttls=false",
	}
	if strings.Join(jobs.started, "\n") != strings.Join(want, "\n") {
		t.Fatalf("started:\n%s\nwant:\n%s", strings.Join(jobs.started, "\n"), strings.Join(want, "\n"))
	}
}
