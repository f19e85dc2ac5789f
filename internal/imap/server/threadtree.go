package server

import (
	"cmp"
	"slices"

	"github.com/youju/youju/internal/imap/wire"
)

// threadTree is the result of a threading algorithm: a forest under the
// root node 0. Nodes are messages (msg >= 0, an index into msgs) or
// dummies (msg < 0) and are linked by indexes, -1 meaning none, so that
// a 100k-message mailbox costs a few slices rather than 100k objects.
type threadTree struct {
	msgs  []threadMsg
	nodes []tnode
	sib   []sibKey // scratch for sortChildren
	// walks bounds the steps of all loop checks (wouldLoop), so that the
	// work stays linear in the mailbox whatever the References say.
	walks int
}

// walksPerMessage is the loop-check budget per message. Real threads
// never come near it: a walk happens only for a message that already has
// replies, and goes up its new parent's ancestors.
const walksPerMessage = 64

type tnode struct {
	msg                       int32
	parent, child, next, prev int32
}

const noNode = -1

func newThreadTree(msgs []threadMsg, capacity int) *threadTree {
	t := &threadTree{msgs: msgs, nodes: make([]tnode, 0, capacity+1), walks: walksPerMessage*len(msgs) + 1024}
	t.newNode(noNode) // the root
	return t
}

func (t *threadTree) newNode(msg int32) int32 {
	t.nodes = append(t.nodes, tnode{msg: msg, parent: noNode, child: noNode, next: noNode, prev: noNode})
	return int32(len(t.nodes) - 1)
}

func (t *threadTree) dummy(n int32) bool { return t.nodes[n].msg < 0 }

// link makes c, which has no parent, the first child of p.
func (t *threadTree) link(p, c int32) {
	pn, cn := &t.nodes[p], &t.nodes[c]
	cn.parent, cn.prev, cn.next = p, noNode, pn.child
	if pn.child != noNode {
		t.nodes[pn.child].prev = c
	}
	pn.child = c
}

// unlink detaches c from its parent.
func (t *threadTree) unlink(c int32) {
	cn := &t.nodes[c]
	if cn.prev != noNode {
		t.nodes[cn.prev].next = cn.next
	} else if cn.parent != noNode {
		t.nodes[cn.parent].child = cn.next
	}
	if cn.next != noNode {
		t.nodes[cn.next].prev = cn.prev
	}
	cn.parent, cn.next, cn.prev = noNode, noNode, noNode
}

// promote replaces c by its children in c's sibling list (RFC 5256 §3
// step 3) and returns the first of them.
func (t *threadTree) promote(c int32) int32 {
	cn := t.nodes[c]
	first, last := cn.child, cn.child
	for n := first; n != noNode; n = t.nodes[n].next {
		t.nodes[n].parent = cn.parent
		last = n
	}
	t.nodes[first].prev = cn.prev
	t.nodes[last].next = cn.next
	if cn.prev != noNode {
		t.nodes[cn.prev].next = first
	} else {
		t.nodes[cn.parent].child = first
	}
	if cn.next != noNode {
		t.nodes[cn.next].prev = last
	}
	t.nodes[c] = tnode{msg: cn.msg, parent: noNode, child: noNode, next: noNode, prev: noNode}
	return first
}

// adoptChildren moves the children of from to to (their order does not
// matter: siblings are sorted at the end).
func (t *threadTree) adoptChildren(to, from int32) {
	for c := t.nodes[from].child; c != noNode; {
		next := t.nodes[c].next
		t.unlink(c)
		t.link(to, c)
		c = next
	}
}

// wouldLoop reports whether making p the parent of c would close a loop:
// p is c or one of its descendants (RFC 5256 §3 step 1.A). The walk up
// from p ends at a root, as the links never form a loop. Once the budget
// of walks is spent (a mailbox built to make each check walk a deep
// chain: quadratic work), a link that needs a walk is refused as if it
// looped, which keeps the result a forest of every message.
func (t *threadTree) wouldLoop(p, c int32) bool {
	if p == c {
		return true
	}
	if t.nodes[c].child == noNode {
		return false // a leaf has no descendants: the usual case, in O(1)
	}
	for n := t.nodes[p].parent; n != noNode; n = t.nodes[n].parent {
		if t.walks--; t.walks < 0 || n == c {
			return true
		}
	}
	return false
}

// key is what siblings are sorted by (RFC 5256 §3 steps 4 and 6): the
// sent date and then the sequence number of the message, or of a dummy's
// first child.
func (t *threadTree) key(n int32) *threadMsg {
	for t.dummy(n) && t.nodes[n].child != noNode {
		n = t.nodes[n].child
	}
	if t.dummy(n) {
		return nil
	}
	return &t.msgs[t.nodes[n].msg]
}

