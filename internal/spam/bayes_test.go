package spam

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
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
// does not tell) and classifies the other half.
func TestCorpusPrecisionRecall(t *testing.T) {
	ham, spamMsgs := loadCorpus(t, "ham"), loadCorpus(t, "spam")
	f := &Filter{}
	for i := 0; i < len(ham); i += 2 {
		f.Train(1, Tokens(ham[i]), false, false)
	}
	for i := 0; i < len(spamMsgs); i += 2 {
		f.Train(1, Tokens(spamMsgs[i]), true, false)
	}
	c := &Checker{}
	var caught, spamN, misfiled, hamN int
	for i := 1; i < len(spamMsgs); i += 2 {
		spamN++
		if c.Verdict(bayesScore(t, f, spamMsgs[i])) != Deliver {
			caught++
		}
	}
	for i := 1; i < len(ham); i += 2 {
		hamN++
		if c.Verdict(bayesScore(t, f, ham[i])) != Deliver {
			misfiled++
			t.Logf("ham misfiled: %.60q", ham[i])
		}
	}
	recall := float64(caught) / float64(spamN)
	hamErr := float64(misfiled) / float64(hamN)
	t.Logf("spam caught %d/%d (%.1f%%), ham misfiled %d/%d (%.2f%%)", caught, spamN, 100*recall, misfiled, hamN, 100*hamErr)
	if recall < 0.95 || hamErr > 0.005 {
		t.Errorf("goal: >= 95%% spam caught, <= 0.5%% ham misfiled")
	}
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
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.Classify(1, Tokens(msg))
	}
}
