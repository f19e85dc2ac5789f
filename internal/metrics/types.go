package metrics

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// vec holds the series of one family, keyed by their label values. A
// lookup of an existing series takes a read lock and does not allocate;
// callers on a very hot path can still keep the *Counter returned by With.
type vec[T any] struct {
	desc
	mu     sync.RWMutex
	series map[string]*series[T] // joined label values -> series
	newT   func() *T
}

type series[T any] struct {
	values []string
	m      *T
}

// with returns the series for values, creating it on first use. The number
// of values must match the family's label names; a mismatch is a
// programming error and panics, as in client_golang.
func (v *vec[T]) with(values []string) *T {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("metrics: %s takes %d label values, got %d", v.name, len(v.labels), len(values)))
	}
	// Each value is prefixed with its length, so the key is unambiguous
	// whatever bytes the values hold.
	var arr [128]byte
	key := arr[:0]
	for _, s := range values {
		key = append(binary.AppendUvarint(key, uint64(len(s))), s...)
	}
	v.mu.RLock()
	s, ok := v.series[string(key)] // no allocation for the conversion
	v.mu.RUnlock()
	if ok {
		return s.m
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if s, ok := v.series[string(key)]; ok {
		return s.m
	}
	if v.series == nil {
		v.series = make(map[string]*series[T])
	}
	s = &series[T]{values: slices.Clone(values), m: v.newT()}
	v.series[string(key)] = s
	return s.m
}

// sorted returns the series ordered by label values, for stable output.
func (v *vec[T]) sorted() []*series[T] {
	v.mu.RLock()
	out := make([]*series[T], 0, len(v.series))
	for _, s := range v.series {
		out = append(out, s)
	}
	v.mu.RUnlock()
	slices.SortFunc(out, func(a, b *series[T]) int { return slices.Compare(a.values, b.values) })
	return out
}

