package web

import (
	"net/url"
	"regexp"
	"sync/atomic"

	"github.com/microcosm-cc/bluemonday"
)

// HTML mail is untrusted content. It is shown (1) sanitised by
// bluemonday's allow-list: no script, no event handler attribute, no
// javascript:/data: links, no form, no style element, no meta refresh, no
// SVG, only a few CSS properties with checked values (so no expression()
// or url()), and (2) in a frame whose answer carries
// "Content-Security-Policy: sandbox; default-src 'none'" (mailBody), so
// that even HTML the sanitiser let through by mistake can run nothing.

// mailPolicy builds the policy. blockImages rewrites every remote image
// source to nothing (tracking pixels make no request) and counts them in
// *blocked.
func mailPolicy(blockImages bool, blocked *atomic.Int32) *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.AllowAttrs("align", "valign", "bgcolor", "width", "height", "border", "cellpadding", "cellspacing", "colspan", "rowspan").
		OnElements("table", "tr", "td", "th", "tbody", "thead", "img", "div", "p", "span", "font", "center")
	p.AllowAttrs("color", "size", "face").Matching(regexp.MustCompile(`^[#\w ,.-]{1,64}$`)).OnElements("font")
	p.AllowElements("font", "center")
	p.AllowStyles("color", "background-color", "font-size", "font-weight", "font-style", "font-family",
		"text-align", "text-decoration", "line-height", "vertical-align", "width", "height", "max-width",
		"margin", "padding", "border", "border-collapse", "display").Globally()
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	p.AllowURLSchemes("http", "https", "mailto", "cid")
	if blockImages {
		p.RewriteSrc(func(u *url.URL) {
			if u.Scheme == "http" || u.Scheme == "https" || u.Host != "" {
				blocked.Add(1)
				*u = url.URL{}
			}
		})
	}
	return p
}

// sanitizeMail returns html safe to show and how many remote images it
// blocked.
func sanitizeMail(html string, allowImages bool) (string, int) {
	var blocked atomic.Int32
	out := mailPolicy(!allowImages, &blocked).Sanitize(html)
	return out, int(blocked.Load())
}
