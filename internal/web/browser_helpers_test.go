package web

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// startBrowser starts headless Chromium (bin) for one test, stopped at
// its end, and returns its context and run, which runs actions with a
// minute's limit and fails the test with the page's location and HTML.
func startBrowser(t *testing.T, bin string) (context.Context, func(what string, actions ...chromedp.Action)) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(browserProfile(t)))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	bctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(cancel)
	if err := chromedp.Run(bctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		ctx, cancelT := context.WithTimeout(bctx, 60*time.Second)
		defer cancelT()
		if err := chromedp.Run(ctx, actions...); err != nil {
			var loc, html string
			dctx, c := context.WithTimeout(bctx, 10*time.Second)
			chromedp.Run(dctx, chromedp.Location(&loc), chromedp.OuterHTML("html", &html, chromedp.ByQuery))
			c()
			t.Fatalf("%s: %v (at %s)\n%s", what, err, loc, html)
		}
	}
	return bctx, run
}

// browserSignIn signs in through the form (in English) at base, at
// 1280 px, and waits for the settings page.
func browserSignIn(run func(string, ...chromedp.Action), base string) {
	run("sign in", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/lang/en"),
		chromedp.SetValue(`input[name=username]`, testUser, chromedp.ByQuery),
		chromedp.SetValue(`input[name=password]`, testPassword, chromedp.ByQuery),
		chromedp.Submit(`#signin form`, chromedp.ByQuery), chromedp.WaitVisible(`#address`, chromedp.ByQuery))
}
