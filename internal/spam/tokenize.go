package spam

import (
	"bytes"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/youju/youju/internal/message"
)

// Tokenizer limits: a message costs at most this much text and this many
// distinct tokens, however large it is.
const (
	maxTextBytes = 64 << 10
	maxTokens    = 4000
	minWord      = 2
	maxWord      = 24
)

// Tokens returns the distinct tokens of a message (CRLF form): words of
// Latin-script text, bigrams of CJK characters (Chinese has no spaces;
// bigrams classify about as well as a segmenter, without a dictionary),
// and a few header tokens: the From domain, the Subject's words, the
// domains of URLs. The body is decoded first (transfer encoding,
// charset: GBK, GB18030, Big5 and the rest through internal/message).
func Tokens(msg []byte) []string {
	info := message.Parse(msg)
	set := make(map[string]struct{}, 256)
	add := func(t string) {
		if len(set) < maxTokens {
			set[t] = struct{}{}
		}
	}
	if i := strings.LastIndexByte(info.From, '@'); i >= 0 {
		d := strings.ToLower(strings.Trim(info.From[i+1:], "> \""))
		add("from:" + d)
	}
	words(info.Subject, func(w string) { add("subj:" + w) })
	text, _ := message.BodyText(bytes.NewReader(msg), info, maxTextBytes)
	urls(text, func(d string) { add("url:" + d) })
	words(text, add)
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	return out
}

func isCJK(r rune) bool {
	return unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) ||
		unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Hangul, r)
}

// words calls fn for each lower-cased Latin word (digits included) of
// minWord..maxWord bytes and each CJK character bigram of s. A lone CJK
// character between non-CJK text is a token of its own. Tokens are
// substrings of s where possible (no allocation).
func words(s string, fn func(string)) {
	ws := -1 // start of the word being read
	upper := false
	prev := -1 // start of the previous CJK character
	lone := false
	flushWord := func(end int) {
		if ws >= 0 && end-ws >= minWord && end-ws <= maxWord {
			if upper {
				fn(strings.ToLower(s[ws:end]))
			} else {
				fn(s[ws:end])
			}
		}
		ws, upper = -1, false
	}
	endCJK := func(end int) {
		if lone {
			fn(s[prev:end])
		}
		prev, lone = -1, false
	}
	for i, r := range s {
		switch {
		case r < 0x80 && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '\'' || r == '$'):
			endCJK(i)
			if ws < 0 {
				ws = i
			}
		case r < 0x80 && r >= 'A' && r <= 'Z':
			endCJK(i)
			if ws < 0 {
				ws = i
			}
			upper = true
		case r < 0x80:
			endCJK(i)
			flushWord(i)
		case isCJK(r):
			flushWord(i)
			if prev >= 0 {
				fn(s[prev : i+utf8.RuneLen(r)])
				lone = false
			} else {
				lone = true
			}
			prev = i
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '€' || r == '¥':
			endCJK(i)
			if ws < 0 {
				ws = i
			}
			upper = true // lower-case it whatever it is
		default:
			endCJK(i)
			flushWord(i)
		}
	}
	endCJK(len(s))
	flushWord(len(s))
}

// urls calls fn for the host of each http(s) URL in s.
func urls(s string, fn func(string)) {
	for n := 0; n < 100; n++ {
		i := strings.Index(s, "http")
		if i < 0 {
			return
		}
		s = s[i:]
		end := strings.IndexFunc(s, func(r rune) bool {
			return r == ' ' || r == '\n' || r == '\r' || r == '\t' || r == '"' || r == '<' || r == '>' || r == utf8.RuneError
		})
		raw := s
		if end >= 0 {
			raw = s[:end]
		}
		s = s[len(raw):]
		if !strings.HasPrefix(raw, "http://") && !strings.HasPrefix(raw, "https://") {
			s = s[min(len(s), 4):]
			continue
		}
		if u, err := url.Parse(raw); err == nil && u.Hostname() != "" {
			fn(strings.ToLower(u.Hostname()))
		}
	}
}
