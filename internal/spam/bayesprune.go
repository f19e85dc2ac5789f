package spam

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/youju/youju/internal/store"
)

// Pruning of the shared models (bayesshared.go), as Train prunes a
// model in memory: a model past MaxTokens by a tenth loses its rarest
// tokens (fewest messages, ham and spam together) down to MaxTokens.
// Every node calls PruneShared periodically; a lease in the store
// (bayes/prune, pruneLease) lets one of them prune per period. The
// counts are read and then taken away (AddCounters with the negated
// counts), never deleted outright, so a training that adds to a token
// while it is being pruned keeps what it added.

const (
	pruneLeaseKey = "bayes/prune"
	// pruneLease is the period of pruning across all nodes.
	pruneLease = time.Hour
)

// pruneBatch is the counters read, or taken away, per statement (a
// variable for the tests, which make batches small).
var pruneBatch = 1000

// PruneShared prunes the shared models that grew past MaxTokens, if no
// other node did within pruneLease, and returns how many tokens it
// removed. It stops when ctx ends.
func (f *Filter) PruneShared(ctx context.Context) (int, error) {
	if f.State == nil {
		return 0, nil
	}
	ok, err := f.State.PutState(ctx, pruneLeaseKey, []byte(strconv.FormatInt(time.Now().Unix(), 10)), 0, pruneLease)
	if err != nil || !ok {
		return 0, err // !ok: another node pruned within the period
	}
	return f.pruneSharedNow(ctx)
}

// pruneSharedNow prunes every shared model, found by skipping from one
// model's keys to the next.
func (f *Filter) pruneSharedNow(ctx context.Context) (int, error) {
	removed := 0
	for after := ""; ; {
		first, err := f.State.ListCounters(ctx, "bayes/", after, 1)
		if err != nil || len(first) == 0 {
			return removed, err
		}
		model, _, _ := strings.Cut(strings.TrimPrefix(first[0].Key, "bayes/"), "/")
		n, err := f.pruneModel(ctx, "bayes/"+model+"/")
		removed += n
		if err != nil {
			return removed, err
		}
		after = store.PrefixEnd("bayes/" + model + "/")
	}
}

// pruneModel prunes the model whose keys begin with prefix: one pass
// counts its tokens by how rare they are, a second takes away the
// rarest.
func (f *Filter) pruneModel(ctx context.Context, prefix string) (int, error) {
	byCount := map[int64]int{} // messages with the token -> tokens
	tokens := 0
	err := f.eachSharedToken(ctx, prefix, func(_ string, h, s int64) error {
		byCount[h+s]++
		tokens++
		return nil
	})
	if err != nil || tokens <= f.maxTokens()*11/10 {
		return 0, err
	}
	below, atLimit := pruneThreshold(byCount, tokens-f.maxTokens())
	deltas := map[string]int64{}
	removed := 0
	flush := func() error {
		err := f.State.AddCounters(ctx, deltas)
		clear(deltas)
		return err
	}
	err = f.eachSharedToken(ctx, prefix, func(tok string, h, s int64) error {
		switch n := h + s; {
		case n < below:
		case n == below && atLimit > 0:
			atLimit--
		default:
			return nil
		}
		removed++
		if h > 0 {
			deltas[prefix+"h/"+tok] = -h
		}
		if s > 0 {
			deltas[prefix+"s/"+tok] = -s
		}
		if len(deltas) >= pruneBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return removed, err
}

// pruneThreshold says which tokens to remove so that excess go: every
// token seen in fewer than below messages, and atLimit of those seen in
// exactly below.
func pruneThreshold(byCount map[int64]int, excess int) (below int64, atLimit int) {
	counts := make([]int64, 0, len(byCount))
	for n := range byCount {
		counts = append(counts, n)
	}
	slices.Sort(counts)
	for _, n := range counts {
		if byCount[n] >= excess {
			return n, excess
		}
		excess -= byCount[n]
	}
	return 1<<62 - 1, 0 // not reached: excess < the number of tokens
}

// eachSharedToken calls fn for every token of the model at prefix with
// its ham and spam counts, in token order: the h/ and s/ counters read
// a batch at a time and merged.
func (f *Filter) eachSharedToken(ctx context.Context, prefix string, fn func(tok string, h, s int64) error) error {
	hc := &counterCursor{st: f.State, prefix: prefix + "h/"}
	sc := &counterCursor{st: f.State, prefix: prefix + "s/"}
	for {
		ht, hn, hok, err := hc.peek(ctx)
		if err != nil {
			return err
		}
		st, sn, sok, err := sc.peek(ctx)
		if err != nil {
			return err
		}
		switch {
		case !hok && !sok:
			return nil
		case hok && (!sok || ht < st):
			hc.pop()
			err = fn(ht, hn, 0)
		case sok && (!hok || st < ht):
			sc.pop()
			err = fn(st, 0, sn)
		default:
			hc.pop()
			sc.pop()
			err = fn(ht, hn, sn)
		}
		if err != nil {
			return err
		}
	}
}

// counterCursor walks the counters under prefix in key order.
type counterCursor struct {
	st     store.StateStore
	prefix string
	after  string
	buf    []store.StateCounter
	done   bool
}

// peek returns the next counter's token (its key without prefix) and
// count; ok is false at the end.
func (c *counterCursor) peek(ctx context.Context) (tok string, n int64, ok bool, err error) {
	if len(c.buf) == 0 && !c.done {
		if err := ctx.Err(); err != nil {
			return "", 0, false, err
		}
		c.buf, err = c.st.ListCounters(ctx, c.prefix, c.after, pruneBatch)
		if err != nil {
			return "", 0, false, err
		}
		if len(c.buf) < pruneBatch {
			c.done = true
		}
		if len(c.buf) > 0 {
			c.after = c.buf[len(c.buf)-1].Key
		}
	}
	if len(c.buf) == 0 {
		return "", 0, false, nil
	}
	return strings.TrimPrefix(c.buf[0].Key, c.prefix), c.buf[0].N, true, nil
}

func (c *counterCursor) pop() { c.buf = c.buf[1:] }
