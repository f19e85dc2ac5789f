package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
)

// testStateStore checks store.StateStore where the backend has it:
// versioned writes that let exactly one of two racing writers win,
// expiry, prefix listing, counters that vanish at zero and are listed by
// prefix in batches, and events over a
// sliding window.
func testStateStore(t *testing.T, open Opener) {
	s := newStore(t, open)
	st, ok := store.As[store.StateStore](s)
	if !ok {
		t.Skip("backend does not implement store.StateStore")
	}
	if ok, err := st.PutState(ctx, "t/a", []byte("1"), 0, 0); err != nil || !ok {
		t.Fatalf("first put: %v %v", ok, err)
	}
	if ok, _ := st.PutState(ctx, "t/a", []byte("2"), 0, 0); ok {
		t.Fatal("put of an absent key over a present one succeeded")
	}
	got, err := st.GetState(ctx, "t/a", "t/missing")
	if err != nil || len(got) != 1 || string(got["t/a"].Value) != "1" {
		t.Fatalf("get: %v %v", got, err)
	}
	v := got["t/a"].Version
	// Two writers of the same version: one wins.
	var wg sync.WaitGroup
	wins := make(chan bool, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := st.PutState(ctx, "t/a", []byte{byte('a' + i)}, v, 0)
			if err != nil {
				t.Error(err)
			}
			wins <- ok
		}()
	}
	wg.Wait()
	close(wins)
	n := 0
	for w := range wins {
		if w {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d of 8 writers of version %d won, want 1", n, v)
	}
	if ok, err := st.PutState(ctx, "t/a", []byte("x"), -1, 0); err != nil || !ok {
		t.Fatalf("unconditional put: %v %v", ok, err)
	}
	// Expiry: an expired entry is absent and may be put as new.
	if _, err := st.PutState(ctx, "t/b", []byte("short"), 0, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if got, _ := st.GetState(ctx, "t/b"); len(got) != 0 {
		t.Fatalf("expired entry still read: %v", got)
	}
	if ok, err := st.PutState(ctx, "t/b", []byte("new"), 0, 0); err != nil || !ok {
		t.Fatalf("put over an expired entry: %v %v", ok, err)
	}
	for _, k := range []string{"t/c\xff", "u/a", "t/c/1"} {
		if _, err := st.PutState(ctx, k, []byte(k), -1, 0); err != nil {
			t.Fatal(err)
		}
	}
	list, err := st.ListState(ctx, "t/", 10)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range list {
		keys = append(keys, e.Key)
	}
	if want := []string{"t/a", "t/b", "t/c/1", "t/c\xff"}; !slices.Equal(keys, want) {
		t.Fatalf("list t/: %q, want %q", keys, want)
	}
	if err := st.DeleteState(ctx, "t/a", "t/none"); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.GetState(ctx, "t/a"); len(got) != 0 {
		t.Fatal("deleted entry still read")
	}

	// Counters.
	if err := st.AddCounters(ctx, map[string]int64{"c/\x00tok": 2, "c/b": 1}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddCounters(ctx, map[string]int64{"c/\x00tok": 3, "c/b": -1}); err != nil {
		t.Fatal(err)
	}
	cs, err := st.Counters(ctx, []string{"c/\x00tok", "c/b", "c/none"})
	if err != nil || len(cs) != 3 || cs[0] != 5 || cs[1] != 0 || cs[2] != 0 {
		t.Fatalf("counters: %v %v", cs, err)
	}

	// Counters by prefix, in key order, a batch at a time.
	if err := st.AddCounters(ctx, map[string]int64{"l/a": 1, "l/b": 2, "l/c": 3, "l/\xff": 4, "m/a": 5, "l": 6}); err != nil {
		t.Fatal(err)
	}
	var listed []string
	for after := ""; ; {
		batch, err := st.ListCounters(ctx, "l/", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			break
		}
		for _, c := range batch {
			listed = append(listed, fmt.Sprintf("%s=%d", c.Key, c.N))
		}
		after = batch[len(batch)-1].Key
	}
	if got := strings.Join(listed, " "); got != "l/a=1 l/b=2 l/c=3 l/\xff=4" {
		t.Fatalf("ListCounters l/: %q", got)
	}

	// Events over a window.
	t0 := time.Now().Add(-2 * time.Hour)
	for i := range 4 {
		if err := st.AddEvent(ctx, "e/x", 1, t0.Add(time.Duration(i)*30*time.Minute), 24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	es, err := st.CountEvents(ctx, []string{"e/x", "e/none"}, t0.Add(45*time.Minute))
	if err != nil || es[0] != 2 || es[1] != 0 {
		t.Fatalf("events since +45m: %v %v, want [2 0]", es, err)
	}
	// keep forgets what is older.
	if err := st.AddEvent(ctx, "e/x", 1, t0.Add(2*time.Hour), time.Hour); err != nil {
		t.Fatal(err)
	}
	if es, _ := st.CountEvents(ctx, []string{"e/x"}, t0.Add(-time.Hour)); es[0] != 3 {
		t.Fatalf("events after keep=1h: %v, want 3", es)
	}
}
