package sieve

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/youju/youju/internal/message"
)

// datePart extracts one date-part of RFC 5260 §4.2 from t.
func datePart(t time.Time, part string) (string, bool) {
	switch part {
	case "year":
		return fmt.Sprintf("%04d", t.Year()), true
	case "month":
		return fmt.Sprintf("%02d", int(t.Month())), true
	case "day":
		return fmt.Sprintf("%02d", t.Day()), true
	case "date":
		return t.Format("2006-01-02"), true
	case "julian":
		// Modified Julian Day: days since 1858-11-17.
		base := time.Date(1858, 11, 17, 0, 0, 0, 0, time.UTC)
		d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		return strconv.Itoa(int(d.Sub(base).Hours() / 24)), true
	case "hour":
		return fmt.Sprintf("%02d", t.Hour()), true
	case "minute":
		return fmt.Sprintf("%02d", t.Minute()), true
	case "second":
		return fmt.Sprintf("%02d", t.Second()), true
	case "time":
		return t.Format("15:04:05"), true
	case "iso8601":
		return t.Format("2006-01-02T15:04:05-07:00"), true
	case "std11":
		return t.Format("Mon, 02 Jan 2006 15:04:05 -0700"), true
	case "zone":
		return t.Format("-0700"), true
	case "weekday":
		return strconv.Itoa(int(t.Weekday())), true
	}
	return "", false
}

var dateParts = []string{"year", "month", "day", "date", "julian", "hour", "minute", "second", "time", "iso8601", "std11", "zone", "weekday"}

// parseZone reads a :zone argument, "+hhmm" or "-hhmm" (RFC 5260 §4.1).
func parseZone(z string) (*time.Location, bool) {
	if len(z) != 5 || (z[0] != '+' && z[0] != '-') {
		return nil, false
	}
	h, err1 := strconv.Atoi(z[1:3])
	m, err2 := strconv.Atoi(z[3:5])
	if err1 != nil || err2 != nil || h > 23 || m > 59 {
		return nil, false
	}
	off := h*3600 + m*60
	if z[0] == '-' {
		off = -off
	}
	return time.FixedZone(z, off), true
}

// checkDate compiles date and currentdate (RFC 5260 §4, §5).
func (c *checker) checkDate(n *node, t *test) (*test, error) {
	if err := c.need("date", n.pos, n.name); err != nil {
		return nil, err
	}
	spec := c.matchTags(map[string]tagParam{"zone": pString})
	kinds := "sl"
	if n.name == "date" {
		spec["originalzone"] = pNone
		kinds = "ssl"
	}
	av, err := c.noTests(n, spec)
	if err != nil {
		return nil, err
	}
	if av.has("zone") && av.has("originalzone") {
		return nil, errAt(n.pos, "tags :zone and :originalzone exclude each other")
	}
	if err := av.positional(n.name, kinds); err != nil {
		return nil, err
	}
	if t.m, err = newMatcher(av); err != nil {
		return nil, err
	}
	if z, ok := av.str("zone"); ok {
		if _, ok := parseZone(z); !ok {
			return nil, errAt(av.tags["zone"].pos, "bad :zone %q: expected +hhmm or -hhmm", z)
		}
		t.zone = z
	}
	t.origZone = av.has("originalzone")
	i := 0
	if n.name == "date" {
		t.names = av.pos[0].strs
		i = 1
	}
	t.part = strings.ToLower(av.pos[i].strs[0])
	if !c.req["variables"] {
		if _, ok := datePart(time.Time{}, t.part); !ok {
			return nil, errAt(av.pos[i].pos, "unknown date-part %q: expected one of %s", t.part, strings.Join(dateParts, ", "))
		}
	}
	t.keys = av.pos[i+1].strs
	return t, nil
}

// dateValues is the date-part of the header's date, or of now.
func (r *run) dateValues(t *test) []string {
	var when time.Time
	if t.kind == "currentdate" {
		when = r.msg.now()
	} else {
		hs := r.msg.Header(r.expand(t.names[0]))
		if len(hs) == 0 {
			return nil
		}
		// RFC 5260 §4: for Received, the date follows the last ";".
		v := hs[0]
		if strings.EqualFold(t.names[0], "received") {
			if i := strings.LastIndexByte(v, ';'); i >= 0 {
				v = v[i+1:]
			}
		}
		d, ok := message.ParseDate(v)
		if !ok {
			return nil
		}
		when = d
	}
	switch {
	case t.zone != "":
		loc, _ := parseZone(t.zone)
		when = when.In(loc)
	case !t.origZone:
		when = when.In(time.Local)
	}
	p, ok := datePart(when, strings.ToLower(r.expand(t.part)))
	if !ok {
		return nil
	}
	return []string{p}
}
