package spam

import (
	"slices"
	"testing"
	"time"
)

// TestSendWindow: buckets by the minute, counted while any part of their
// minute is in the window, taken back without going below zero, encoded
// and parsed back alike.
func TestSendWindow(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0) // 20 s into a minute
	var w sendWindow
	w = w.add(t0, 1, 2).add(t0.Add(10*time.Second), 1, 0).add(t0.Add(2*time.Hour), 1, 1)
	if len(w) != 2 {
		t.Fatalf("buckets %+v, want 2", w)
	}
	now := t0.Add(2*time.Hour + time.Minute)
	if c := w.counts(now); c != (sendCounts{msgHour: 1, msgDay: 3, freshHour: 1, freshDay: 3}) {
		t.Fatalf("counts %+v", c)
	}
	// The first bucket's minute ends 40 s after t0: a day later it is
	// still (partly) inside, 40 s after that it is gone.
	if c := w.prune(t0.Add(24 * time.Hour)).counts(t0.Add(24 * time.Hour)); c.msgDay != 3 {
		t.Fatalf("a day later: %+v", c)
	}
	if got := w.prune(t0.Add(24*time.Hour + 40*time.Second)); len(got) != 1 {
		t.Fatalf("pruned %+v", got)
	}
	w = w.add(t0, -5, -1)
	if len(w) != 2 || w[0].msgs != 0 || w[0].fresh != 1 {
		t.Fatalf("taken back: %+v", w)
	}
	if got := parseSendWindow(w.encode()); !slices.Equal(got, w) {
		t.Fatalf("round trip %+v -> %s -> %+v", w, w.encode(), got)
	}
	if got := parseSendWindow([]byte("x,1:2,3:4:-5,,7:1:1:1,9:1:0")); len(got) != 1 || got[0] != (sendBucket{9, 1, 0}) {
		t.Fatalf("rubbish: %+v", got)
	}
}

// FuzzSendWindow: whatever the store holds parses without panic into at
// most maxSendBuckets ordered buckets that encode and parse back alike.
func FuzzSendWindow(f *testing.F) {
	for _, s := range []string{"", "28333333:1:0", "1:2:3,1:1:1,0:0:5", "x:1:2", "9223372036854775807:1:1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		w := parseSendWindow(v)
		if len(w) > maxSendBuckets {
			t.Fatalf("%d buckets", len(w))
		}
		for i := range w {
			if w[i].msgs < 0 || w[i].fresh < 0 || (i > 0 && w[i-1].minute >= w[i].minute) {
				t.Fatalf("bad buckets %+v", w)
			}
		}
		if got := parseSendWindow(w.encode()); !slices.Equal(got, w) {
			t.Fatalf("%q: %+v -> %+v", v, w, got)
		}
	})
}
