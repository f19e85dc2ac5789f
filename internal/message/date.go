package message

import (
	"strconv"
	"strings"
	"time"
)

// maxDateLen bounds the Date: value looked at.
const maxDateLen = 200

var monthNames = map[string]time.Month{
	"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
	"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}

// RFC 5322 §4.3 obsolete zones; military zones other than Z are treated
// as +0000 as §4.3 recommends.
var zoneNames = map[string]int{
	"ut": 0, "utc": 0, "gmt": 0, "z": 0,
	"est": -5, "edt": -4, "cst": -6, "cdt": -5,
	"mst": -7, "mdt": -6, "pst": -8, "pdt": -7,
	// Seen in the wild although not in any RFC.
	"cet": 1, "cest": 2, "bst": 1, "jst": 9, "kst": 9, "hkt": 8, "sgt": 8,
	"ist": 5, "eet": 2, "eest": 3, "wet": 0, "west": 1, "msk": 3,
}

// ParseDate parses an RFC 5322 §3.3 date-time, tolerant of what mailers
// get wrong: missing or misspelt day names, missing seconds or zone,
// 2-digit years (§4.3), asctime order, full month names, zone names,
// dashes or slashes as separators. It returns false if no date is found.
func ParseDate(s string) (time.Time, bool) {
	if len(s) > maxDateLen {
		s = s[:maxDateLen]
	}
	s = stripComments(s)
	var (
		day, year, hour, min, sec = -1, -1, -1, 0, 0
		month                     time.Month
		offset                    = 0
		zoneSeen                  bool
	)
	for _, tok := range dateTokens(s) {
		switch {
		case (tok[0] == '+' || tok[0] == '-') && len(tok) >= 3:
			if off, ok := parseOffset(tok[1:]); ok && !zoneSeen {
				if tok[0] == '-' {
					off = -off
				}
				offset, zoneSeen = off, true
			}
		case strings.Contains(tok, ":"):
			if hour >= 0 {
				continue
			}
			h, m, sc, ok := parseClock(tok)
			if !ok {
				return time.Time{}, false
			}
			hour, min, sec = h, m, sc
		case isDigits(tok):
			n, _ := strconv.Atoi(tok)
			switch {
			case day < 0 && len(tok) <= 2 && n >= 1 && n <= 31:
				day = n
			case year < 0:
				year = fixYear(n, len(tok))
			}
		default:
			w := strings.ToLower(strings.TrimRight(tok, "."))
			if m, ok := monthNames[prefix3(w)]; ok && month == 0 && len(w) >= 3 {
				month = m
			} else if h, ok := zoneNames[w]; ok && !zoneSeen && hour >= 0 {
				offset, zoneSeen = h*3600, true
			}
		}
	}
	if day < 0 || month == 0 || year < 0 || hour < 0 {
		return time.Time{}, false
	}
	if hour > 23 || min > 59 || sec > 60 || day > daysIn(month, year) {
		return time.Time{}, false
	}
	if sec == 60 {
		sec = 59 // leap second: time.Date would roll over
	}
	return time.Date(year, month, day, hour, min, sec, 0, time.FixedZone("", offset)), true
}

func prefix3(s string) string {
	if len(s) < 3 {
		return s
	}
	return s[:3]
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// dateTokens splits on spaces and commas, and splits "1-Jan-2020" or
// "1.1.2020"-like words, but keeps a leading sign of a zone.
func dateTokens(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == ',' || r == '\r' || r == '\n'
	}) {
		if len(out) > 20 {
			break
		}
		if len(f) > 1 && (f[0] == '+' || f[0] == '-') {
			out = append(out, f)
			continue
		}
		if strings.Contains(f, ":") {
			out = append(out, f)
			continue
		}
		for _, g := range strings.FieldsFunc(f, func(r rune) bool { return r == '-' || r == '/' }) {
			out = append(out, g)
		}
	}
	return out
}

func parseClock(tok string) (h, m, s int, ok bool) {
	parts := strings.Split(tok, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, 0, 0, false
	}
	var v [3]int
	for i, p := range parts {
		// Allow "10:00:00.123" fractions.
		if j := strings.IndexByte(p, '.'); j >= 0 && i == len(parts)-1 {
			p = p[:j]
		}
		if !isDigits(p) || len(p) > 2 {
			return 0, 0, 0, false
		}
		v[i], _ = strconv.Atoi(p)
	}
	return v[0], v[1], v[2], true
}

func parseOffset(s string) (int, bool) {
	s = strings.ReplaceAll(s, ":", "")
	if !isDigits(s) || (len(s) != 4 && len(s) != 2) {
		return 0, false
	}
	n, _ := strconv.Atoi(s)
	if len(s) == 2 {
		n *= 100
	}
	h, m := n/100, n%100
	if h > 23 || m > 59 {
		return 0, false
	}
	return h*3600 + m*60, true
}

// fixYear applies RFC 5322 §4.3: 2-digit years below 50 are 20xx, others
// 19xx; 3-digit years add 1900.
func fixYear(n, digits int) int {
	switch {
	case digits <= 2 && n < 50:
		return 2000 + n
	case digits <= 2:
		return 1900 + n
	case digits == 3:
		return 1900 + n
	}
	if n > 9999 {
		return 9999
	}
	return n
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
