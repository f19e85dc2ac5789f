package message

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"
)

// ErrUnknownCharset is returned by DecodeCharset for a charset it does not
// know.
var ErrUnknownCharset = errors.New("message: unknown charset")

// charsetOverrides maps labels whose usual registry meaning is too narrow
// for real mail. Chinese mailers label GBK and even GB18030 text as
// "gb2312", so all of them decode as GB18030, the superset of both.
var charsetOverrides = map[string]encoding.Encoding{
	"gb2312":      simplifiedchinese.GB18030,
	"gbk":         simplifiedchinese.GB18030,
	"x-gbk":       simplifiedchinese.GB18030,
	"cp936":       simplifiedchinese.GB18030,
	"ms936":       simplifiedchinese.GB18030,
	"windows-936": simplifiedchinese.GB18030,
	"euc-cn":      simplifiedchinese.GB18030,
	"x-euc-cn":    simplifiedchinese.GB18030,
	"csgb2312":    simplifiedchinese.GB18030,
	"gb18030":     simplifiedchinese.GB18030,
	"hz-gb-2312":  simplifiedchinese.HZGB2312,
	"big5":        traditionalchinese.Big5,
	"big5-hkscs":  traditionalchinese.Big5,
	"x-big5":      traditionalchinese.Big5,
	"cp950":       traditionalchinese.Big5,
	// RFC 2046 §4.1.2: us-ascii is the default; 8-bit bytes in it are in
	// practice Latin-1 or Windows-1252, which htmlindex maps it to.
	"iso-8859-1": charmap.Windows1252,
	"latin1":     charmap.Windows1252,
	// RFC 2781 §4.3: unlabelled UTF-16 is big-endian unless a BOM says
	// otherwise (WHATWG's little-endian default is for the web).
	"utf-16": unicode.UTF16(unicode.BigEndian, unicode.UseBOM),
}

// lookupCharset finds the decoder for a MIME charset label, or nil.
// utf8 reports labels whose text is UTF-8 (or its subset US-ASCII) and needs
// no transcoding.
func lookupCharset(charset string) (enc encoding.Encoding, utf8Label bool) {
	cs := strings.ToLower(strings.TrimSpace(charset))
	cs = strings.Trim(cs, "\"'")
	// RFC 2231 §5: a language may follow the charset after "*".
	if i := strings.IndexByte(cs, '*'); i >= 0 {
		cs = cs[:i]
	}
	switch cs {
	case "utf-8", "utf8", "us-ascii", "ascii", "":
		return nil, true
	}
	if e, ok := charsetOverrides[cs]; ok {
		return e, false
	}
	if e, err := htmlindex.Get(cs); err == nil && e != nil {
		if e == encoding.Replacement {
			return nil, false
		}
		return e, false
	}
	if e, err := ianaindex.MIME.Encoding(cs); err == nil && e != nil {
		return e, false
	}
	return nil, false
}

// DecodeCharset converts b from the named MIME charset to UTF-8. Invalid
// byte sequences become U+FFFD. An unknown charset returns
// ErrUnknownCharset and b itself with invalid UTF-8 replaced, so callers
// that do not care about the error still get text.
func DecodeCharset(charset string, b []byte) (string, error) {
	enc, isUTF8 := lookupCharset(charset)
	if isUTF8 {
		return validUTF8(b), nil
	}
	if enc == nil {
		return validUTF8(b), ErrUnknownCharset
	}
	if isASCII(b) && asciiCompatible(enc) {
		return string(b), nil
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return validUTF8(b), err
	}
	return validUTF8(out), nil
}

// asciiCompatible reports encodings in which ASCII bytes stand for
// themselves, so ASCII input needs no decoding; not so for ISO-2022-*
// and HZ (escape sequences) or UTF-16.
func asciiCompatible(enc encoding.Encoding) bool {
	n := strings.ToUpper(encName(enc))
	return n != "" && !strings.Contains(n, "2022") && !strings.Contains(n, "HZ") && !strings.Contains(n, "UTF-16")
}