func compareThreadMsgs(a, b *threadMsg) int {
	if a == nil || b == nil {
		return cmp.Compare(boolInt(a != nil), boolInt(b != nil))
	}
	if c := a.date.compare(b.date); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sibKey is a node with its sort key, computed once per sort.
type sibKey struct {
	date sentDate
	seq  uint32
	node int32
}

// sortChildren orders the children of p by key.
func (t *threadTree) sortChildren(p int32) {
	first := t.nodes[p].child
	if first == noNode || t.nodes[first].next == noNode {
		return
	}
	sib := t.sib[:0]
	for c := first; c != noNode; c = t.nodes[c].next {
		k := sibKey{node: c}
		if m := t.key(c); m != nil {
			k.date, k.seq = m.date, m.seq
		} // else a dummy without messages: first, as compareThreadMsgs puts it
		sib = append(sib, k)
	}
	slices.SortFunc(sib, func(a, b sibKey) int {
		if c := a.date.compare(b.date); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	prev := int32(noNode)
	for _, k := range sib {
		c := k.node
		t.nodes[c].prev = prev
		if prev == noNode {
			t.nodes[p].child = c
		} else {
			t.nodes[prev].next = c
		}
		prev = c
	}
	t.nodes[prev].next = noNode
	t.sib = sib
}

// sortAll sorts every set of siblings, the root's last so that a dummy at
// the top is placed by its first child after that child's siblings are
// sorted (RFC 5256 §3 step 6). Only the root's children can be dummies,
// so the order of the other sets does not matter.
func (t *threadTree) sortAll() {
	for n := 1; n < len(t.nodes); n++ {
		t.sortChildren(int32(n))
	}
	t.sortChildren(0)
}

// threadOrderedSubject is ORDEREDSUBJECT (RFC 5256 §3): messages with
// the same base subject form a thread, sorted by sent date; the first is
// its root and the others are its children; threads are in the order of
// their first messages.
func threadOrderedSubject(msgs []threadMsg) *threadTree {
	t := newThreadTree(msgs, len(msgs))
	order := make([]int32, len(msgs))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		if c := cmp.Compare(msgs[a].subject, msgs[b].subject); c != 0 {
			return c
		}
		return compareThreadMsgs(&msgs[a], &msgs[b])
	})
	var head int32 = noNode
	for i, m := range order {
		n := t.newNode(m)
		if i == 0 || msgs[order[i-1]].subject != msgs[m].subject {
			t.link(0, n)
			head = n
			continue
		}
		t.link(head, n)
	}
	t.sortAll()
	return t
}

// threadReferences is REFERENCES (RFC 5256 §3 steps 1 to 6); msgs are in
// ascending sequence order.
func threadReferences(msgs []threadMsg) *threadTree {
	t := newThreadTree(msgs, 2*len(msgs))
	t.linkReferences()
	// Step 2: the messages without a parent become children of the root.
	for n := int32(1); n < int32(len(t.nodes)); n++ {
		if t.nodes[n].parent == noNode {
			t.link(0, n)
		}
	}
	t.prune()
	// Step 4: sort the root's children, each dummy placed by its first
	// child once its children are sorted.
	for c := t.nodes[0].child; c != noNode; c = t.nodes[c].next {
		if t.dummy(c) {
			t.sortChildren(c)
		}
	}
	t.sortChildren(0)
	t.gatherSubjects()
	t.sortAll()
	return t
}

// linkReferences is step 1: one node per message and per identifier
// referenced but not found (a dummy), linked parent to child.
func (t *threadTree) linkReferences() {
	msgs := t.msgs
	ids := make(map[string]int32, len(msgs))
	// The first message (lowest sequence number) with an identifier owns
	// it; the others with the same one, and those without a valid one,
	// get a unique identifier: no entry.
	for i := range msgs {
		n := t.newNode(int32(i))
		if id := msgs[i].msgID; id != "" {
			if _, dup := ids[id]; !dup {
				ids[id] = n
			}
		}
	}
	lookup := func(id string) int32 {
		n, ok := ids[id]
		if !ok {
			n = t.newNode(noNode)
			ids[id] = n
		}
		return n
	}
	var one [1]string
	for i := range msgs {
		// Step 1.A: link the references in order, each the parent of the
		// next, but never change an existing parent (the References may
		// have been truncated) nor close a loop.
		prev := int32(noNode)
		for _, r := range msgs[i].references(&one) {
			n := lookup(r)
			if prev != noNode && t.nodes[n].parent == noNode && !t.wouldLoop(prev, n) {
				t.link(prev, n)
			}
			prev = n
		}
		// Step 1.B: the last reference is the parent of the message; this
		// replaces a parent that step 1.A gave it, unless it loops.
		me := int32(i) + 1 // message i is node i+1
		if t.nodes[me].parent != noNode {
			t.unlink(me)
		}
		if prev != noNode && !t.wouldLoop(prev, me) {
			t.link(prev, me)
		}
	}
}

// prune is step 3: dummies without children go; a dummy with children
// is replaced by them, except at the top when it has more than one (they
// would become separate threads). Levels are pruned children first, so
// that a dummy is judged by the children it keeps: nothing pruned is
// left as an empty or single-child dummy.
func (t *threadTree) prune() {
	// A pre-order walk, reversed, visits every node after its
	// descendants; pruning a level changes only that level.
	order := make([]int32, 0, len(t.nodes))
	stack := []int32{0}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		order = append(order, p)
		for c := t.nodes[p].child; c != noNode; c = t.nodes[c].next {
			stack = append(stack, c)
		}
	}
	for i := len(order) - 1; i >= 0; i-- {
		p := order[i]
		for c := t.nodes[p].child; c != noNode; {
			n := t.nodes[c]
			switch {
			case n.msg >= 0:
			case n.child == noNode:
				t.unlink(c)
			case p != 0 || t.nodes[n.child].next == noNode:
				// Its children have no dummies left: no need to look
				// at them again.
				t.promote(c)
			}
			c = n.next
		}
	}
}

