package spam

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestTokensCJKAndCharsets(t *testing.T) {
	// GBK body, base64; RFC 2047 subject in GB18030.
	msg := "From: =?utf-8?B?5p2O5piO?= <liming@Corp.example.cn>\r\nSubject: =?gb18030?B?tPq/qreixrE=?=\r\n" +
		"Content-Type: text/plain; charset=gbk\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"sb65q8u+s6PE6rT6v6q3osaxDQpTZWUgaHR0cHM6Ly9XaW4uRXhhbXBsZS9jbGFpbSBub3cNCg==\r\n"
	toks := Tokens([]byte(msg))
	for _, want := range []string{"from:corp.example.cn", "subj:代开", "subj:开发", "本公", "公司", "发票", "url:win.example"} {
		if !slices.Contains(toks, want) {
			t.Errorf("no token %q in %q", want, toks)
		}
	}
	var got []string
	words("Hello, WORLD 中文a字 x", func(s string) { got = append(got, s) })
	if want := []string{"hello", "world", "中文", "字"}; !slices.Equal(got, want) {
		t.Errorf("words: %q, want %q", got, want)
	}
}

func loadCorpus(t testing.TB, kind string) [][]byte {
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", kind, "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("corpus %s: %v (%d files)", kind, err, len(files))
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestCorpusPrecisionRecall trains on half of the generated corpus
// (testdata/corpus, see its README for what a generated corpus does and
// does not tell) and classifies the other half, both ways round (two
// folds: train on the even-numbered messages and test the odd ones, then
// the reverse), and logs recall (spam caught), precision (of what is
// filed as spam, how much is spam) and the ham misfiled.
func TestCorpusPrecisionRecall(t *testing.T) {
	ham, spamMsgs := loadCorpus(t, "ham"), loadCorpus(t, "spam")
	for fold := range 2 {
		caught, spamN, misfiled, hamN := corpusFold(t, ham, spamMsgs, fold)
		recall := float64(caught) / float64(spamN)
		precision := float64(caught) / float64(max(caught+misfiled, 1))
		hamErr := float64(misfiled) / float64(hamN)
		t.Logf("fold %d: spam caught %d/%d (recall %.1f%%), precision %.1f%%, ham misfiled %d/%d (%.2f%%)",
			fold, caught, spamN, 100*recall, 100*precision, misfiled, hamN, 100*hamErr)
		if recall < 0.95 || hamErr > 0.005 {
			t.Errorf("fold %d: goal: >= 95%% spam caught, <= 0.5%% ham misfiled", fold)
		}
	}
}

// corpusFold trains a filter on the messages whose index has the parity
// of fold and classifies the others: a message is caught or misfiled when
// its verdict is not Deliver (Junk or reject).
func corpusFold(t *testing.T, ham, spamMsgs [][]byte, fold int) (caught, spamN, misfiled, hamN int) {
	f := &Filter{}
	for i := fold; i < len(ham); i += 2 {
		f.Train(1, Tokens(ham[i]), false, false)
	}
	for i := fold; i < len(spamMsgs); i += 2 {
		f.Train(1, Tokens(spamMsgs[i]), true, false)
	}
	c := &Checker{}
	for i := 1 - fold; i < len(spamMsgs); i += 2 {
		spamN++
		if c.Verdict(bayesScore(t, f, spamMsgs[i])) != Deliver {
			caught++
		}
	}
	for i := 1 - fold; i < len(ham); i += 2 {
		hamN++
		if c.Verdict(bayesScore(t, f, ham[i])) != Deliver {
			misfiled++
			t.Logf("fold %d: ham misfiled: %.60q", fold, ham[i])
		}
	}
	return caught, spamN, misfiled, hamN
}

func bayesScore(t testing.TB, f *Filter, msg []byte) Score {
	p, ok, err := f.Classify(1, Tokens(msg))
	if err != nil || !ok {
		t.Fatalf("classify: %v %v", ok, err)
	}
	return BayesScore(p)
}

func TestFilterPersistence(t *testing.T) {
	dir := t.TempDir()
	f := &Filter{Dir: dir}
	ham, spamMsgs := loadCorpus(t, "ham"), loadCorpus(t, "spam")
	for i := 0; i < 20; i++ {
		f.Train(7, Tokens(ham[i]), false, false)
		f.Train(7, Tokens(spamMsgs[i]), true, false)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"0.model", "7.model"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	g := &Filter{Dir: dir}
	p, ok, err := g.Classify(7, Tokens(spamMsgs[100]))
	if err != nil || !ok || p < 0.9 {
		t.Fatalf("reloaded: p=%v ok=%v err=%v", p, ok, err)
	}
	// Another account without training of its own uses the global model.
	if p, ok, _ := g.Classify(8, Tokens(spamMsgs[101])); !ok || p < 0.9 {
		t.Fatalf("global: p=%v ok=%v", p, ok)
	}
	// Untraining undoes.
	m := NewModel()
	toks := Tokens(ham[0])
	m.Train(toks, false, false)
	m.Train(toks, false, true)
	if m.Ham != 0 || len(m.Counts) != 0 {
		t.Fatalf("untrain left %d, %d tokens", m.Ham, len(m.Counts))
	}
}

func TestModelPrune(t *testing.T) {
	m := NewModel()
	for i := 0; i < 1000; i++ {
		m.Train([]string{strings.Repeat("x", i%50+1), "common"}, i%2 == 0, false)
	}
	m.Prune(10)
	if len(m.Counts) != 10 || m.Counts["common"] == ([2]uint32{}) {
		t.Fatalf("%d tokens, common %v", len(m.Counts), m.Counts["common"])
	}
}

// BenchmarkClassify10K: tokenising and classifying a 10 KB message
// against a trained model (goal: under 1 ms).
func BenchmarkClassify10K(b *testing.B) {
	ham, spamMsgs := loadCorpus(b, "ham"), loadCorpus(b, "spam")
	f := &Filter{}
	for i := range ham {
		f.Train(1, Tokens(ham[i]), false, false)
		f.Train(1, Tokens(spamMsgs[i]), true, false)
	}
	var msg []byte
	msg = append(msg, spamMsgs[0]...)
	body := spamMsgs[2][strings.Index(string(spamMsgs[2]), "\r\n\r\n")+4:]
	for len(msg) < 10<<10 {
		msg = append(msg, body...)
	}
	b.SetBytes(int64(len(msg)))
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.Classify(1, Tokens(msg))
	}
	// CPU time per message: on a shared machine ns/op is mostly waiting
	// for a core.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the user and system time of the process in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
