package metrics

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// small builds the registry of the golden test.
func small() *Registry {
	r := NewRegistry()
	c := r.NewCounter("test_requests_total", "Requests handled.\nSecond line with \\ backslash.", "proto", "result")
	c.With("imap", "ok").Inc()
	c.With("imap", "ok").Add(2)
	c.With("smtp", "failed").Add(0.5)
	c.With("imap", "failed").Inc()
	c.With("a\"b\\c\nd", "ok").Inc()
	r.NewCounter("test_empty_total", "Never incremented.")
	r.NewCounter("test_unused_total", "A vector without series is not written.", "x")

	g := r.NewGauge("test_active", "Open connections.", "proto")
	g.With("pop3").Set(3)
	g.With("imap").Inc()
	g.With("imap").Inc()
	g.With("imap").Dec()
	r.NewGaugeFunc("test_queue_size", "Messages queued.", func() float64 { return 7 })

	h := r.NewHistogram("test_latency_seconds", "Latency.", []float64{1, 0.125, 0.5, math.Inf(1)}, "op")
	for _, v := range []float64{0.0625, 0.125, 0.75, 3} {
		h.With("get").Observe(v)
	}
	r.NewHistogram("test_plain_seconds", "No labels.", []float64{1}).With().Observe(2)
	return r
}

const golden = `# HELP test_active Open connections.
# TYPE test_active gauge
test_active{proto="imap"} 1
test_active{proto="pop3"} 3
# HELP test_empty_total Never incremented.
# TYPE test_empty_total counter
test_empty_total 0
# HELP test_latency_seconds Latency.
# TYPE test_latency_seconds histogram
test_latency_seconds_bucket{op="get",le="0.125"} 2
test_latency_seconds_bucket{op="get",le="0.5"} 2
test_latency_seconds_bucket{op="get",le="1"} 3
test_latency_seconds_bucket{op="get",le="+Inf"} 4
test_latency_seconds_sum{op="get"} 3.9375
test_latency_seconds_count{op="get"} 4
# HELP test_plain_seconds No labels.
# TYPE test_plain_seconds histogram
test_plain_seconds_bucket{le="1"} 0
test_plain_seconds_bucket{le="+Inf"} 1
test_plain_seconds_sum 2
test_plain_seconds_count 1
# HELP test_queue_size Messages queued.
# TYPE test_queue_size gauge
test_queue_size 7
# HELP test_requests_total Requests handled.\nSecond line with \\ backslash.
# TYPE test_requests_total counter
test_requests_total{proto="a\"b\\c\nd",result="ok"} 1
test_requests_total{proto="imap",result="failed"} 1
test_requests_total{proto="imap",result="ok"} 3
test_requests_total{proto="smtp",result="failed"} 0.5
`

func TestGolden(t *testing.T) {
	var b bytes.Buffer
	n, err := small().WriteTo(&b)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(b.Len()) {
		t.Errorf("WriteTo returned %d, wrote %d bytes", n, b.Len())
	}
	if b.String() != golden {
		t.Errorf("output:\n%s\nwant:\n%s", b.String(), golden)
	}
}

