package web

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/store"
)

// The settings page in a real browser: headless Chromium renders it
// (screenshot must decode and not be blank) and its DOM holds the texts.
// Chromium cannot fill forms without scripting, so the signed-in page is
// reached with a session made in the test and its cookie added by a thin
// wrapper around the handler; the sign-in flow itself is tested over HTTP
// in settings_test.go.

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed, and $CI is set: browser tests must run in CI (apt-get install chromium)")
	}
	t.Skip("chromium is not installed: skipping the browser tests (apt-get install -y chromium)")
	return ""
}

// runChromium runs headless Chromium with the given extra arguments and
// returns its standard output.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + browserProfile(t), "--window-size=1100,1400"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// withCookie adds the session cookie to requests that lack it, and
// records the Accept-Language the browser sent.
type withCookie struct {
	h      http.Handler
	cookie *http.Cookie
	mu     sync.Mutex
	langs  []string
}

func (w *withCookie) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	w.langs = append(w.langs, r.Header.Get("Accept-Language"))
	cookie := w.cookie
	w.mu.Unlock()
	if cookie != nil {
		if _, err := r.Cookie(cookie.Name); err != nil {
			r.AddCookie(cookie)
		}
	}
	w.h.ServeHTTP(rw, r)
}

func TestBrowserRendersPages(t *testing.T) {
	bin := chromiumPath(t)
	e := newEnv(t, nil)
	ctx := context.Background()
	hash, _ := auth.HashPassword("app-secret")
	if _, err := e.st.AddAppPassword(ctx, store.AppPassword{AccountID: e.acct.ID, Name: "iPhone 手机", Hash: hash, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	wrap := &withCookie{h: e.h}
	ts := httptest.NewServer(wrap) // 127.0.0.1: plain HTTP is allowed from loopback
	defer ts.Close()

	t.Run("public page in English", func(t *testing.T) {
		dom := string(runChromium(t, bin, "--lang=en-US", "--accept-lang=en-US", "--dump-dom", ts.URL+"/"))
		for _, want := range []string{"Settings for mail apps", "mail.example.test", "10993", "SSL/TLS", `name="password"`, "your full e-mail address"} {
			if !strings.Contains(dom, want) {
				t.Errorf("DOM lacks %q", want)
			}
		}
	})

	id, _, _ := e.srv.sessions.create(context.Background(), e.acct.ID, false)
	wrap.mu.Lock()
	wrap.cookie = &http.Cookie{Name: "youju-session", Value: id}
	wrap.mu.Unlock()

	t.Run("settings page in Chinese", func(t *testing.T) {
		dom := string(runChromium(t, bin, "--lang=zh-CN", "--accept-lang=zh-CN,zh", "--dump-dom", ts.URL+"/settings"))
		for _, want := range []string{"当前账户", testUser, "应用专用密码", "iPhone 手机", "允许 POP3", "下载 iPhone", "10465"} {
			if !strings.Contains(dom, want) {
				wrap.mu.Lock()
				t.Errorf("DOM lacks %q (Accept-Language sent: %q)", want, wrap.langs)
				wrap.mu.Unlock()
			}
		}
	})

	t.Run("screenshot", func(t *testing.T) {
		shot := filepath.Join(t.TempDir(), "settings.png")
		runChromium(t, bin, "--lang=en-US", "--screenshot="+shot, "--hide-scrollbars", ts.URL+"/settings")
		f, err := os.Open(shot)
		if err != nil {
			t.Fatalf("no screenshot: %v", err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatalf("screenshot does not decode: %v", err)
		}
		checkRendered(t, img)
		if dir := os.Getenv("YOUJU_SCREENSHOT_DIR"); dir != "" {
			b, _ := os.ReadFile(shot)
			os.WriteFile(filepath.Join(dir, "settings.png"), b, 0o644)
		}
	})
}

// checkRendered fails for a blank page: a rendered settings page has the
// header's blue, white sections and dark text, so many colours and a good
// share of non-background pixels.
func checkRendered(t *testing.T, img image.Image) {
	t.Helper()
	b := img.Bounds()
	if b.Dx() < 500 || b.Dy() < 500 {
		t.Fatalf("screenshot is %v", b)
	}
	colours := map[[3]uint32]int{}
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, bl >> 8}]++
		}
	}
	if len(colours) < 20 {
		t.Errorf("screenshot has only %d colours: the page did not render", len(colours))
	}
	// The header is #1f5f8b: there must be a band of it at the top.
	r, g, bl, _ := img.At(b.Min.X+20, b.Min.Y+20).RGBA()
	if r>>8 != 0x1f || g>>8 != 0x5f || bl>>8 != 0x8b {
		t.Errorf("top-left pixel is %02x%02x%02x, want the header's 1f5f8b (stylesheet not applied?)", r>>8, g>>8, bl>>8)
	}
}
