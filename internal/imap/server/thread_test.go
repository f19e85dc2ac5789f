package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/testutil"
)

// threadMessages are delivered after an expunged first message, so that
// UID = sequence number + 1. Hand-derived threads (RFC 5256 §3):
//   - 1 <a>, 2 replies to 1 (In-Reply-To and References), 3 names 1 and
//     2 in a folded References and has no In-Reply-To: the chain (1 2 3).
//   - 4 and 5 reply to the missing <m>: a dummy parent with two children
//     stays at the top; 5 has no Date, so its INTERNALDATE (08:00) is its
//     sent date and it sorts first: ((5)(4)). Their subject "回复: 你好"
//     is not a reply for RFC 5256 §2.1, which knows only re/fw/fwd.
//   - 6 "Other" and 7 "Fwd: Other" (no Message-ID): gathered by subject,
//     the forward under the original: (6 7).
//
// At the top, the dummy goes by its first child (08:00), then 1 (10:00),
// then 6 (13:00).
var threadTestMessages = []struct {
	msg     string
	arrival time.Time
	flags   store.SysFlags
}{
	{"Subject: Hello\r\nMessage-ID: <a@x>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nbody\r\n",
		time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), store.FlagSeen},
	{"Subject: Re: Hello\r\nMessage-ID: <b@x>\r\nIn-Reply-To: <a@x>\r\nReferences: <a@x>\r\nDate: Mon, 1 Jan 2024 12:00:00 +0100\r\n\r\nbody\r\n",
		time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), 0},
	{"Subject: RE: hello\r\nMessage-ID: <c@x>\r\nReferences: <a@x>\r\n\t<\"b\"@x>\r\nDate: Mon, 1 Jan 2024 12:00:00 +0000\r\n\r\nbody\r\n",
		time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), 0},
	{"Subject: =?UTF-8?B?5Zue5aSNOiDkvaDlpb0=?=\r\nMessage-ID: <d@x>\r\nReferences: <m@x>\r\nDate: Mon, 1 Jan 2024 09:00:00 +0000\r\n\r\nbody\r\n",
		time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), 0},
	{"Subject: =?UTF-8?B?5Zue5aSNOiDkvaDlpb0=?=\r\nMessage-ID: <e@x>\r\nIn-Reply-To: <m@x>\r\nReferences: <m@x>\r\n\r\nbody\r\n",
		time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC), 0},
	{"Subject: Other\r\nMessage-ID: <f@x>\r\nDate: Mon, 1 Jan 2024 13:00:00 +0000\r\n\r\nbody\r\n",
		time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), store.FlagSeen},
	{"Subject: Fwd: Other\r\nDate: Mon, 1 Jan 2024 14:00:00 +0000\r\n\r\nbody\r\n",
		time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), 0},
}

