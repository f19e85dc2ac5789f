package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
)

// serveDir opens the store in dir (its flag cache empty, as after a
// start) and serves it on loopback until cleanup.
func serveDir(t *testing.T, dir string) *testServer {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := st.Account(ctx, testUser)
	if err != nil {
		if err := st.AddDomain(ctx, "example.org"); err != nil {
			t.Fatal(err)
		}
		if acct, err = st.CreateAccount(ctx, store.Account{Address: testUser, PasswordHash: passwordHash(), AllowIMAP: true}); err != nil {
			t.Fatal(err)
		}
	}
	srv := &Server{Store: st, Auth: auth.New(st, auth.Options{}), AllowPlaintextLoopback: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	ts := &testServer{srv: srv, st: st, acct: acct, addr: l.Addr().String()}
	t.Cleanup(func() { ts.stop() })
	return ts
}

func (ts *testServer) stop() {
	ts.srv.Shutdown(context.Background())
	ts.st.Close()
}

// selectReport is what SELECT said of the mailbox.
type selectReport struct {
	exists, unseen int
	keywords       []string // of FLAGS, lower case, sorted
}

var (
	existsRe = regexp.MustCompile(`^\* (\d+) EXISTS$`)
	unseenRe = regexp.MustCompile(`^\* OK \[UNSEEN (\d+)\]`)
	flagsRe  = regexp.MustCompile(`^\* (?:\d+ FETCH \(UID \d+ )?FLAGS \(([^)]*)\)`)
)

// keywordsOf returns the keywords of a flag list, lower case.
func keywordsOf(list string) []string {
	var out []string
	for _, f := range strings.Fields(list) {
		if !strings.HasPrefix(f, `\`) {
			out = append(out, strings.ToLower(f))
		}
	}
	return out
}

func parseSelect(t *testing.T, lines []string) selectReport {
	t.Helper()
	var r selectReport
	for _, l := range lines {
		if m := existsRe.FindStringSubmatch(l); m != nil {
			r.exists, _ = strconv.Atoi(m[1])
		}
		if m := unseenRe.FindStringSubmatch(l); m != nil {
			r.unseen, _ = strconv.Atoi(m[1])
		}
		if m := flagsRe.FindStringSubmatch(l); m != nil {
			r.keywords = keywordsOf(m[1])
		}
	}
	slices.Sort(r.keywords)
	return r
}

// scanReport is the same, worked out by the client from FETCH 1:* FLAGS:
// every message read.
func scanReport(t *testing.T, c *client) selectReport {
	t.Helper()
	var r selectReport
	seen := map[string]bool{}
	for _, l := range c.ok("FETCH 1:* (UID FLAGS)") {
		m := flagsRe.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		r.exists++
		if r.unseen == 0 && !strings.Contains(m[1], `\Seen`) {
			r.unseen = r.exists
		}
		for _, k := range keywordsOf(m[1]) {
			if !seen[k] {
				seen[k] = true
				r.keywords = append(r.keywords, k)
			}
		}
	}
	slices.Sort(r.keywords)
	return r
}

func checkSelect(t *testing.T, ts *testServer, step string) {
	t.Helper()
	c := ts.login(t)
	got := parseSelect(t, c.ok("SELECT INBOX"))
	want := scanReport(t, c)
	if got.exists != want.exists || got.unseen != want.unseen || !slices.Equal(got.keywords, want.keywords) {
		t.Fatalf("%s: SELECT said %+v, the messages say %+v", step, got, want)
	}
	// Again, warm (the store may have loaded its cache meanwhile), and
	// read-only.
	for _, cmd := range []string{"SELECT INBOX", "EXAMINE INBOX"} {
		if again := parseSelect(t, c.ok(cmd)); again.exists != want.exists || again.unseen != want.unseen ||
			!slices.Equal(again.keywords, want.keywords) {
			t.Fatalf("%s: %s again said %+v, the messages say %+v", step, cmd, again, want)
		}
	}
	c.ok("LOGOUT")
}

// TestSelectAfterStartMatchesMessages checks SELECT's EXISTS, UNSEEN and
// FLAGS against every message's flags, on a store just opened (the store
// answers from its index, not from a loaded flag cache) and again warm,
// after deliveries, flag changes (of keywords, first unseen) and
// expunges that leave gaps.
func TestSelectAfterStartMatchesMessages(t *testing.T) {
	dir := t.TempDir()
	ts := serveDir(t, dir)
	ctx := context.Background()
	in, err := ts.st.Mailbox(ctx, ts.acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 300; i++ {
		f := store.Flags{System: store.FlagSeen}
		if i%11 == 7 {
			f.System = 0
		}
		switch {
		case i%30 == 0:
			f.Keywords = []string{"$Forwarded", fmt.Sprintf("$label%d", i%4)}
		case i%25 == 0:
			f.Keywords = []string{"$forwarded", "Work"}
		}
		res, err := ts.st.Deliver(ctx, store.Delivery{Data: []byte(benchMsg(i)), Targets: []store.Target{{Account: ts.acct.ID, Mailbox: in.ID, Flags: f}}})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res)
		}
	}
	restart := func() {
		ts.stop()
		ts = serveDir(t, dir)
	}
	restart()
	checkSelect(t, ts, "delivered")
	steps := []struct {
		name string
		do   func() error
	}{
		{"first unseen and Work expunged", func() error {
			_, err := ts.st.Remove(ctx, ts.acct.ID, in.ID, store.UIDSet{{Lo: 5, Hi: 10}, {Lo: 25, Hi: 25}, {Lo: 50, Hi: 50}, {Lo: 75, Hi: 75}})
			return err
		}},
		{"a low message unseen", func() error {
			_, err := ts.st.StoreFlags(ctx, ts.acct.ID, in.ID, store.UIDSet{{Lo: 2, Hi: 2}}, store.FlagRemove, store.Flags{System: store.FlagSeen}, 0)
			return err
		}},
		{"keywords changed", func() error {
			if _, err := ts.st.StoreFlags(ctx, ts.acct.ID, in.ID, store.UIDSet{{Lo: 1, Hi: 300}}, store.FlagRemove, store.Flags{Keywords: []string{"$LABEL2", "work"}}, 0); err != nil {
				return err
			}
			_, err := ts.st.StoreFlags(ctx, ts.acct.ID, in.ID, store.UIDSet{{Lo: 299, Hi: 299}}, store.FlagAdd, store.Flags{Keywords: []string{"Urgent"}}, 0)
			return err
		}},
		{"all seen", func() error {
			_, err := ts.st.StoreFlags(ctx, ts.acct.ID, in.ID, store.UIDSet{{Lo: 1, Hi: 300}}, store.FlagAdd, store.Flags{System: store.FlagSeen}, 0)
			return err
		}},
		{"delivered after gaps", func() error {
			ts.deliver(t, "INBOX", benchMsg(301), 0)
			_, err := ts.st.Remove(ctx, ts.acct.ID, in.ID, store.UIDSet{{Lo: 100, Hi: 199}})
			return err
		}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		checkSelect(t, ts, s.name+" (warm)")
		restart()
		checkSelect(t, ts, s.name+" (after start)")
	}
}
