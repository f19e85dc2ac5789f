// Package metrics is a small, dependency-free registry of counters, gauges
// and histograms exposed in the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/). youju
// does not pull in client_golang: a mail server needs a handful of metric
// types, and this package keeps them in a few hundred lines.
//
// Metrics are defined once, at package initialization, with NewCounter,
// NewGauge, NewHistogram and NewGaugeFunc; the well-known youju metrics
// live in youju.go so every package uses the same names. Label values must
// come from small fixed sets (protocol, result, listener name), never from
// client input such as addresses: every distinct value is a series kept
// for the life of the process.
package metrics

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// ContentType is the media type of the text exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Default is the registry of the package-level New* functions, the one the
// web server exposes at /metrics.
var Default = NewRegistry()

// Registry holds metric families by name.
type Registry struct {
	mu   sync.Mutex
	fams map[string]family
}

// family is one metric name with its HELP and TYPE and all its series.
type family interface {
	desc() *desc
	// write appends the family's sample lines (no HELP/TYPE) to b and
	// reports whether it had any.
	write(b *bytes.Buffer) bool
}

// desc describes a metric family.
type desc struct {
	name, help, typ string
	labels          []string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{fams: make(map[string]family)}
}

// register adds f, or returns the family already registered under the same
// name if it has the same type, help and labels (and buckets), so that
// defining a metric twice, as tests that build several servers may, is
// harmless. Any other clash, or an invalid name, is a programming error
// found on the first run, and panics like regexp.MustCompile.
func (r *Registry) register(f family, same func(old family) bool) family {
	d := f.desc()
	if !validName(d.name, true) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", d.name))
	}
	for _, l := range d.labels {
		if !validName(l, false) || strings.HasPrefix(l, "__") || (d.typ == "histogram" && l == "le") {
			panic(fmt.Sprintf("metrics: invalid label name %q for %s", l, d.name))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.fams[d.name]; ok {
		od := old.desc()
		if od.typ == d.typ && od.help == d.help && slices.Equal(od.labels, d.labels) && same(old) {
			return old
		}
		panic(fmt.Sprintf("metrics: %s registered twice with different definitions", d.name))
	}
	r.fams[d.name] = f
	return f
}

// Unregister removes the family called name and reports whether there was
// one.
func (r *Registry) Unregister(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.fams[name]
	delete(r.fams, name)
	return ok
}

// validName reports whether s is a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)
// or, without colons, a label name.
func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		ok := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(colon && c == ':') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// WriteTo writes every family with samples in the text exposition format,
// sorted by metric name and then by label values, so that the output is
// stable. It implements io.WriterTo.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	fams := make([]family, 0, len(r.fams))
	for _, f := range r.fams {
		fams = append(fams, f)
	}
	r.mu.Unlock()
	slices.SortFunc(fams, func(a, b family) int { return strings.Compare(a.desc().name, b.desc().name) })

	// Gauge functions run outside the registry lock: they may take locks
	// of their own (a queue's) and must not be able to deadlock with a
	// concurrent registration.
	var out, samples bytes.Buffer
	for _, f := range fams {
		samples.Reset()
		if !f.write(&samples) {
			continue // a vector without series: nothing to say yet
		}
		d := f.desc()
		out.WriteString("# HELP ")
		out.WriteString(d.name)
		out.WriteByte(' ')
		out.WriteString(escapeHelp(d.help))
		out.WriteString("\n# TYPE ")
		out.WriteString(d.name)
		out.WriteByte(' ')
		out.WriteString(d.typ)
		out.WriteByte('\n')
		out.Write(samples.Bytes())
	}
	return out.WriteTo(w)
}

// Handler returns an http.Handler serving the registry to GET and HEAD.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var buf bytes.Buffer
		r.WriteTo(&buf)
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		if req.Method == http.MethodGet {
			w.Write(buf.Bytes())
		}
	})
}

// Handler serves the Default registry.
func Handler() http.Handler { return Default.Handler() }

// writeSeries appends one sample line: name{labels,extra} value.
// extraName/extraValue is the histogram's "le" label, empty otherwise.
func writeSeries(b *bytes.Buffer, name string, labels, values []string, extraName, extraValue string, v float64) {
	b.WriteString(name)
	if len(labels) > 0 || extraName != "" {
		b.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				b.WriteByte(',')
			}
			writeLabel(b, l, values[i])
		}
		if extraName != "" {
			if len(labels) > 0 {
				b.WriteByte(',')
			}
			writeLabel(b, extraName, extraValue)
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(formatFloat(v))
	b.WriteByte('\n')
}

func writeLabel(b *bytes.Buffer, name, value string) {
	b.WriteString(name)
	b.WriteString(`="`)
	b.WriteString(escapeLabel(value))
	b.WriteByte('"')
}

// Label values escape backslash, double quote and line feed; HELP text
// escapes backslash and line feed. The format is UTF-8, so invalid bytes
// are replaced rather than passed on to break a scraper.
var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabel(s string) string { return labelEscaper.Replace(strings.ToValidUTF8(s, "\uFFFD")) }
func escapeHelp(s string) string  { return helpEscaper.Replace(strings.ToValidUTF8(s, "\uFFFD")) }

// formatFloat formats a sample value the way Prometheus reads it: +Inf,
// -Inf, NaN, integers without exponent (easier to read with curl), other
// values in the shortest form that parses back to the same float.
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
