package spam

import (
	"context"
	"strconv"
	"time"
)

// The learning filter in the shared store (Filter.State): every node
// trains and reads the same counts, so a message moved to Junk through
// node A changes the verdict on node B. A training event writes only its
// deltas (one counter per token and class, added in one statement), never
// a whole model. Keys, per model (an account, or Global = 0):
//
//	bayes/MODEL/n/h, bayes/MODEL/n/s   messages trained as ham, as spam
//	bayes/MODEL/h/TOKEN                ham messages with TOKEN
//	bayes/MODEL/s/TOKEN                spam messages with TOKEN
//	bayes/MODEL/trained/KEY            how a message was last trained
//	                                   ("h" or "s"), kept trainedFor
//
// Counters that fall to zero are deleted by the store. The shared models
// are pruned to MaxTokens periodically by one node (bayesprune.go).

// trainedFor is how long the record of a trained message lasts in the
// shared store (the file store bounds it by count instead).
const trainedFor = 365 * 24 * time.Hour

func bayesKey(model int64, rest string) string {
	return "bayes/" + strconv.FormatInt(model, 10) + "/" + rest
}

func (f *Filter) trainShared(acct int64, tokens []string, spam, untrain bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	d := int64(1)
	if untrain {
		d = -1
	}
	cls := "h"
	if spam {
		cls = "s"
	}
	deltas := make(map[string]int64, 2*len(tokens)+2)
	for _, m := range []int64{acct, Global} {
		deltas[bayesKey(m, "n/"+cls)] += d
		for _, t := range tokens {
			deltas[bayesKey(m, cls+"/"+t)] += d
		}
		if acct == Global {
			break
		}
	}
	return f.State.AddCounters(ctx, deltas)
}

// sharedModels reads the counts of tokens from acct's model and the
// global one, as Models that know just those tokens (all Classify needs).
func (f *Filter) sharedModels(ctx context.Context, acct int64, tokens []string) (own, global *Model, err error) {
	models := []int64{Global}
	if acct != Global {
		models = append(models, acct)
	}
	keys := make([]string, 0, len(models)*(2*len(tokens)+2))
	for _, m := range models {
		keys = append(keys, bayesKey(m, "n/h"), bayesKey(m, "n/s"))
		for _, t := range tokens {
			keys = append(keys, bayesKey(m, "h/"+t), bayesKey(m, "s/"+t))
		}
	}
	ns, err := f.State.Counters(ctx, keys)
	if err != nil {
		return nil, nil, err
	}
	out := make([]*Model, len(models))
	per := 2*len(tokens) + 2
	for i := range models {
		c := ns[i*per : (i+1)*per]
		m := NewModel()
		m.Ham, m.Spam = clamp32(c[0]), clamp32(c[1])
		for j, t := range tokens {
			if h, s := c[2+2*j], c[3+2*j]; h > 0 || s > 0 {
				m.Counts[t] = [2]uint32{clamp32(h), clamp32(s)}
			}
		}
		out[i] = m
	}
	if len(out) == 1 {
		return out[0], out[0], nil
	}
	return out[1], out[0], nil
}

func clamp32(n int64) uint32 {
	return uint32(min(max(n, 0), 1<<32-1))
}

func (f *Filter) classifyShared(acct int64, tokens []string) (float64, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	own, g, err := f.sharedModels(ctx, acct, tokens)
	if err != nil {
		return 0.5, false, err
	}
	if acct != Global {
		if p, ok := own.Classify(tokens, g); ok {
			return p, true, nil
		}
	}
	p, ok := g.Classify(tokens, nil)
	return p, ok, nil
}

// learnShared is Learn on the shared store: the record of the message is
// claimed at the version read, so that of two nodes training one message
// at once (a client that moves it and sets $Junk through two
// connections) one counts it.
func (f *Filter) learnShared(acct int64, msg []byte, spam bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	key := bayesKey(acct, "trained/"+trainKey(msg))
	got, err := f.State.GetState(ctx, key)
	if err != nil {
		return err
	}
	cls := []byte("h")
	if spam {
		cls = []byte("s")
	}
	e, seen := got[key]
	if seen && string(e.Value) == string(cls) {
		return nil
	}
	ok, err := f.State.PutState(ctx, key, cls, e.Version, trainedFor)
	if err != nil || !ok {
		return err // !ok: another node is training it
	}
	toks := Tokens(msg)
	if seen {
		if err := f.trainShared(acct, toks, string(e.Value) == "s", true); err != nil {
			return err
		}
	}
	return f.trainShared(acct, toks, spam, false)
}

func (f *Filter) trainedShared(acct int64, msg []byte) (spam, known bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	key := bayesKey(acct, "trained/"+trainKey(msg))
	got, err := f.State.GetState(ctx, key)
	e, known := got[key]
	return string(e.Value) == "s", known, err
}

func (f *Filter) classesShared(acct int64) (ham, spam uint32, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	ns, err := f.State.Counters(ctx, []string{bayesKey(acct, "n/h"), bayesKey(acct, "n/s")})
	if err != nil {
		return 0, 0, err
	}
	return clamp32(ns[0]), clamp32(ns[1]), nil
}