// threadSubject is the base subject of a thread at the top (step 5.B.i):
// of its message, or of a dummy's first child.
func (t *threadTree) threadSubject(n int32) *threadMsg {
	if t.dummy(n) {
		n = t.nodes[n].child
		if n == noNode || t.dummy(n) {
			return nil
		}
	}
	return &t.msgs[t.nodes[n].msg]
}

// gatherSubjects is step 5: threads at the top with the same base
// subject are merged.
func (t *threadTree) gatherSubjects() {
	var top []int32
	for c := t.nodes[0].child; c != noNode; c = t.nodes[c].next {
		top = append(top, c)
	}
	// Step 5.B: one thread per subject, preferring a dummy, then one
	// whose subject is not a reply.
	table := make(map[string]int32)
	for _, c := range top {
		m := t.threadSubject(c)
		if m == nil || m.subject == "" {
			continue
		}
		old, ok := table[m.subject]
		switch {
		case !ok:
			table[m.subject] = c
		case !t.dummy(old) && (t.dummy(c) || t.msgs[t.nodes[old].msg].reply && !m.reply):
			table[m.subject] = c
		}
	}
	// Step 5.C: merge the others into it.
	for _, c := range top {
		if t.nodes[c].parent != 0 {
			continue // already merged into another thread
		}
		m := t.threadSubject(c)
		if m == nil || m.subject == "" {
			continue
		}
		old := table[m.subject]
		if old == c {
			continue
		}
		switch cur := t.nodes[c].msg; {
		case t.dummy(old) && cur < 0:
			t.adoptChildren(old, c)
			t.unlink(c)
		case t.dummy(old):
			t.unlink(c)
			t.link(old, c)
		case m.reply && !t.msgs[t.nodes[old].msg].reply:
			t.unlink(c)
			t.link(old, c)
		default:
			d := t.newNode(noNode)
			t.unlink(c)
			t.unlink(old)
			t.link(0, d)
			t.link(d, old)
			t.link(d, c)
			table[m.subject] = d
		}
	}
}

// write writes the threads as thread-list of RFC 5256 §4: a message with
// one child continues its list ("(1 2 3)"), one with several opens a
// nested list per child ("(1 (2)(3))"), and a dummy writes no number.
// It uses an explicit stack: a thread can be as deep as the mailbox.
func (t *threadTree) write(w *wire.Writer, uid bool) {
	var stack []int32 // per open nested level: the next sibling to write
	for top := t.nodes[0].child; top != noNode; top = t.nodes[top].next {
		cur := top
	list:
		for {
			// The list that starts at cur, down to a leaf or to a node
			// with several children, whose lists are nested in it.
			w.Byte('(')
			wrote := false
			for n := cur; ; {
				if m := t.nodes[n].msg; m >= 0 {
					if wrote {
						w.SP()
					}
					if uid {
						w.Number(uint64(t.msgs[m].uid))
					} else {
						w.Number(uint64(t.msgs[m].seq))
					}
					wrote = true
				}
				c := t.nodes[n].child
				if c == noNode {
					break
				}
				if t.nodes[c].next == noNode {
					n = c
					continue
				}
				if wrote {
					w.SP()
				}
				stack = append(stack, t.nodes[c].next)
				cur = c
				continue list
			}
			w.Byte(')')
			// Go on with the next sibling of the innermost open level,
			// closing the levels that are done.
			for len(stack) > 0 {
				next := stack[len(stack)-1]
				if next != noNode {
					stack[len(stack)-1] = t.nodes[next].next
					cur = next
					continue list
				}
				stack = stack[:len(stack)-1]
				w.Byte(')')
			}
			break
		}
	}
}
