package web

import (
	"html"
	"strings"
	"unicode/utf8"
)

// The HTML alternative of a composed message (RFC 2046 §5.1.4), made
// from the plain text the user typed, so that a reply looks like one in
// clients that show only the HTML part (Outlook, QQ Mail) instead of a
// block of "> " lines in a proportional font: paragraphs and line breaks
// kept, quoted lines (RFC 3676 §4.5: depth = the leading '>') as nested
// <blockquote>s, http(s) and mailto links made clickable. Everything
// else is text, escaped: what the user typed is never markup.

// htmlQuoteStyle is the usual look of a quoted reply (Gmail's, which
// Outlook and QQ Mail render as a grey bar).
const htmlQuoteStyle = `margin:0 0 0 .8ex;border-left:1px solid #ccc;padding-left:1ex`

// textToHTML returns the HTML document of text.
func textToHTML(text string) string {
	var b strings.Builder
	b.WriteString("<!doctype html>\n<html><head><meta charset=\"utf-8\"></head><body>\n<div style=\"font-family:sans-serif\">\n")
	depth := 0
	para := false // inside a <p>
	for _, ln := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		d, rest := quoteDepth(ln)
		if d != depth || strings.TrimSpace(rest) == "" {
			if para {
				b.WriteString("</p>\n")
				para = false
			}
		}
		for ; depth < d; depth++ {
			b.WriteString("<blockquote style=\"" + htmlQuoteStyle + "\">\n")
		}
		for ; depth > d; depth-- {
			b.WriteString("</blockquote>\n")
		}
		if strings.TrimSpace(rest) == "" {
			continue
		}
		if para {
			b.WriteString("<br>\n")
		} else {
			b.WriteString("<p>")
			para = true
		}
		writeLinked(&b, rest)
	}
	if para {
		b.WriteString("</p>\n")
	}
	for ; depth > 0; depth-- {
		b.WriteString("</blockquote>\n")
	}
	b.WriteString("</div>\n</body></html>\n")
	return b.String()
}

// maxQuoteDepth bounds the nesting a line can ask for: a line of a
// thousand '>' is text beyond it, not a thousand <blockquote>s.
const maxQuoteDepth = 20

// quoteDepth counts a line's leading '>' (spaces between them allowed,
// as "> > " is common) and returns the rest, without the space that
// follows the last one (RFC 3676 §4.5 space-stuffing).
func quoteDepth(ln string) (int, string) {
	d, i := 0, 0
	for i < len(ln) && d < maxQuoteDepth {
		j := i
		for j < len(ln) && ln[j] == ' ' && d > 0 {
			j++
		}
		if j < len(ln) && ln[j] == '>' {
			d, i = d+1, j+1
			continue
		}
		break
	}
	if d > 0 && i < len(ln) && ln[i] == ' ' {
		i++
	}
	return d, ln[i:]
}

// writeLinked writes s escaped, its links as <a href>.
func writeLinked(b *strings.Builder, s string) {
	for s != "" {
		i, n := nextLink(s)
		if i < 0 {
			b.WriteString(html.EscapeString(s))
			return
		}
		b.WriteString(html.EscapeString(s[:i]))
		u := html.EscapeString(s[i : i+n])
		b.WriteString(`<a href="` + u + `">` + u + `</a>`)
		s = s[i+n:]
	}
}

// linkSchemes are the schemes made clickable; javascript:, data: and
// the rest stay text.
var linkSchemes = []string{"https://", "http://", "mailto:"}

// nextLink finds the first link of s: its start and length, or -1. A
// link ends at a space, at a character that cannot be in a URL unescaped
// (RFC 3986 §2: no quotes, angle brackets or non-ASCII, so "见
// https://a.cn/x。" stops before the 。), and a sentence's closing
// punctuation after it is not part of it.
func nextLink(s string) (int, int) {
	for i := 0; i < len(s); i++ {
		n := schemeAt(s[i:])
		// A scheme inside a word ("xhttp://") is text.
		if n == 0 || (i > 0 && isWordByte(s[i-1])) {
			continue
		}
		end := i + n
		for end < len(s) && isURLByte(s[end]) {
			end++
		}
		for end > i+n && strings.IndexByte(".,;:!?)]}'*", s[end-1]) >= 0 {
			end--
		}
		if end > i+n { // a scheme alone is text too
			return i, end - i
		}
		i += n - 1
	}
	return -1, 0
}

// schemeAt returns the length of the link scheme s starts with, or 0.
func schemeAt(s string) int {
	for _, sch := range linkSchemes {
		if len(s) >= len(sch) && strings.EqualFold(s[:len(sch)], sch) {
			return len(sch)
		}
	}
	return 0
}

// isURLByte reports whether c may be in a URL as typed (RFC 3986 §2:
// not a space, control, quote, angle bracket or non-ASCII byte).
func isURLByte(c byte) bool {
	return c > ' ' && c < utf8.RuneSelf && strings.IndexByte(`"<>\^`+"`{|}", c) < 0
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// textEncoding is the transfer encoding of a UTF-8 text part (RFC 2045
// §6): quoted-printable for mostly-ASCII text, readable in the raw; base64
// when more than a third of the bytes are not ASCII (Chinese text, where
// quoted-printable would triple every byte and base64 adds a third).
func textEncoding(s string) string {
	high := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			high++
		}
	}
	if high*3 > len(s) {
		return "base64"
	}
	return "quoted-printable"
}
