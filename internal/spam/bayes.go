package spam

import (
	"math"
	"sort"
)

// Model is a Bayesian classifier's state: per token, in how many ham and
// spam messages it was seen, and how many of each were trained. The
// combination is Robinson's (Gary Robinson, "A statistical approach to
// the spam problem", 2003): a smoothed probability per token and
// Fisher's chi-square combination of the most interesting ones.
type Model struct {
	Ham, Spam uint32
	Counts    map[string][2]uint32 // token -> {ham, spam}
	// Trained is what each message (by trainKey) was last trained as:
	// true spam, false ham, so that a message is counted once however
	// often it is moved or flagged (trained.go). Old models lack it.
	Trained map[string]bool
}

// NewModel returns an empty model.
func NewModel() *Model { return &Model{Counts: map[string][2]uint32{}} }

// Train adds (or with untrain, removes) one message's tokens.
func (m *Model) Train(tokens []string, spam, untrain bool) {
	cls := 0
	if spam {
		cls = 1
	}
	total := &m.Ham
	if spam {
		total = &m.Spam
	}
	if untrain {
		if *total > 0 {
			*total--
		}
	} else {
		*total++
	}
	for _, t := range tokens {
		c := m.Counts[t]
		if untrain {
			if c[cls] > 0 {
				c[cls]--
			}
		} else if c[cls] < math.MaxUint32 {
			c[cls]++
		}
		if c == ([2]uint32{}) {
			delete(m.Counts, t)
		} else {
			m.Counts[t] = c
		}
	}
}

// Robinson's constants: s is the strength of the prior x for rare
// tokens; only tokens at least minDev from neutral count, at most
// maxInteresting of them.
const (
	robS           = 1.0
	robX           = 0.5
	minDev         = 0.1
	maxInteresting = 150
)

// Classify returns the probability that tokens are spam (0..1) and
// whether the model knows enough to say: a message of each class (a
// user's first move to Junk counts at once; the token probabilities are
// smoothed toward neutral while counts are small).
// other, if not nil, is consulted for tokens this model has not seen
// (the global model behind an account's).
func (m *Model) Classify(tokens []string, other *Model) (float64, bool) {
	if m.Ham < 1 || m.Spam < 1 {
		return 0.5, false
	}
	fs := make([]float64, 0, len(tokens))
	for _, t := range tokens {
		c, ok := m.Counts[t]
		nh, ns := float64(m.Ham), float64(m.Spam)
		if !ok && other != nil && other.Ham > 0 && other.Spam > 0 {
			c, ok = other.Counts[t]
			nh, ns = float64(other.Ham), float64(other.Spam)
		}
		if !ok {
			continue
		}
		hr := float64(c[0]) / nh
		sr := float64(c[1]) / ns
		if hr+sr == 0 {
			continue
		}
		p := sr / (hr + sr)
		n := float64(c[0] + c[1])
		f := (robS*robX + n*p) / (robS + n)
		if math.Abs(f-0.5) >= minDev {
			fs = append(fs, f)
		}
	}
	if len(fs) == 0 {
		return 0.5, true
	}
	if len(fs) > maxInteresting {
		sort.Slice(fs, func(i, j int) bool { return math.Abs(fs[i]-0.5) > math.Abs(fs[j]-0.5) })
		fs = fs[:maxInteresting]
	}
	var lnH, lnS float64
	for _, f := range fs {
		f = min(max(f, 0.0001), 0.9999)
		lnS += math.Log(1 - f)
		lnH += math.Log(f)
	}
	n := len(fs)
	h := chi2Q(-2*lnH, 2*n) // small when the tokens are spammy
	s := chi2Q(-2*lnS, 2*n) // small when they are hammy
	return (1 + h - s) / 2, true
}

// chi2Q is the probability that a chi-square variable with v (even)
// degrees of freedom exceeds x.
func chi2Q(x float64, v int) float64 {
	m := x / 2
	sum := math.Exp(-m)
	term := sum
	for i := 1; i < v/2; i++ {
		term *= m / float64(i)
		sum += term
	}
	return min(sum, 1)
}

// Prune keeps at most max tokens, dropping the rarest (and among
// equals, those seen in one class only last).
func (m *Model) Prune(max int) {
	if len(m.Counts) <= max {
		return
	}
	type tc struct {
		t string
		n uint64
	}
	all := make([]tc, 0, len(m.Counts))
	for t, c := range m.Counts {
		all = append(all, tc{t, uint64(c[0]) + uint64(c[1])})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n < all[j].n })
	for _, x := range all[:len(all)-max] {
		delete(m.Counts, x.t)
	}
}

// BayesWeight is what a certain verdict of the learning filter adds to
// (or takes from) the score: a sure spam alone reaches the Junk
// threshold, but not the reject one.
const BayesWeight = 7.0

// BayesScore turns a spam probability into a score: 0 at 0.5, up to
// +BayesWeight at 1 and -BayesWeight at 0.
func BayesScore(p float64) Score {
	var s Score
	v := (p - 0.5) * 2 * BayesWeight
	if v > -0.05 && v < 0.05 {
		return s
	}
	s.Add("BAYES", float64(int(v*10))/10)
	return s
}
