package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
)

// The tests below are bug 1 of issue 10 made deterministic: session B
// expunges message 2 of 3, then session A, not yet told, runs a command on
// it. A reads with the strict reader of the stress test, which also keeps
// its view (RFC 9051 §7.5.1: message 2 stays in A's view until A is told).

func raceMessage(i int) string {
	return fmt.Sprintf("From: b@example.com\r\nTo: alice@example.org\r\nSubject: race %d\r\nMessage-ID: <r%d@example.com>\r\n\r\nbody of message %d\r\n", i, i, i)
}

// strictSession logs in over a socket and selects INBOX.
func strictSession(t *testing.T, ts *testServer, qresync bool) *stressClient {
	t.Helper()
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &stressClient{conn: nc, rd: &respReader{r: bufio.NewReader(nc)}, modseq: map[store.UID]uint64{}}
	if _, err := c.readOne(); err != nil {
		t.Fatal(err)
	}
	c.must(t, "LOGIN "+testUser+` "`+testPassword+`"`)
	if qresync {
		c.must(t, "ENABLE QRESYNC")
		c.qresync = true
	}
	if err := c.selectBox("INBOX"); err != nil {
		t.Fatal(err)
	}
	return c
}

// must runs a command that must answer OK and returns its untagged
// responses; do returns the tagged one too.
func (c *stressClient) must(t *testing.T, cmd string) []*response {
	t.Helper()
	tagged, untagged := c.do(t, cmd)
	if tagged.kind != "OK" {
		t.Fatalf("%s: %s\n%s", cmd, tagged.raw, c.history())
	}
	return untagged
}

func (c *stressClient) do(t *testing.T, cmd string) (*response, []*response) {
	t.Helper()
	c.curUID = strings.HasPrefix(cmd, "UID ")
	tagged, untagged, err := c.cmd(cmd)
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, c.history())
	}
	return tagged, untagged
}

func kinds(rs []*response) string {
	var out []string
	for _, r := range rs {
		if r.num > 0 {
			out = append(out, fmt.Sprintf("%d %s", r.num, r.kind))
		} else {
			out = append(out, r.kind)
		}
	}
	return strings.Join(out, ", ")
}

// raceSetup delivers three messages, opens A on INBOX, and has B expunge
// message 2.
func raceSetup(t *testing.T, ts *testServer, qresync bool) *stressClient {
	t.Helper()
	for i := 1; i <= 3; i++ {
		ts.deliver(t, "INBOX", raceMessage(i), 0)
	}
	a := strictSession(t, ts, qresync)
	b := ts.login(t)
	b.ok("SELECT INBOX")
	b.ok(`STORE 2 +FLAGS.SILENT (\Deleted)`)
	mustContain(t, b.ok("EXPUNGE"), "* 2 EXPUNGE")
	return a
}

func TestFetchAfterOtherSessionExpunged(t *testing.T) {
	ts := startServer(t, nil)
	a := raceSetup(t, ts, false)
	// Every message of A's view is answered whole, 2 included.
	u := a.must(t, "FETCH 1:* (FLAGS BODY ENVELOPE BODY.PEEK[])")
	if got := kinds(u); got != "1 FETCH, 2 FETCH, 3 FETCH" {
		t.Fatalf("FETCH answered %s\n%s", got, a.history())
	}
	for i, r := range u {
		if body := r.fetch[3].val.(string); !strings.Contains(body, fmt.Sprintf("Subject: race %d", i+1)) {
			t.Fatalf("FETCH %d BODY[] = %q", r.num, body)
		}
	}
	// UID FETCH: the data, then the expunge (RFC 9051 §7.5.1).
	u = a.must(t, "UID FETCH 2 (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	if got := kinds(u); got != "2 FETCH, 2 EXPUNGE" {
		t.Fatalf("UID FETCH answered %s\n%s", got, a.history())
	}
	if got := kinds(a.must(t, "FETCH 1:* (UID)")); got != "1 FETCH, 2 FETCH" {
		t.Fatalf("after the expunge: %s", got)
	}
	if fmt.Sprint(a.view) != "[1 3]" {
		t.Fatalf("view %v", a.view)
	}
}

func TestStoreAfterOtherSessionExpunged(t *testing.T) {
	ts := startServer(t, nil)
	a := raceSetup(t, ts, false)
	// RFC 2180 §4.2.1: the others change, 2 does not, and the client is
	// told with NO [EXPUNGEISSUED] rather than a false OK.
	tagged, u := a.do(t, `STORE 1:3 +FLAGS (\Flagged)`)
	if tagged.kind != "NO" || tagged.code != "EXPUNGEISSUED" {
		t.Fatalf("STORE: %s", tagged.raw)
	}
	if got := kinds(u); got != "1 FETCH, 3 FETCH" {
		t.Fatalf("STORE answered %s", got)
	}
	// .SILENT: nothing to say, OK (as Dovecot), with CONDSTORE too.
	a.must(t, `STORE 1:3 +FLAGS.SILENT (\Answered)`)
	a.must(t, `STORE 1:3 (UNCHANGEDSINCE 100000) +FLAGS.SILENT (\Seen)`)
	// Nothing expunged in the set: OK.
	a.must(t, `STORE 3 +FLAGS ($label1)`)
	ctx := context.Background()
	in, _ := ts.st.Mailbox(ctx, ts.acct.ID, "INBOX")
	flagged, _ := ts.st.Search(ctx, ts.acct.ID, in.ID, store.Query{FlagsSet: store.FlagFlagged | store.FlagAnswered})
	if fmt.Sprint(flagged) != "[1 3]" {
		t.Fatalf("flagged and answered: %v", flagged)
	}
}