// addFloat adds d to the float64 stored as bits in u.
func addFloat(u *atomic.Uint64, d float64) {
	for {
		old := u.Load()
		if u.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

// Counter is a value that only goes up: events, bytes, messages.
type Counter struct {
	n    atomic.Uint64 // whole increments: Inc is one atomic add
	frac atomic.Uint64 // float64 bits of non-integer additions
}

// Inc adds one.
func (c *Counter) Inc() { c.n.Add(1) }

// Add adds v. A counter never decreases, so negative and NaN values are
// ignored.
func (c *Counter) Add(v float64) {
	switch {
	case !(v > 0):
		return
	case v == math.Trunc(v) && v < 1<<53:
		c.n.Add(uint64(v))
	default:
		addFloat(&c.frac, v)
	}
}

// Value returns the current count.
func (c *Counter) Value() float64 {
	return float64(c.n.Load()) + math.Float64frombits(c.frac.Load())
}

// CounterVec is a counter family with labels.
type CounterVec struct{ v *vec[Counter] }

// With returns the counter for the label values, in the order of the
// label names given at creation.
func (c *CounterVec) With(values ...string) *Counter { return c.v.with(values) }

func (c *CounterVec) desc() *desc { return &c.v.desc }

func (c *CounterVec) write(b *bytes.Buffer) bool {
	ss := c.v.sorted()
	for _, s := range ss {
		writeSeries(b, c.v.name, c.v.labels, s.values, "", "", s.m.Value())
	}
	return len(ss) > 0
}

// Gauge is a value that goes up and down: open connections, queue size.
type Gauge struct{ bits atomic.Uint64 }

// Set sets the gauge to v.
func (g *Gauge) Set(v float64) { g.bits.Store(math.Float64bits(v)) }

// Add adds v, which may be negative.
func (g *Gauge) Add(v float64) { addFloat(&g.bits, v) }

// Inc adds one.
func (g *Gauge) Inc() { g.Add(1) }

// Dec subtracts one.
func (g *Gauge) Dec() { g.Add(-1) }

// Value returns the current value.
func (g *Gauge) Value() float64 { return math.Float64frombits(g.bits.Load()) }

// GaugeVec is a gauge family with labels.
type GaugeVec struct{ v *vec[Gauge] }

// With returns the gauge for the label values.
func (g *GaugeVec) With(values ...string) *Gauge { return g.v.with(values) }

func (g *GaugeVec) desc() *desc { return &g.v.desc }

func (g *GaugeVec) write(b *bytes.Buffer) bool {
	ss := g.v.sorted()
	for _, s := range ss {
		writeSeries(b, g.v.name, g.v.labels, s.values, "", "", s.m.Value())
	}
	return len(ss) > 0
}

// gaugeFunc is a gauge read by calling a function at scrape time.
type gaugeFunc struct {
	d  desc
	fn atomic.Pointer[func() float64]
}

func (g *gaugeFunc) desc() *desc { return &g.d }

func (g *gaugeFunc) write(b *bytes.Buffer) bool {
	writeSeries(b, g.d.name, nil, nil, "", "", (*g.fn.Load())())
	return true
}

// DefBuckets are the histogram buckets used when none are given: seconds,
// from half a millisecond (a cached store read) to ten seconds (a slow
// fsync under load).
var DefBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Histogram counts observations, usually durations in seconds, into
// buckets.
type Histogram struct {
	bounds []float64       // upper bounds, ascending, without +Inf
	counts []atomic.Uint64 // per bucket, not cumulative; last is +Inf
	sum    atomic.Uint64   // float64 bits
}

// Observe records v. NaN is ignored.
func (h *Histogram) Observe(v float64) {
	if math.IsNaN(v) {
		return
	}
	// Buckets are "less than or equal" (le): the first bound >= v.
	i, _ := slices.BinarySearch(h.bounds, v)
	h.counts[i].Add(1)
	addFloat(&h.sum, v)
}

// ObserveSince records the seconds elapsed since start.
func (h *Histogram) ObserveSince(start time.Time) { h.Observe(time.Since(start).Seconds()) }

// Count returns the number of observations.
func (h *Histogram) Count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// Sum returns the sum of the observations.
func (h *Histogram) Sum() float64 { return math.Float64frombits(h.sum.Load()) }

// HistogramVec is a histogram family with labels.
type HistogramVec struct {
	v      *vec[Histogram]
	bounds []float64
}

// With returns the histogram for the label values.
func (h *HistogramVec) With(values ...string) *Histogram { return h.v.with(values) }

func (h *HistogramVec) desc() *desc { return &h.v.desc }

// write emits cumulative buckets ending with +Inf, then _sum and _count.
// The count is the sum of the bucket counts read, so a scrape during
// concurrent observations is still self-consistent (+Inf == _count).
func (h *HistogramVec) write(b *bytes.Buffer) bool {
	ss := h.v.sorted()
	bucket, labels := h.v.name+"_bucket", h.v.labels
	for _, s := range ss {
		var cum uint64
		for i := range s.m.counts {
			cum += s.m.counts[i].Load()
			le := "+Inf"
			if i < len(h.bounds) {
				le = formatFloat(h.bounds[i])
			}
			writeSeries(b, bucket, labels, s.values, "le", le, float64(cum))
		}
		writeSeries(b, h.v.name+"_sum", labels, s.values, "", "", s.m.Sum())
		writeSeries(b, h.v.name+"_count", labels, s.values, "", "", float64(cum))
	}
	return len(ss) > 0
}

// NewCounter registers a counter family on r. Counter names end in _total
// by convention.
func (r *Registry) NewCounter(name, help string, labels ...string) *CounterVec {
	c := &CounterVec{v: &vec[Counter]{desc: desc{name, help, "counter", slices.Clone(labels)}, newT: func() *Counter { return new(Counter) }}}
	c = r.register(c, func(old family) bool { _, ok := old.(*CounterVec); return ok }).(*CounterVec)
	if len(labels) == 0 {
		c.With() // an unlabelled counter is exposed as 0 from the start
	}
	return c
}

// NewGauge registers a gauge family on r.
func (r *Registry) NewGauge(name, help string, labels ...string) *GaugeVec {
	g := &GaugeVec{v: &vec[Gauge]{desc: desc{name, help, "gauge", slices.Clone(labels)}, newT: func() *Gauge { return new(Gauge) }}}
	g = r.register(g, func(old family) bool { _, ok := old.(*GaugeVec); return ok }).(*GaugeVec)
	if len(labels) == 0 {
		g.With()
	}
	return g
}

// NewGaugeFunc registers a gauge whose value is fn(), called at each
// scrape; fn must be safe for concurrent use and quick. Registering the
// same name again replaces the function, so that a component created
// anew (in tests, say) reports its own value.
func (r *Registry) NewGaugeFunc(name, help string, fn func() float64) {
	g := &gaugeFunc{d: desc{name: name, help: help, typ: "gauge"}}
	g.fn.Store(&fn)
	got := r.register(g, func(old family) bool { _, ok := old.(*gaugeFunc); return ok })
	got.(*gaugeFunc).fn.Store(&fn)
}

// NewHistogram registers a histogram family on r. buckets are upper bounds
// (sorted, deduplicated; +Inf is implicit); nil means DefBuckets.
func (r *Registry) NewHistogram(name, help string, buckets []float64, labels ...string) *HistogramVec {
	if buckets == nil {
		buckets = DefBuckets
	}
	bounds := slices.Clone(buckets)
	slices.Sort(bounds)
	bounds = slices.Compact(bounds)
	bounds = slices.DeleteFunc(bounds, func(f float64) bool { return math.IsInf(f, 1) || math.IsNaN(f) })
	h := &HistogramVec{bounds: bounds}
	h.v = &vec[Histogram]{
		desc: desc{name, help, "histogram", slices.Clone(labels)},
		newT: func() *Histogram {
			return &Histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
		},
	}
	same := func(old family) bool {
		o, ok := old.(*HistogramVec)
		return ok && slices.Equal(o.bounds, bounds)
	}
	h = r.register(h, same).(*HistogramVec)
	if len(labels) == 0 {
		h.With()
	}
	return h
}

// NewCounter registers a counter family on Default.
func NewCounter(name, help string, labels ...string) *CounterVec {
	return Default.NewCounter(name, help, labels...)
}

// NewGauge registers a gauge family on Default.
func NewGauge(name, help string, labels ...string) *GaugeVec {
	return Default.NewGauge(name, help, labels...)
}

// NewGaugeFunc registers a function gauge on Default.
func NewGaugeFunc(name, help string, fn func() float64) { Default.NewGaugeFunc(name, help, fn) }

// NewHistogram registers a histogram family on Default.
func NewHistogram(name, help string, buckets []float64, labels ...string) *HistogramVec {
	return Default.NewHistogram(name, help, buckets, labels...)
}