func encName(enc encoding.Encoding) string {
	if s, ok := enc.(interface{ String() string }); ok {
		return s.String()
	}
	return ""
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// maxDecodedHeader bounds the input DecodeHeader works on.
const maxDecodedHeader = 64 << 10

// DecodeHeader decodes the RFC 2047 encoded-words of an unfolded header
// value into UTF-8. Adjacent encoded-words are joined (RFC 2047 §6.2), and
// those of the same charset are decoded together because mailers split a
// multi-byte character across words. Encoded-words are recognised even
// inside other text, as many mailers produce them there. A word with an
// unknown charset or bad encoding is left as it is. Raw 8-bit text that is
// not UTF-8 is taken as GB18030 if it decodes cleanly, else bad bytes
// become U+FFFD.
func DecodeHeader(s string) string {
	if len(s) > maxDecodedHeader {
		s = s[:maxDecodedHeader]
	}
	if !strings.Contains(s, "=?") {
		return decodeRaw(s)
	}
	var out strings.Builder
	var pend []byte   // decoded bytes of adjacent words of one charset
	var pendCS string // their charset
	var gap string    // whitespace after the last word, dropped if another follows
	flush := func() {
		if pend != nil {
			t, _ := DecodeCharset(pendCS, pend)
			out.WriteString(t)
			pend, pendCS = nil, ""
		}
	}
	sc := wordScanner{s: s}
	pos := 0 // s[:pos] is written out (or pending)
	for pos < len(s) {
		k := strings.Index(s[pos:], "=?")
		if k < 0 {
			break
		}
		i := pos + k
		cs, raw, end, ok := sc.word(i)
		if !ok {
			flush()
			out.WriteString(gap)
			gap = ""
			out.WriteString(decodeRaw(s[pos : i+2]))
			pos = i + 2
			continue
		}
		lead := s[pos:i]
		enc, isUTF8 := lookupCharset(cs)
		known := enc != nil || isUTF8
		if pend != nil && known && isSpace(lead) {
			// RFC 2047 §6.2: whitespace between encoded-words is ignored.
		} else {
			flush()
			out.WriteString(gap)
			out.WriteString(decodeRaw(lead))
		}
		gap = ""
		if pend != nil && !strings.EqualFold(pendCS, cs) {
			flush()
		}
		if known {
			pendCS = cs
			pend = append(pend, raw...)
		} else {
			out.WriteString(decodeRaw(s[i:end])) // unknown charset: leave as is
		}
		pos = end
		// Keep following whitespace aside in case another word follows.
		j := pos
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		if pend != nil {
			gap, pos = s[pos:j], j
		}
	}
	flush()
	out.WriteString(gap)
	out.WriteString(decodeRaw(s[pos:]))
	return out.String()
}

// wordScanner finds encoded-words in s in linear time overall: the
// positions of the next "?=" and the next blank are cached, as the words
// are looked for at ascending offsets.
type wordScanner struct {
	s         string
	qe, blank int // next "?=" / blank at or after the last search start
	qeFrom    int // where the cached "?=" search started
	blankFrom int
}

// next returns the first index >= from of sep in s (or len(s)), reusing
// the cached answer while it is still ahead.
func (w *wordScanner) next(cache, cacheFrom *int, from int, find func(string) int) int {
	if *cacheFrom == 0 && *cache == 0 || from > *cache || from < *cacheFrom {
		*cacheFrom = from
		if k := find(w.s[from:]); k >= 0 {
			*cache = from + k
		} else {
			*cache = len(w.s)
		}
	}
	return *cache
}

// word parses "=?charset?enc?text?=" at s[i] (RFC 2047 §2), returning the
// charset, the decoded bytes and the end of the word.
func (w *wordScanner) word(i int) (charset string, raw []byte, end int, ok bool) {
	rest := w.s[i+2:]
	q1 := strings.IndexByte(rest[:min(len(rest), 66)], '?')
	if q1 <= 0 || len(rest) < q1+3 || rest[q1+2] != '?' {
		return "", nil, 0, false
	}
	charset = rest[:q1]
	encByte := rest[q1+1] | 0x20
	textStart := i + 2 + q1 + 3
	qe := w.next(&w.qe, &w.qeFrom, textStart, func(s string) int { return strings.Index(s, "?=") })
	if qe >= len(w.s) {
		return "", nil, 0, false
	}
	blank := w.next(&w.blank, &w.blankFrom, textStart, func(s string) int { return strings.IndexAny(s, " \t") })
	if blank < qe {
		return "", nil, 0, false
	}
	text := w.s[textStart:qe]
	switch encByte {
	case 'b':
		raw, ok = decodeB(text)
	case 'q':
		raw, ok = decodeQ(text), true
	}
	if !ok {
		return "", nil, 0, false
	}
	return charset, raw, qe + 2, true
}

func isSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n' {
			return false
		}
	}
	return true
}

// decodeB decodes the "B" encoding, tolerating missing padding.
func decodeB(text string) ([]byte, bool) {
	text = strings.TrimRight(text, "=")
	b, err := base64.RawStdEncoding.DecodeString(text)
	if err != nil {
		// Salvage what decodes: some mailers append junk.
		if ce, ok := err.(base64.CorruptInputError); ok && ce > 0 {
			b, err = base64.RawStdEncoding.DecodeString(text[:int(ce)&^3])
		}
		if err != nil {
			return nil, false
		}
	}
	return b, true
}

// decodeQ decodes the "Q" encoding (RFC 2047 §4.2): "_" is a space and
// "=XX" a byte; a malformed "=" stays literal.
func decodeQ(text string) []byte {
	b := make([]byte, 0, len(text))
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '_':
			b = append(b, ' ')
		case c == '=' && i+2 < len(text) && isHex(text[i+1]) && isHex(text[i+2]):
			b = append(b, unhex(text[i+1])<<4|unhex(text[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return b
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// decodeRaw turns unencoded header text into UTF-8. RFC 6532 allows raw
// UTF-8; older Chinese mailers send raw GB2312/GBK, which is tried next.
func decodeRaw(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out, err := simplifiedchinese.GB18030.NewDecoder().String(s)
	if err == nil && !strings.ContainsRune(out, utf8.RuneError) {
		return out
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
