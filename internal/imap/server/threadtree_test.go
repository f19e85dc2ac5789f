package server

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// tm is a hand-built message: sent date in minutes, raw Subject,
// Message-ID, In-Reply-To and References headers. Its sequence number is
// its position + 1.
type tm struct {
	date                int
	subj, id, irt, refs string
}

var threadEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func threadMsgs(ms []tm) []threadMsg {
	msgs := make([]threadMsg, len(ms))
	for i, m := range ms {
		msgs[i] = threadMsg{uid: store.UID(100 + i), seq: uint32(i + 1),
			date:  dateOf(threadEpoch.Add(time.Duration(m.date) * time.Minute)),
			msgID: message.FirstMsgID(m.id), inReply: message.FirstMsgID(m.irt), refs: message.ParseReferences(m.refs)}
		msgs[i].subject, msgs[i].reply = subjectKey(m.subj)
	}
	return msgs
}

func renderThreads(t *threadTree, uid bool) string {
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	t.write(wire.NewWriter(bw), uid)
	bw.Flush()
	return buf.String()
}

// TestThreadReferences checks each step of RFC 5256 §3 REFERENCES on
// messages built by hand; the expected trees are derived from the RFC's
// text, step by step, in the comments.
func TestThreadReferences(t *testing.T) {
	cases := []struct {
		name string
		msgs []tm
		want string
	}{
		{"chain by References", []tm{
			{0, "hello", "<a@x>", "", ""},
			{1, "Re: hello", "<b@x>", "<a@x>", "<a@x>"},
			{2, "Re: hello", "<c@x>", "<b@x>", "<a@x> <b@x>"},
		}, "(1 2 3)"},
		{"siblings sorted by sent date", []tm{
			{0, "p", "<a@x>", "", ""},
			{5, "re: p", "<b@x>", "", "<a@x>"},
			{2, "re: p", "<c@x>", "", "<a@x>"},
		}, "(1 (3)(2))"},
		{"sent date ties go by sequence number", []tm{
			{0, "p", "<a@x>", "", ""},
			{0, "re: p", "<b@x>", "", "<a@x>"},
			{0, "re: p", "<c@x>", "", "<a@x>"},
			{0, "q", "<d@x>", "", ""},
		}, "(1 (2)(3))(4)"},
		// Step 1.A: a missing parent becomes a dummy; step 3 keeps a
		// dummy at the top with two children, whose list has no number.
		{"dummy parent of two kept at the top", []tm{
			{1, "s1", "<b@x>", "", "<x@x>"},
			{0, "s2", "<c@x>", "", "<x@x>"},
		}, "((2)(1))"},
		{"dummy parent of one promoted", []tm{
			{0, "s", "<b@x>", "", "<x@x>"},
		}, "(1)"},
		// a -> b(dummy) -> c: b is promoted, c becomes a's child.
		{"dummy in the middle promoted", []tm{
			{0, "s", "<a@x>", "", ""},
			{1, "re: s", "<c@x>", "", "<a@x> <b@x>"},
		}, "(1 2)"},
		{"dummy in the middle with two children promoted", []tm{
			{0, "s", "<a@x>", "", ""},
			{1, "re: s", "<c@x>", "", "<a@x> <b@x>"},
			{2, "re: s", "<d@x>", "", "<a@x> <b@x>"},
		}, "(1 (2)(3))"},
		// The first message with an identifier owns it; the second gets a
		// unique one, so the reply goes under message 1.
		{"duplicate Message-ID", []tm{
			{0, "x", "<a@x>", "", ""},
			{1, "y", "<a@x>", "", ""},
			{2, "z", "<r@x>", "", "<a@x>"},
		}, "(1 3)(2)"},
		{"no valid Message-ID", []tm{
			{0, "x", "no id", "", ""},
			{1, "y", "", "", ""},
		}, "(1)(2)"},
		// RFC 5256 §3: quoting does not make identifiers differ.
		{"normalised identifiers", []tm{
			{0, "x", `<"a"@x>`, "", ""},
			{1, "y", "<b@x>", "", "<a@x>"},
		}, "(1 2)"},
		{"case matters in identifiers", []tm{
			{0, "x", "<A@x>", "", ""},
			{1, "y", "<b@x>", "", "<a@x>"},
		}, "(1)(2)"},
		// Message 1 is linked under 2 (its References); linking 2 under 1
		// would close a loop, so step 1.B does not.
		{"loop", []tm{
			{0, "x", "<a@x>", "", "<b@x>"},
			{1, "x", "<b@x>", "", "<a@x>"},
		}, "(2 1)"},
		{"self reference", []tm{
			{0, "x", "<a@x>", "", "<a@x>"},
		}, "(1)"},
		// Step 1.A never changes a parent: x does not take b from a; the
		// missing x, left without children, is pruned.
		{"existing parent kept", []tm{
			{0, "s", "<a@x>", "", ""},
			{1, "re: s", "<b@x>", "", "<a@x>"},
			{2, "re: s", "<d@x>", "", "<x@x> <b@x>"},
		}, "(1 2 3)"},
		// Step 1.B: message 3 (b) was put under a by message 2's
		// References; its own References name z, which wins.
		{"own references replace a parent", []tm{
			{0, "one", "<a@x>", "", ""},
			{2, "re: two", "<c@x>", "", "<a@x> <b@x>"},
			{1, "two", "<b@x>", "", "<z@x>"},
		}, "(1)(3 2)"},
		{"In-Reply-To when no References", []tm{
			{0, "s", "<a@x>", "", ""},
			{1, "t", "<b@x>", "your message <a@x> and <z@x>", ""},
			{2, "u", "<c@x>", "<b@x>", "junk"},
		}, "(1 2 3)"},
		{"References win over In-Reply-To", []tm{
			{0, "s", "<a@x>", "", ""},
			{1, "t", "<b@x>", "", ""},
			{2, "u", "<c@x>", "<a@x>", "<b@x>"},
		}, "(1)(2 3)"},
		// Step 5: two threads with the same base subject, neither a
		// reply: a dummy gets both.
		{"same subject, no reply", []tm{
			{0, "hello", "<a@x>", "", ""},
			{1, "Hello", "<b@x>", "", ""},
		}, "((1)(2))"},
		{"reply goes under the original", []tm{
			{0, "hello", "<a@x>", "", ""},
			{1, "Re: hello", "<b@x>", "", ""},
		}, "(1 2)"},
		// 5.B puts the non-reply 2 in the table, 5.C puts the earlier
		// reply 1 under it.
		{"reply before the original", []tm{
			{0, "Re: hello", "<a@x>", "", ""},
			{1, "hello", "<b@x>", "", ""},
		}, "(2 1)"},
		{"two replies", []tm{
			{0, "Re: hi", "<a@x>", "", ""},
			{1, "Fwd: hi", "<b@x>", "", ""},
		}, "((1)(2))"},
		{"(fwd) trailer and [fwd: ] are replies", []tm{
			{0, "hi", "<a@x>", "", ""},
			{1, "hi (fwd)", "<b@x>", "", ""},
			{2, "[fwd: hi]", "<c@x>", "", ""},
		}, "(1 (2)(3))"},
		{"a blob alone is not a reply", []tm{
			{0, "hi", "<a@x>", "", ""},
			{1, "[list] hi", "<b@x>", "", ""},
		}, "((1)(2))"},
		// The dummy thread (subject of its first child) is preferred;
		// message 3 joins it.
		{"dummy thread takes a subject thread", []tm{
			{0, "topic", "<b@x>", "", "<x@x>"},
			{1, "re: topic", "<c@x>", "", "<x@x>"},
			{2, "topic", "<d@x>", "", ""},
		}, "((1)(2)(3))"},
		{"two dummy threads merge", []tm{
			{0, "s", "<b@x>", "", "<x@x>"},
			{1, "re: s", "<c@x>", "", "<x@x>"},
			{2, "s", "<d@x>", "", "<y@x>"},
			{3, "re: s", "<e@x>", "", "<y@x>"},
		}, "((1)(2)(3)(4))"},
		{"empty subjects are not gathered", []tm{
			{0, "", "<a@x>", "", ""},
			{1, "Re:", "<b@x>", "", ""},
		}, "(1)(2)"},
		// RFC 5256 §2.1 knows only "re", "fw" and "fwd": "回复:" stays in
		// the base subject, so it is another subject and not a reply.
		{"Chinese reply prefix is part of the subject", []tm{
			{0, "你好", "<a@x>", "", ""},
			{1, "回复: 你好", "<b@x>", "", ""},
			{2, "回复: 你好", "<c@x>", "", ""},
		}, "(1)((2)(3))"},
		// i;unicode-casemap (RFC 5051): width and case do not matter.
		{"subjects compared by i;unicode-casemap", []tm{
			{0, "Ｈｅｌｌｏ", "<a@x>", "", ""},
			{1, "Re: HELLO", "<b@x>", "", ""},
		}, "(1 2)"},
		{"a thread with children gathered", []tm{
			{0, "x", "<a@x>", "", ""},
			{1, "re: x", "<b@x>", "", "<a@x>"},
			{2, "x", "<c@x>", "", ""},
		}, "((1 2)(3))"},
		// Step 6: the dummy is placed by its first child (date 1).
		{"dummy sorted by its first child", []tm{
			{5, "aaa", "<a@x>", "", ""},
			{3, "bbb", "<b@x>", "", "<x@x>"},
			{1, "ccc", "<c@x>", "", "<x@x>"},
		}, "((3)(2))(1)"},
		{"nesting", []tm{
			{0, "s", "<a@x>", "", ""},
			{1, "re: s", "<b@x>", "", "<a@x>"},
			{2, "re: s", "<c@x>", "", "<a@x> <b@x>"},
			{3, "re: s", "<d@x>", "", "<a@x>"},
			{4, "re: s", "<e@x>", "", "<a@x> <d@x>"},
			{5, "re: s", "<f@x>", "", "<a@x> <d@x>"},
		}, "(1 (2 3)(4 (5)(6)))"},
		// A reply whose parent is missing, delivered before the parent.
		{"reply before its parent", []tm{
			{1, "re: s", "<b@x>", "", "<a@x>"},
			{0, "s", "<a@x>", "", ""},
		}, "(2 1)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := renderThreads(threadReferences(threadMsgs(tc.msgs)), false)
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestThreadOrderedSubject(t *testing.T) {
	cases := []struct {
		name string
		msgs []tm
		want string
	}{
		// Base subject groups, each sorted by sent date; the first is the
		// root and the others its children; threads by first message.
		{"groups", []tm{
			{2, "hello", "", "", ""},
			{0, "Re: hello", "", "", ""},
			{1, "other", "", "", ""},
			{3, "[list] HELLO (fwd)", "", "", ""},
		}, "(2 (1)(4))(3)"},
		{"two in a group", []tm{
			{0, "a", "", "", ""},
			{1, "re: a", "", "", ""},
		}, "(1 2)"},
		{"empty subjects form one group", []tm{
			{0, "", "", "", ""},
			{1, "x", "", "", ""},
			{2, "re:", "", "", ""},
		}, "(1 3)(2)"},
		{"References do not matter", []tm{
			{0, "a", "<a@x>", "", ""},
			{1, "b", "<b@x>", "", "<a@x>"},
		}, "(1)(2)"},
		{"ties by sequence number", []tm{
			{0, "b", "", "", ""},
			{0, "a", "", "", ""},
			{0, "b", "", "", ""},
		}, "(1 3)(2)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := renderThreads(threadOrderedSubject(threadMsgs(tc.msgs)), false)
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	if got := renderThreads(threadOrderedSubject(threadMsgs([]tm{{0, "a", "", "", ""}, {1, "a", "", "", ""}})), true); got != "(100 101)" {
		t.Errorf("UIDs: %s", got)
	}
}

// TestThreadRandom runs REFERENCES on random mailboxes full of missing,
// duplicate and looping references and checks what must hold whatever
// the input: every message exactly once, well-formed lists, and no
// dummy with a single child.
func TestThreadRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 300; round++ {
		n := 1 + rng.Intn(60)
		ms := make([]tm, n)
		for i := range ms {
			id := func() string { return fmt.Sprintf("<%d@x>", rng.Intn(n+n/2+1)) }
			var refs []string
			for k := rng.Intn(5); k > 0; k-- {
				refs = append(refs, id())
			}
			ms[i] = tm{date: rng.Intn(20), subj: []string{"", "a", "re: a", "b", "fwd: b", "[x] b"}[rng.Intn(6)],
				id: id(), irt: id(), refs: strings.Join(refs, " ")}
			if rng.Intn(5) == 0 {
				ms[i].id = ""
			}
		}
		for _, alg := range []func([]threadMsg) *threadTree{threadReferences, threadOrderedSubject} {
			tree := alg(threadMsgs(ms))
			out := renderThreads(tree, false)
			checkThreadSyntax(t, out, n)
		}
	}
}

// checkThreadSyntax parses out by the ABNF of RFC 5256 §4 and checks that
// it holds the numbers 1..n once each.
func checkThreadSyntax(t *testing.T, out string, n int) {
	t.Helper()
	if strings.Contains(out, " )") || strings.Contains(out, ") ") || regexp.MustCompile(`[0-9]\(|\)[0-9]|  `).MatchString(out) {
		t.Fatalf("bad spacing: %s", out)
	}
	seen := make(map[int]bool)
	pos := 0
	var list func() bool
	list = func() bool { // thread-list = "(" (thread-members / thread-nested) ")"
		if pos >= len(out) || out[pos] != '(' {
			return false
		}
		pos++
		members := 0
		for pos < len(out) && out[pos] >= '1' && out[pos] <= '9' {
			v := 0
			for pos < len(out) && out[pos] >= '0' && out[pos] <= '9' {
				v = 10*v + int(out[pos]-'0')
				pos++
			}
			if seen[v] || v > n {
				return false
			}
			seen[v] = true
			members++
			if out[pos] == ' ' {
				pos++
			}
		}
		nested := 0
		for pos < len(out) && out[pos] == '(' {
			if !list() {
				return false
			}
			nested++
		}
		if nested == 1 || members == 0 && nested == 0 || members > 0 && nested == 0 && out[pos-1] == ' ' {
			return false // thread-nested is 2*thread-list
		}
		if pos >= len(out) || out[pos] != ')' {
			return false
		}
		pos++
		return true
	}
	for pos < len(out) {
		if !list() {
			t.Fatalf("bad thread data at %d: %s", pos, out)
		}
	}
	if len(seen) != n {
		t.Fatalf("%d of %d messages in %s", len(seen), n, out)
	}
}

// TestThreadDeep: a chain as long as the mailbox, and a thread nested as
// deep, are written without recursion.
func TestThreadDeep(t *testing.T) {
	const n = 200000
	ms := make([]threadMsg, n)
	for i := range ms {
		ms[i] = threadMsg{uid: store.UID(i + 1), seq: uint32(i + 1), date: dateOf(threadEpoch), msgID: fmt.Sprintf("%d@x", i), subject: "s"}
		if i > 0 {
			ms[i].inReply = fmt.Sprintf("%d@x", i-1-(1-i%2)) // odd: i-1, even: i-2
		}
	}
	out := renderThreads(threadReferences(ms), false)
	if !strings.HasPrefix(out, "(1 (2)(3 (4)(5 ") || !strings.HasSuffix(out, strings.Repeat(")", 10)) {
		t.Fatalf("got %.40s...%s", out, out[len(out)-40:])
	}
	checkThreadSyntax(t, out, n)
}

// TestThreadLoopCheckBounded: References built so that every loop check
// walks a deep chain (quadratic work without a bound) still give a
// well-formed forest of every message, and the budget was what stopped
// the walks.
func TestThreadLoopCheckBounded(t *testing.T) {
	const chain, pairs = 20000, 5000
	var ms []threadMsg
	add := func(id, refs string) {
		n := len(ms)
		ms = append(ms, threadMsg{uid: store.UID(n + 1), seq: uint32(n + 1), date: dateOf(threadEpoch), msgID: id, refs: message.ParseReferences(refs)})
	}
	for i := 0; i < chain; i++ {
		refs := ""
		if i > 0 {
			refs = fmt.Sprintf("<x%d@x>", i-1)
		}
		add(fmt.Sprintf("x%d@x", i), refs)
	}
	for j := 0; j < pairs; j++ {
		add(fmt.Sprintf("d%d@x", j), fmt.Sprintf("<c%d@x>", j)) // the missing c_j gets a child
		add(fmt.Sprintf("m%d@x", j), fmt.Sprintf("<x%d@x> <c%d@x>", chain-1, j))
	}
	tree := threadReferences(ms)
	if tree.walks >= 0 {
		t.Fatalf("budget not reached: %d left", tree.walks)
	}
	checkThreadSyntax(t, renderThreads(tree, false), len(ms))
}

func TestStrArena(t *testing.T) {
	var a strArena
	src := []byte("<id@example>")
	var got []string
	for i := 0; i < 3000; i++ {
		got = append(got, a.copy(string(src)))
	}
	long := strings.Repeat("x", 5000)
	if a.copy(long) != long || a.copy("") != "" {
		t.Fatal("copy")
	}
	list := a.copyList([]string{"a@b", "c@d"})
	src[1] = 'X'
	for _, s := range got {
		if s != "<id@example>" {
			t.Fatalf("copy changed: %q", s)
		}
	}
	if len(list) != 2 || cap(list) != 2 || list[1] != "c@d" || a.copyList(nil) != nil {
		t.Fatalf("list %q", list)
	}
}

// FuzzThread: any set of messages, Message-IDs and References gives a
// well-formed forest of every message, with both algorithms.
func FuzzThread(f *testing.F) {
	f.Add([]byte("\x01a\x02ab\x03b\x04bc"))
	f.Add([]byte("aaaaaaaabbbbbbbb\x00\xff"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 600 {
			return
		}
		// Each 3 bytes: Message-ID, date, and References as two ids; a
		// small alphabet so that ids collide, repeat and loop.
		var ms []tm
		for i := 0; i+2 < len(in); i += 3 {
			id := func(b byte) string { return fmt.Sprintf("<%d@x>", b%13) }
			ms = append(ms, tm{date: int(in[i+1] % 5), subj: []string{"a", "re: a", "", "b"}[in[i]%4],
				id: id(in[i]), refs: id(in[i+1]/5) + " " + id(in[i+2])})
		}
		for _, alg := range []func([]threadMsg) *threadTree{threadReferences, threadOrderedSubject} {
			out := renderThreads(alg(threadMsgs(ms)), false)
			if len(ms) == 0 {
				if out != "" {
					t.Fatalf("threads of nothing: %s", out)
				}
				continue
			}
			checkThreadSyntax(t, out, len(ms))
		}
	})
}