func TestCopyAfterOtherSessionExpunged(t *testing.T) {
	ts := startServer(t, nil)
	a := raceSetup(t, ts, false)
	tagged, _ := a.do(t, "COPY 1:3 Archive")
	if tagged.kind != "OK" || !strings.HasPrefix(tagged.code, "COPYUID ") || !strings.HasSuffix(tagged.code, " 1:3 1:3") {
		t.Fatalf("COPY: %s", tagged.raw)
	}
	ctx := context.Background()
	arch, _ := ts.st.Mailbox(ctx, ts.acct.ID, "Archive")
	rd, err := ts.st.OpenMessage(ctx, ts.acct.ID, arch.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if b, _ := io.ReadAll(rd); !strings.Contains(string(b), "Subject: race 2") {
		t.Fatalf("copy of the expunged message: %q", b)
	}
}

func TestMoveAfterOtherSessionExpunged(t *testing.T) {
	for _, qresync := range []bool{false, true} {
		t.Run(fmt.Sprint("qresync=", qresync), func(t *testing.T) {
			ts := startServer(t, nil)
			a := raceSetup(t, ts, qresync)
			u := a.must(t, "MOVE 2:3 Archive")
			// The COPYUID, then each message reported gone once.
			want := "OK, 2 EXPUNGE, 2 EXPUNGE"
			if qresync {
				want = "OK, VANISHED"
			}
			if got := kinds(u); got != want {
				t.Fatalf("MOVE answered %s, want %s\n%s", got, want, a.history())
			}
			if !strings.HasPrefix(u[0].code, "COPYUID ") || !strings.HasSuffix(u[0].code, " 2:3 1:2") {
				t.Fatalf("MOVE: %s", u[0].raw)
			}
			if got := kinds(a.must(t, "NOOP")); got != "" {
				t.Fatalf("NOOP after MOVE reported %s (an expunge twice?)", got)
			}
			if fmt.Sprint(a.view) != "[1]" {
				t.Fatalf("view %v", a.view)
			}
		})
	}
}

func TestSearchSortAfterOtherSessionExpunged(t *testing.T) {
	ts := startServer(t, nil)
	a := raceSetup(t, ts, false)
	// Sequence numbers are those of A's view, where 2 still is; SEARCH
	// does not find the expunged message (RFC 2180 §4.3).
	if u := a.must(t, "SEARCH ALL"); len(u) != 1 || fmt.Sprint(u[0].vals) != "[1 3]" {
		t.Fatalf("SEARCH: %s", a.history())
	}
	if u := a.must(t, "SORT (REVERSE ARRIVAL) UTF-8 BODY message"); len(u) != 1 || fmt.Sprint(u[0].vals) != "[3 1]" {
		t.Fatalf("SORT: %s", a.history())
	}
	if u := a.must(t, "UID SEARCH TEXT race"); kinds(u) != "SEARCH, 2 EXPUNGE" || fmt.Sprint(u[0].vals) != "[1 3]" {
		t.Fatalf("UID SEARCH: %s", a.history())
	}
}

// startShortRetention is startServer with a store that keeps expunged
// messages for a millisecond only.
func startShortRetention(t *testing.T) *testServer {
	var st store.Store
	var acct store.Account
	ts := startServer(t, func(srv *Server) {
		ctx := context.Background()
		s, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{ExpungeRetention: time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.AddDomain(ctx, "example.org"); err != nil {
			t.Fatal(err)
		}
		if acct, err = s.CreateAccount(ctx, store.Account{Address: testUser, PasswordHash: passwordHash(), AllowIMAP: true}); err != nil {
			t.Fatal(err)
		}
		srv.Store, srv.Auth, st = s, auth.New(s, auth.Options{DefaultDomain: "example.org"}), s
	})
	ts.st, ts.acct = st, acct
	return ts
}

// waitPurged waits (bounded) until message 2 of INBOX is no longer retained.
func waitPurged(t *testing.T, ts *testServer) {
	ctx := context.Background()
	in, _ := ts.st.Mailbox(ctx, ts.acct.ID, "INBOX")
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		rd, err := ts.st.OpenMessageWith(ctx, ts.acct.ID, in.ID, 2, store.OpenOptions{Retained: true})
		if errors.Is(err, store.ErrNotFound) {
			return
		}
		if err == nil {
			rd.Close()
		}
		if time.Now().After(end) {
			t.Fatal("message 2 still retained")
		}
	}
}

// TestFetchCopyAfterRetention: once the data is really gone, FETCH answers
// the other messages whole and ends NO [EXPUNGEISSUED] (RFC 5530 §3);
// COPY fails whole (RFC 2180 §4.4.1).
func TestFetchCopyAfterRetention(t *testing.T) {
	ts := startShortRetention(t)
	a := raceSetup(t, ts, false)
	waitPurged(t, ts)
	tagged, u := a.do(t, "FETCH 1:3 (UID BODY.PEEK[])")
	if tagged.kind != "NO" || tagged.code != "EXPUNGEISSUED" || kinds(u) != "1 FETCH, 3 FETCH" {
		t.Fatalf("FETCH: %s after %s\n%s", tagged.raw, kinds(u), a.history())
	}
	tagged, _ = a.do(t, "COPY 1:3 Archive")
	if tagged.kind != "NO" || tagged.code != "EXPUNGEISSUED" {
		t.Fatalf("COPY: %s", tagged.raw)
	}
	ctx := context.Background()
	arch, _ := ts.st.Mailbox(ctx, ts.acct.ID, "Archive")
	if arch.Messages != 0 {
		t.Fatalf("failed COPY left %d messages", arch.Messages)
	}
	a.must(t, "COPY 1 Archive")
}