func threadServer(t *testing.T, configure func(*Server)) (*testServer, *client) {
	ts := startServer(t, configure)
	ts.deliver(t, "INBOX", simpleMsg, store.FlagDeleted)
	ctx := context.Background()
	mb, err := ts.st.Mailbox(ctx, ts.acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range threadTestMessages {
		res, err := ts.st.Deliver(ctx, store.Delivery{Data: []byte(m.msg), InternalDate: m.arrival,
			Targets: []store.Target{{Account: ts.acct.ID, Mailbox: mb.ID, Flags: store.Flags{System: m.flags}}}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("deliver: %v %v", err, res)
		}
	}
	c := ts.login(t)
	c.ok("SELECT INBOX")
	c.ok("EXPUNGE")
	return ts, c
}

var threadCases = []struct{ cmd, want string }{
	{"THREAD REFERENCES UTF-8 ALL", "* THREAD ((5)(4))(1 2 3)(6 7)"},
	{"UID THREAD REFERENCES UTF-8 ALL", "* THREAD ((6)(5))(2 3 4)(7 8)"},
	{"thread references us-ascii all", "* THREAD ((5)(4))(1 2 3)(6 7)"},
	{"THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (5 4)(1 (2)(3))(6 7)"},
	{"UID THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (6 5)(2 (3)(4))(7 8)"},
	// Only the messages found are threaded: without 6, the forward 7
	// stands alone; without 1, 2 and 3 hang from a pruned dummy.
	{"THREAD REFERENCES UTF-8 UNSEEN", "* THREAD ((5)(4))(2 3)(7)"},
	{"THREAD REFERENCES UTF-8 2:3", "* THREAD (2 3)"},
	{"UID THREAD REFERENCES UTF-8 UID 4:8", "* THREAD ((6)(5))(4)(7 8)"},
	{"THREAD REFERENCES UTF-8 NOT SUBJECT hello", "* THREAD ((5)(4))(6 7)"},
	{"THREAD ORDEREDSUBJECT GB18030 SUBJECT {4+}\r\n\xc4\xe3\xba\xc3", "* THREAD (5 4)"},
	{"THREAD REFERENCES UTF-8 SUBJECT \"no such\"", "* THREAD"},
	{"THREAD REFERENCES UTF-8 OR FLAGGED SENTBEFORE 1-Jan-2024", "* THREAD"},
	{"THREAD REFERENCES UTF-8 SENTSINCE 1-Jan-2024 NOT 4:5", "* THREAD (1 2 3)(6 7)"},
}

func TestThread(t *testing.T) {
	_, c := threadServer(t, nil)
	for _, tc := range threadCases {
		u, done := c.do(tc.cmd)
		if !strings.HasPrefix(done, "OK") || len(u) != 1 || u[0] != tc.want {
			t.Errorf("%s: %q %s, want %q", tc.cmd, u, done, tc.want)
		}
	}
}

// TestThreadSavedResult: "$" (SEARCHRES, RFC 5182) works as the search
// program of THREAD.
func TestThreadSavedResult(t *testing.T) {
	_, c := threadServer(t, nil)
	c.ok("SEARCH RETURN (SAVE) 2:5")
	if u := c.ok("UID THREAD REFERENCES UTF-8 $"); !hasLine(u, "* THREAD ((6)(5))(3 4)") {
		t.Errorf("THREAD $: %q", u)
	}
}

func TestThreadErrors(t *testing.T) {
	ts, c := threadServer(t, nil)
	for _, cmd := range []string{
		"THREAD X-JWZ UTF-8 ALL", "THREAD REFERENCES ALL", "THREAD REFERENCES UTF-8",
		"THREAD UTF-8 ALL", "UID THREAD ORDEREDSUBJECT UTF-8 BAR",
	} {
		if u, done := c.do(cmd); !strings.HasPrefix(done, "BAD") || len(u) != 0 {
			t.Errorf("%s: %q %s, want BAD", cmd, u, done)
		}
	}
	for _, cmd := range []string{"THREAD REFERENCES X-NOSUCH SUBJECT a", "UID THREAD ORDEREDSUBJECT X-NOSUCH ALL"} {
		if u, done := c.do(cmd); !strings.HasPrefix(done, "NO [BADCHARSET") || len(u) != 0 {
			t.Errorf("%s: %q %s", cmd, u, done)
		}
	}
	c2 := ts.login(t)
	if caps := c2.ok("CAPABILITY"); len(caps) != 1 || !strings.Contains(caps[0], " THREAD=REFERENCES") || !strings.Contains(caps[0], " THREAD=ORDEREDSUBJECT") {
		t.Errorf("capabilities %q", caps)
	}
	if _, done := c2.do("THREAD REFERENCES UTF-8 ALL"); !strings.HasPrefix(done, "BAD") && !strings.HasPrefix(done, "NO") {
		t.Errorf("THREAD without a mailbox: %s", done)
	}
	c2.ok("SELECT Trash")
	if u := c2.ok("UID THREAD REFERENCES UTF-8 ALL"); len(u) != 1 || u[0] != "* THREAD" {
		t.Errorf("empty mailbox: %q", u)
	}
}

// TestThreadGoIMAP checks THREAD with go-imap's client, an independent
// reader of the RFC 5256 §4 syntax.
func TestThreadGoIMAP(t *testing.T) {
	ts, _ := threadServer(t, nil)
	c, err := imapclient.DialTLS(ts.tlsAddr, &imapclient.Options{TLSConfig: clientTLS()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(testUser, testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	algs := c.Caps().ThreadAlgorithms()
	if len(algs) != 2 {
		t.Fatalf("thread algorithms %v", algs)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	leaf := func(n uint32) imapclient.ThreadData { return imapclient.ThreadData{Chain: []uint32{n}} }
	got, err := c.Thread(&imapclient.ThreadOptions{Algorithm: imap.ThreadReferences, SearchCriteria: &imap.SearchCriteria{}}).Wait()
	want := []imapclient.ThreadData{
		{SubThreads: []imapclient.ThreadData{leaf(5), leaf(4)}},
		{Chain: []uint32{1, 2, 3}},
		{Chain: []uint32{6, 7}},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("THREAD = %+v, %v", got, err)
	}
	got, err = c.UIDThread(&imapclient.ThreadOptions{Algorithm: imap.ThreadOrderedSubject,
		SearchCriteria: &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}}).Wait()
	want = []imapclient.ThreadData{
		{Chain: []uint32{6, 5}},
		{Chain: []uint32{3, 4}},
		{Chain: []uint32{8}},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("UID THREAD = %+v, %v", got, err)
	}
}

// TestThreadPythonImaplib reads THREAD with python3's imaplib.
func TestThreadPythonImaplib(t *testing.T) {
	py := testutil.NeedCommand(t, "python3", "apt-get install python3")
	ts, _ := threadServer(t, nil)
	host, port, _ := net.SplitHostPort(ts.addr)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "testdata/imaplib_thread.py", host, port, testUser, testPassword,
		"((5)(4))(1 2 3)(6 7)", "((6)(5))(2 3 4)(7 8)", "(5 4)(1 (2)(3))(6 7)").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "imaplib thread OK") {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
}

// oldInfoStore presents every stored parse in the first codec version,
// as for mail delivered before References were kept in it.
type oldInfoStore struct{ store.Store }

func (s oldInfoStore) Search(ctx context.Context, acct store.AccountID, mbox store.MailboxID, q store.Query) ([]store.UID, error) {
	if match := q.Match; match != nil && q.NeedInfo {
		q.Match = func(m *store.Message) (bool, error) {
			if m.Info != nil {
				m.Info = infoToV1(m.Info)
			}
			return match(m)
		}
	}
	return s.Store.Search(ctx, acct, mbox, q)
}

func (s oldInfoStore) ListMessages(ctx context.Context, acct store.AccountID, mbox store.MailboxID, opt store.ListOptions, fn func(*store.Message) error) error {
	return s.Store.ListMessages(ctx, acct, mbox, opt, func(m *store.Message) error {
		if m.Info != nil {
			m.Info = infoToV1(m.Info)
		}
		return fn(m)
	})
}

// infoToV1 rewrites an encoded Info (codec version 2, see
// internal/message/codec.go) in version 1: no References, and the part
// tree before SentDate instead of after the References.
func infoToV1(b []byte) []byte {
	pos := 3
	uv := func() uint64 {
		v, n := binary.Uvarint(b[pos:])
		pos += n
		return v
	}
	str := func() { n := uv(); pos += int(n) }
	for i := 0; i < 6; i++ {
		uv() // five counts and Size
	}
	str() // Date
	str() // Subject
	for i := 0; i < 6; i++ {
		if v := uv(); v >= 2 {
			for k := 0; k < 4*int(v-2); k++ {
				str()
			}
		}
	}
	str() // In-Reply-To
	str() // Message-ID
	envEnd := pos
	if b[pos] == 1 {
		pos++
		uv()
		uv()
		uv()
	} else {
		pos++
	}
	for i := 0; i < 5; i++ {
		str() // Subject, From, To, Cc, Bcc
	}
	tailEnd := pos
	for n := uv(); n > 0; n-- {
		str()
	}
	out := append([]byte{'Y', 'I', 1}, b[3:envEnd]...)
	out = append(out, b[pos:]...)
	return append(out, b[envEnd:tailEnd]...)
}

// TestThreadOldInfos: for mail stored before the parse held References,
// THREAD reads them from the message header and gives the same threads.
// (Message 3 has References but no In-Reply-To: without the fallback it
// would hang from message 1 by its subject, not from message 2.)
func TestThreadOldInfos(t *testing.T) {
	_, c := threadServer(t, func(srv *Server) { srv.Store = oldInfoStore{srv.Store} })
	for _, tc := range threadCases {
		u, done := c.do(tc.cmd)
		if !strings.HasPrefix(done, "OK") || len(u) != 1 || u[0] != tc.want {
			t.Errorf("%s: %q %s, want %q", tc.cmd, u, done, tc.want)
		}
	}
}

// TestThreadCacheFollowsMailbox: the thread data kept between commands
// takes new messages in and, with the view, leaves expunged ones out.
func TestThreadCacheFollowsMailbox(t *testing.T) {
	ts, c := threadServer(t, nil)
	c.ok("THREAD REFERENCES UTF-8 ALL") // fills the cache
	// A reply to 3 (<c@x>) and a new thread, delivered after.
	ts.deliver(t, "INBOX", "Subject: Re: hello\r\nMessage-ID: <g@x>\r\nReferences: <a@x> <b@x> <c@x>\r\nDate: Mon, 1 Jan 2024 15:00:00 +0000\r\n\r\nx\r\n", 0)
	ts.deliver(t, "INBOX", "Subject: New\r\nMessage-ID: <h@x>\r\nDate: Mon, 1 Jan 2024 16:00:00 +0000\r\n\r\nx\r\n", 0)
	// Not announced yet: not threaded.
	if u := c.ok("THREAD REFERENCES UTF-8 ALL"); !hasLine(u, "* THREAD ((5)(4))(1 2 3)(6 7)") {
		t.Errorf("before NOOP: %q", u)
	}
	c.ok("NOOP")
	if u := c.ok("THREAD REFERENCES UTF-8 ALL"); !hasLine(u, "* THREAD ((5)(4))(1 2 3 8)(6 7)(9)") {
		t.Errorf("after NOOP: %q", u)
	}
	// Another session, from the cache.
	c2 := ts.login(t)
	c2.ok("SELECT INBOX")
	if u := c2.ok("UID THREAD REFERENCES UTF-8 ALL"); !hasLine(u, "* THREAD ((6)(5))(2 3 4 9)(7 8)(10)") {
		t.Errorf("second session: %q", u)
	}
	c2.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
	c2.ok("EXPUNGE")
	c.ok("NOOP")
	// 2 is gone: 3 hangs from 1 by its References; numbers move down.
	if u := c.ok("THREAD REFERENCES UTF-8 ALL"); !hasLine(u, "* THREAD ((4)(3))(1 2 7)(5 6)(8)") {
		t.Errorf("after EXPUNGE: %q", u)
	}
	if u := c.ok("THREAD ORDEREDSUBJECT UTF-8 ALL"); !hasLine(u, "* THREAD (4 3)(1 (2)(7))(5 6)(8)") {
		t.Errorf("ORDEREDSUBJECT after EXPUNGE: %q", u)
	}
}

// TestThreadConcurrent runs THREAD in several sessions while mail
// arrives, for the race detector.
func TestThreadConcurrent(t *testing.T) {
	ts, _ := threadServer(t, nil)
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		c := ts.login(t)
		c.ok("SELECT INBOX")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 10; k++ {
				u, done := c.do("THREAD REFERENCES UTF-8 ALL")
				found := false
				for _, l := range u {
					found = found || strings.HasPrefix(l, "* THREAD (")
				}
				if !strings.HasPrefix(done, "OK") || !found {
					t.Errorf("THREAD: %q %s", u, done)
					return
				}
			}
		}()
	}
	for k := 0; k < 10; k++ {
		ts.deliver(t, "INBOX", fmt.Sprintf("Subject: Re: hello\r\nMessage-ID: <n%d@x>\r\nIn-Reply-To: <a@x>\r\n\r\nx\r\n", k), 0)
	}
	wg.Wait()
}

func TestThreadCacheEvicts(t *testing.T) {
	defer func(n int) { maxThreadCache = n }(maxThreadCache)
	msgs := func(lo, hi int) []threadMsg {
		var out []threadMsg
		for u := lo; u <= hi; u++ {
			out = append(out, threadMsg{uid: store.UID(u), msgID: fmt.Sprintf("%d@x", u), refs: []string{"r@x"}})
		}
		return out
	}
	var tc threadCache
	consistent := func() {
		t.Helper()
		sum := 0
		for _, b := range tc.boxes {
			sum += b.bytes()
		}
		if sum != tc.total || tc.total > maxThreadCache {
			t.Fatalf("total %d, boxes %d, bound %d", tc.total, sum, maxThreadCache)
		}
	}
	a, b := threadBoxKey{mbox: 1}, threadBoxKey{mbox: 2}
	if got, ok := tc.add(a, 0, 3, msgs(1, 3)); !ok || len(got) != 3 {
		t.Fatalf("add a: %d %v", len(got), ok)
	}
	// Another session covered 1:3 already; ours read 2:4 after a
	// snapshot that covered 1: only 4 is new.
	if got, ok := tc.add(a, 1, 4, msgs(2, 4)); !ok || len(got) != 4 || got[3].uid != 4 {
		t.Fatalf("add a again: %v %v", got, ok)
	}
	consistent()
	maxThreadCache = tc.total + 1
	tc.add(b, 0, 2, msgs(1, 2)) // over the bound: a, used least recently, goes
	consistent()
	if m, covered := tc.snapshot(a); m != nil || covered != 0 {
		t.Fatalf("a not evicted: %d", covered)
	}
	if m, covered := tc.snapshot(b); len(m) != 2 || covered != 2 {
		t.Fatalf("b: %d %d", len(m), covered)
	}
	// a was evicted while a session read 5:6 of it: a gap, not cached.
	if _, ok := tc.add(a, 4, 6, msgs(5, 6)); ok {
		t.Fatal("gap accepted")
	}
	// A mailbox over the bound alone is not kept.
	if got, ok := tc.add(a, 0, 500, msgs(1, 500)); !ok || len(got) != 500 {
		t.Fatalf("big add: %d %v", len(got), ok)
	}
	consistent()
	if m, _ := tc.snapshot(a); m != nil {
		t.Fatal("oversized box kept")
	}
}

func TestCountUpTo(t *testing.T) {
	m := newUIDMap([]store.UID{3, 4, 5, 9, 10, 20})
	for uid, want := range map[store.UID]uint32{0: 0, 2: 0, 3: 1, 5: 3, 7: 3, 9: 4, 10: 5, 15: 5, 20: 6, 99: 6} {
		if got := countUpTo(m, uid); got != want {
			t.Errorf("countUpTo(%d) = %d, want %d", uid, got, want)
		}
	}
}
