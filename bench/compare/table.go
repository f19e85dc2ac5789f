package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// row is one line of the table: a figure and how to print it from a
// result ("" when it was not measured).
type row struct {
	label string
	value func(r *result) string
}

// rows are the figures of issue 12's table, in its order, labelled with
// the run's parameters.
func rows(o *options) []row {
	return []row{
		{fmt.Sprintf("durable SMTP → visible in IMAP, %d conns, %s", o.conns, size(o.size)), func(r *result) string {
			if r.smtpRate == 0 {
				return ""
			}
			return fmt.Sprintf("%s msg/s, DATA p50 %s, p90 %s", thousands(r.smtpRate), ms(r.dataP50), ms(r.dataP90))
		}},
		{"CPU per SMTP message, server / load tool, same run", func(r *result) string {
			if r.smtpServerCPU == 0 {
				return ""
			}
			return fmt.Sprintf("%d / %d µs", r.smtpServerCPU.Microseconds(), r.smtpLoadCPU.Microseconds())
		}},
		{"SMTP 250s (acceptance), same run", func(r *result) string {
			if r.acceptRate == 0 {
				return ""
			}
			return thousands(r.acceptRate) + " msg/s"
		}},
		{"IMAP APPEND fill of one INBOX (one client, LITERAL+ pipelined)", func(r *result) string {
			if r.fillRate == 0 {
				return ""
			}
			return thousands(r.fillRate) + " msg/s"
		}},
		{fmt.Sprintf("SEARCH SUBJECT, %s messages", count(o.messages)), func(r *result) string { return ms(r.searchSubject) }},
		{fmt.Sprintf("SEARCH BODY, %s messages", count(o.messages)), func(r *result) string { return ms(r.searchBody) }},
		{fmt.Sprintf("SELECT INBOX of %s, warm / first after start", count(o.messages)), func(r *result) string {
			if r.selectWarm == 0 {
				return ""
			}
			return strings.TrimSuffix(ms(r.selectWarm), " ms") + " / " + ms(r.selectFirst)
		}},
		{"server CPU per warm SELECT", func(r *result) string {
			if r.selectCPU == 0 {
				return ""
			}
			return fmt.Sprintf("%d µs", r.selectCPU.Microseconds())
		}},
		{fmt.Sprintf("PSS per idle TLS IMAP connection (%s in IDLE)", thousands(float64(o.idle))), func(r *result) string {
			if r.idleKiB == 0 {
				return ""
			}
			return thousands(r.idleKiB) + " KiB"
		}},
	}
}

// table renders the results as a Markdown table, one column per side.
func table(o *options, names []string, results []*result) string {
	var b strings.Builder
	b.WriteString("| figure (this machine) |")
	for _, n := range names {
		b.WriteString(" " + n + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(names)) + "\n")
	for _, rw := range rows(o) {
		b.WriteString("| " + rw.label + " |")
		for _, r := range results {
			v := rw.value(r)
			if v == "" {
				v = "—"
			}
			b.WriteString(" " + v + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// thousands rounds f and writes it with thousands separators: 1,453.
func thousands(f float64) string {
	s := strconv.FormatInt(int64(f+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// ms prints a duration in milliseconds with the precision a reader
// needs: 0.35 ms, 2.7 ms, 457 ms, 4,313 ms ("" for zero).
func ms(d time.Duration) string {
	m := float64(d) / float64(time.Millisecond)
	switch {
	case d == 0:
		return ""
	case m < 1:
		return fmt.Sprintf("%.2f ms", m)
	case m < 10:
		return fmt.Sprintf("%.1f ms", m)
	default:
		return thousands(m) + " ms"
	}
}

// size prints a message size: 10 KB for 10240 bytes.
func size(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KB", n/1024)
	}
	return fmt.Sprintf("%d bytes", n)
}

// count prints a message count: 100k, or 2,500.
func count(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return fmt.Sprintf("%dk", n/1000)
	}
	return thousands(float64(n))
}