// sample is one parsed sample line.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseExposition is a small parser of the text format, independent of the
// writer: it checks that every sample follows a TYPE line of its family,
// and unescapes label values.
func parseExposition(r io.Reader) ([]sample, error) {
	var out []sample
	types := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			if _, dup := types[name]; dup {
				return nil, fmt.Errorf("second TYPE for %s", name)
			}
			types[name] = typ
			continue
		}
		if strings.HasPrefix(line, "# HELP ") {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", line, err)
		}
		fam := s.name
		if types[fam] == "" {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(s.name, suf); ok && types[base] == "histogram" {
					fam = base
				}
			}
		}
		if types[fam] == "" {
			return nil, fmt.Errorf("sample %s without TYPE", s.name)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

func parseSample(line string) (sample, error) {
	s := sample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 || !validName(line[:i], true) {
		return s, fmt.Errorf("bad name")
	}
	s.name, line = line[:i], line[i:]
	if line[0] == '{' {
		line = line[1:]
		for line != "" && line[0] != '}' {
			name, rest, ok := strings.Cut(line, `="`)
			if !ok || !validName(name, false) {
				return s, fmt.Errorf("bad label name")
			}
			var val strings.Builder
			for {
				if rest == "" {
					return s, fmt.Errorf("unterminated label value")
				}
				c := rest[0]
				rest = rest[1:]
				if c == '"' {
					break
				}
				if c == '\n' {
					return s, fmt.Errorf("raw newline in label value")
				}
				if c == '\\' {
					if rest == "" {
						return s, fmt.Errorf("dangling backslash")
					}
					switch rest[0] {
					case '\\', '"':
						c = rest[0]
					case 'n':
						c = '\n'
					default:
						return s, fmt.Errorf("bad escape \\%c", rest[0])
					}
					rest = rest[1:]
				}
				val.WriteByte(c)
			}
			if _, dup := s.labels[name]; dup {
				return s, fmt.Errorf("duplicate label %s", name)
			}
			s.labels[name] = val.String()
			line = strings.TrimPrefix(rest, ",")
		}
		if line == "" {
			return s, fmt.Errorf("unterminated labels")
		}
		line = line[1:]
	}
	v, ok := strings.CutPrefix(line, " ")
	if !ok || strings.Contains(v, " ") {
		return s, fmt.Errorf("bad value separator")
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return s, err
	}
	s.value = f
	return s, nil
}

func TestParseBack(t *testing.T) {
	var b bytes.Buffer
	small().WriteTo(&b)
	samples, err := parseExposition(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 18 {
		t.Errorf("parsed %d samples, want 18", len(samples))
	}
	found := false
	for _, s := range samples {
		if s.name == "test_requests_total" && s.labels["proto"] == "a\"b\\c\nd" {
			found = s.value == 1 && s.labels["result"] == "ok"
		}
	}
	if !found {
		t.Error("escaped label value did not parse back")
	}
}

func TestHistogramCumulative(t *testing.T) {
	r := NewRegistry()
	bounds := []float64{0.001, 0.01, 0.1, 1, 10}
	h := r.NewHistogram("h_seconds", "h", bounds, "op").With("x")
	rng := rand.New(rand.NewPCG(1, 2))
	var want [6]uint64
	var sum float64
	for range 1000 {
		v := math.Exp(rng.Float64()*16 - 10) // 4.5e-5 .. 403
		h.Observe(v)
		sum += v
		i := 0
		for i < len(bounds) && v > bounds[i] {
			i++
		}
		want[i]++
	}
	h.Observe(math.NaN()) // ignored
	var b bytes.Buffer
	r.WriteTo(&b)
	samples, err := parseExposition(&b)
	if err != nil {
		t.Fatal(err)
	}
	var cum uint64
	var buckets []sample
	var gotSum, gotCount float64
	for _, s := range samples {
		switch s.name {
		case "h_seconds_bucket":
			buckets = append(buckets, s)
		case "h_seconds_sum":
			gotSum = s.value
		case "h_seconds_count":
			gotCount = s.value
		}
	}
	if len(buckets) != len(bounds)+1 {
		t.Fatalf("%d buckets, want %d", len(buckets), len(bounds)+1)
	}
	for i, s := range buckets {
		cum += want[i]
		le := "+Inf"
		if i < len(bounds) {
			le = strconv.FormatFloat(bounds[i], 'g', -1, 64)
		}
		if s.labels["le"] != le || s.labels["op"] != "x" {
			t.Errorf("bucket %d labels %v, want le=%s", i, s.labels, le)
		}
		if s.value != float64(cum) {
			t.Errorf("bucket le=%s = %v, want cumulative %d", le, s.value, cum)
		}
	}
	if gotCount != 1000 || h.Count() != 1000 {
		t.Errorf("count = %v / %d, want 1000", gotCount, h.Count())
	}
	if math.Abs(gotSum-sum) > 1e-9*sum || math.Abs(h.Sum()-sum) > 1e-9*sum {
		t.Errorf("sum = %v, want %v", gotSum, sum)
	}
}

func TestConcurrent(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("c_total", "c", "worker")
	all := r.NewCounter("all_total", "all")
	g := r.NewGauge("g", "g")
	h := r.NewHistogram("h", "h", []float64{0.5}, "k")
	const workers, n = 8, 2000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	scraped := make(chan error, 1)
	go func() { // scrape while counting; every scrape must parse
		for {
			select {
			case <-stop:
				scraped <- nil
				return
			default:
			}
			var b bytes.Buffer
			r.WriteTo(&b)
			if _, err := parseExposition(&b); err != nil {
				scraped <- err
				return
			}
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := strconv.Itoa(w % 4) // two workers share each series
			for i := range n {
				c.With(name).Inc()
				all.With().Add(0.5)
				g.With().Inc()
				h.With(name).Observe(float64(i % 2))
				g.With().Dec()
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-scraped; err != nil {
		t.Fatalf("scrape during updates: %v", err)
	}
	for k := range 4 {
		if v := c.With(strconv.Itoa(k)).Value(); v != 2*n {
			t.Errorf("counter %d = %v, want %d", k, v, 2*n)
		}
		if got := h.With(strconv.Itoa(k)).Count(); got != 2*n {
			t.Errorf("histogram %d count = %d, want %d", k, got, 2*n)
		}
		if got := h.With(strconv.Itoa(k)).Sum(); got != n {
			t.Errorf("histogram %d sum = %v, want %d", k, got, n)
		}
	}
	if v := all.With().Value(); v != workers*n/2 {
		t.Errorf("float counter = %v, want %d", v, workers*n/2)
	}
	if v := g.With().Value(); v != 0 {
		t.Errorf("gauge = %v, want 0", v)
	}
}

func TestSeriesKeysDistinct(t *testing.T) {
	c := NewRegistry().NewCounter("k_total", "k", "a", "b")
	// Values that a separator-joined key would confuse.
	pairs := [][2]string{{"a\xff", ""}, {"a", "\xff"}, {"a\xff\xff", ""}, {"", "a\xff\xff"}, {"", ""}}
	seen := map[*Counter]bool{}
	for _, p := range pairs {
		seen[c.With(p[0], p[1])] = true
	}
	if len(seen) != len(pairs) {
		t.Errorf("%d distinct series for %d label value pairs", len(seen), len(pairs))
	}
}

func TestCounterAdd(t *testing.T) {
	var c Counter
	c.Add(2)
	c.Add(0.25)
	c.Inc()
	c.Add(-5)
	c.Add(math.NaN())
	if v := c.Value(); v != 3.25 {
		t.Errorf("Value = %v, want 3.25", v)
	}
}

func TestRegistration(t *testing.T) {
	r := NewRegistry()
	a := r.NewCounter("x_total", "x", "l")
	if b := r.NewCounter("x_total", "x", "l"); a != b {
		t.Error("identical registration returned a new family")
	}
	h := r.NewHistogram("h", "h", []float64{1, 2}, "l")
	if h2 := r.NewHistogram("h", "h", []float64{2, 1}, "l"); h != h2 {
		t.Error("identical histogram registration returned a new family")
	}
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	mustPanic("other labels", func() { r.NewCounter("x_total", "x", "m") })
	mustPanic("other type", func() { r.NewGauge("x_total", "x", "l") })
	mustPanic("other help", func() { r.NewCounter("x_total", "y", "l") })
	mustPanic("other buckets", func() { r.NewHistogram("h", "h", []float64{1}, "l") })
	mustPanic("gauge func over counter", func() { r.NewGaugeFunc("x_total", "x", nil) })
	mustPanic("bad name", func() { r.NewCounter("1x", "x") })
	mustPanic("bad label", func() { r.NewCounter("y", "y", "a-b") })
	mustPanic("reserved label", func() { r.NewCounter("y", "y", "__x") })
	mustPanic("le on histogram", func() { r.NewHistogram("z", "z", nil, "le") })
	mustPanic("too few values", func() { a.With() })
	mustPanic("too many values", func() { a.With("1", "2") })

	r.NewGaugeFunc("q", "q", func() float64 { return 1 })
	r.NewGaugeFunc("q", "q", func() float64 { return 2 })
	var b bytes.Buffer
	r.WriteTo(&b)
	if !strings.Contains(b.String(), "\nq 2\n") {
		t.Errorf("re-registered gauge func not used:\n%s", b.String())
	}
	if !r.Unregister("q") || r.Unregister("q") {
		t.Error("Unregister did not report correctly")
	}
	b.Reset()
	r.WriteTo(&b)
	if strings.Contains(b.String(), "q ") {
		t.Error("unregistered family still written")
	}
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(small().Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if string(body) != golden {
		t.Errorf("body:\n%s", body)
	}
	resp, err = http.Post(srv.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST status %d", resp.StatusCode)
	}
}

func TestFormatFloat(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 1: "1", -2: "-2", 1e6: "1000000", 0.5: "0.5", 1e20: "1e+20",
		0.0001: "0.0001", math.Inf(1): "+Inf", math.Inf(-1): "-Inf",
	} {
		if got := formatFloat(v); got != want {
			t.Errorf("formatFloat(%v) = %q, want %q", v, got, want)
		}
	}
	if got := formatFloat(math.NaN()); got != "NaN" {
		t.Errorf("formatFloat(NaN) = %q", got)
	}
}

func TestYoujuMetrics(t *testing.T) {
	Connections.With(ProtoIMAP, "imaps").Inc()
	ActiveConnections.With(ProtoIMAP).Inc()
	Logins.With(ProtoIMAP, LoginFailed).Inc()
	MessagesDelivered.With(PathAppend).Inc()
	StoreLatency.With("deliver").Observe(0.003)
	var b bytes.Buffer
	Default.WriteTo(&b)
	samples, err := parseExposition(&b)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name   string
		labels map[string]string
	}{
		{"youju_connections_total", map[string]string{"proto": "imap", "listener": "imaps"}},
		{"youju_active_connections", map[string]string{"proto": "imap"}},
		{"youju_logins_total", map[string]string{"proto": "imap", "result": "failed"}},
		{"youju_messages_delivered_total", map[string]string{"path": "append"}},
		{"youju_store_latency_seconds_count", map[string]string{"op": "deliver"}},
		{"youju_store_latency_seconds_bucket", map[string]string{"op": "deliver", "le": "0.005"}},
	}
	for _, w := range want {
		found := false
		for _, s := range samples {
			if s.name == w.name && maps.Equal(s.labels, w.labels) {
				found = s.value >= 1
			}
		}
		if !found {
			t.Errorf("missing or zero: %s%v\n%s", w.name, w.labels, b.String())
		}
	}
}

// FuzzLabelValue checks that any label value survives escaping: the output
// parses, and the value reads back (invalid UTF-8 replaced).
func FuzzLabelValue(f *testing.F) {
	for _, s := range []string{"", "imap", `a"b`, `back\slash`, "new\nline", "\xff\xfe", `\n`, `"\"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := NewRegistry()
		r.NewCounter("f_total", "f", "v").With(v).Inc()
		var b bytes.Buffer
		r.WriteTo(&b)
		samples, err := parseExposition(&b)
		if err != nil {
			t.Fatalf("%q: %v\n%s", v, err, b.String())
		}
		want := strings.ToValidUTF8(v, "\uFFFD")
		if len(samples) != 1 || samples[0].labels["v"] != want || !utf8.ValidString(samples[0].labels["v"]) {
			t.Fatalf("%q read back as %+v", v, samples)
		}
	})
}

func BenchmarkCounterInc(b *testing.B) {
	c := NewRegistry().NewCounter("c_total", "c", "l").With("x")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Inc()
		}
	})
}

func BenchmarkCounterWithInc(b *testing.B) {
	c := NewRegistry().NewCounter("c_total", "c", "proto", "listener")
	for b.Loop() {
		c.With("imap", "imaps").Inc()
	}
}

func BenchmarkHistogramObserve(b *testing.B) {
	h := NewRegistry().NewHistogram("h", "h", DefBuckets, "op").With("x")
	for b.Loop() {
		h.Observe(0.003)
	}
}

func BenchmarkWriteTo(b *testing.B) {
	r := small()
	for b.Loop() {
		r.WriteTo(io.Discard)
	}
}
