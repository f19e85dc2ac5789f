package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
)

// TestStressConcurrentSessions runs several clients over real sockets on
// two shared mailboxes, each doing random SELECT, FETCH, STORE, EXPUNGE,
// APPEND, COPY, MOVE, SEARCH, SORT, IDLE and NOOP. Every client reads the
// server's responses with a strict reader (respreader_test.go) and keeps
// its own view of the mailbox (sequence number -> UID) from SELECT,
// EXISTS, EXPUNGE, VANISHED and FETCH UID; each response must parse and
// agree with that view (RFC 9051 §7.5.1: a session's message numbers
// change only when it is told). At the end, with the clients quiet, each
// view must equal the mailbox.
//
// It runs a few seconds by default (fewer operations with -short). For a
// longer run set YOUJU_STRESS_OPS (operations per client) and optionally
// YOUJU_STRESS_SEED to replay a seed's choices (the interleaving of the
// clients is up to the scheduler):
//
//	YOUJU_STRESS_OPS=3000 go test -race -run TestStressConcurrentSessions ./internal/imap/server
func TestStressConcurrentSessions(t *testing.T) {
	ops := 60
	if testing.Short() {
		ops = 25
	}
	if v := os.Getenv("YOUJU_STRESS_OPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("YOUJU_STRESS_OPS=%q", v)
		}
		ops = n
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("YOUJU_STRESS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("YOUJU_STRESS_SEED=%q", v)
		}
		seed = n
	}
	ts := startServer(t, nil)
	ctx := context.Background()
	if _, err := ts.st.CreateMailbox(ctx, ts.acct.ID, "Work", ""); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := range 40 {
		ts.deliver(t, "INBOX", stressMessage(rng, i), 0)
		ts.deliver(t, "Work", stressMessage(rng, 100+i), 0)
	}
	const clients = 6
	errs := make([]error, clients)
	cls := make([]*stressClient, clients)
	var wg sync.WaitGroup
	for i := range clients {
		c, err := dialStress(ts, i, seed)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.conn.Close() })
		cls[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.run(ops)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("seed %d: client %d: %v\nrecent traffic:\n%s", seed, i, err, cls[i].history())
		}
	}
	// Quiet now: every view, once updated, is the mailbox.
	for i, c := range cls {
		if err := c.finalCheck(ts); err != nil {
			t.Fatalf("seed %d: client %d final check: %v\nrecent traffic:\n%s", seed, i, err, c.history())
		}
	}
}

// stressMessage is a small message, multipart for some, so that BODY and
// BODYSTRUCTURE have parts to describe.
func stressMessage(rng *rand.Rand, i int) string {
	hdr := fmt.Sprintf("From: Sender %d <s%d@example.com>\r\nTo: alice@example.org\r\nSubject: stress %d %s\r\nDate: Mon, 2 Jan 2006 15:%02d:05 +0000\r\nMessage-ID: <%d.%d@example.com>\r\n",
		i, i, i, []string{"alpha", "beta", "gamma"}[rng.IntN(3)], i%60, i, rng.Uint32())
	if rng.IntN(3) == 0 {
		return hdr + "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nplain " +
			strings.Repeat("text ", 1+rng.IntN(50)) + "\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b--\r\n"
	}
	return hdr + "\r\nbody " + strings.Repeat("line of text\r\n", 1+rng.IntN(40))
}

type stressClient struct {
	id      int
	conn    net.Conn
	rd      *respReader
	rng     *rand.Rand
	tag     int
	mbox    string
	view    []store.UID // by sequence number - 1; 0 = not learned yet
	modseq  map[store.UID]uint64
	qresync bool
	hist    []string
	// curUID tells the checks whether the running command is a UID
	// command (SEARCH results are UIDs then).
	curUID bool
}

func dialStress(ts *testServer, id int, seed uint64) (*stressClient, error) {
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		return nil, err
	}
	c := &stressClient{id: id, conn: nc, rd: &respReader{r: bufio.NewReader(nc)},
		rng: rand.New(rand.NewPCG(seed, uint64(id)+2)), modseq: map[store.UID]uint64{}}
	return c, nil
}

func (c *stressClient) note(s string) {
	c.hist = append(c.hist, clip(strings.ReplaceAll(s, "\r\n", `\r\n`)))
	if len(c.hist) > 40 {
		c.hist = c.hist[len(c.hist)-40:]
	}
}

func (c *stressClient) history() string { return strings.Join(c.hist, "\n") }

// cmd sends a command and reads its responses up to the tagged one,
// checking each untagged response against the view.
func (c *stressClient) cmd(text string) (*response, []*response, error) {
	c.tag++
	tag := fmt.Sprintf("c%d.%d", c.id, c.tag)
	c.note("C: " + tag + " " + text)
	if _, err := c.conn.Write([]byte(tag + " " + text + "\r\n")); err != nil {
		return nil, nil, err
	}
	return c.readTagged(tag)
}

func (c *stressClient) readTagged(tag string) (*response, []*response, error) {
	var untagged []*response
	for {
		r, err := c.readOne()
		if err != nil {
			return nil, untagged, err
		}
		if r.tag == tag {
			return r, untagged, nil
		}
		if r.tag != "*" && r.tag != "+" {
			return nil, untagged, fmt.Errorf("response with unknown tag: %q", r.raw)
		}
		untagged = append(untagged, r)
	}
}

func (c *stressClient) readOne() (*response, error) {
	c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	r, err := c.rd.read()
	if err != nil {
		c.note("S (unparsable): " + c.rd.raw.String())
		return nil, err
	}
	c.note("S: " + strings.TrimSuffix(r.raw, "\r\n"))
	if r.tag == "*" {
		if err := c.apply(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// apply updates the view from an untagged response and checks it.
func (c *stressClient) apply(r *response) error {
	switch r.kind {
	case "BYE":
		return fmt.Errorf("unexpected BYE: %q", r.raw)
	case "EXISTS":
		if int(r.num) < len(c.view) {
			return fmt.Errorf("EXISTS %d below the %d messages of the view", r.num, len(c.view))
		}
		for len(c.view) < int(r.num) {
			c.view = append(c.view, 0)
		}
	case "EXPUNGE":
		if r.num < 1 || int(r.num) > len(c.view) {
			return fmt.Errorf("EXPUNGE %d out of range 1..%d", r.num, len(c.view))
		}
		delete(c.modseq, c.view[r.num-1])
		c.view = slices.Delete(c.view, int(r.num-1), int(r.num))
	case "VANISHED":
		if len(r.vals) != 1 {
			return fmt.Errorf("VANISHED (EARLIER) not asked for: %q", r.raw)
		}
		set, _ := r.vals[0].(string)
		uids, err := parseUIDSet(set)
		if err != nil {
			return err
		}
		for _, u := range uids {
			i := slices.Index(c.view, u)
			if i < 0 {
				return fmt.Errorf("VANISHED %d not in the view", u)
			}
			delete(c.modseq, u)
			c.view = slices.Delete(c.view, i, i+1)
		}
	case "FETCH":
		return c.applyFetch(r)
	case "SEARCH", "SORT":
		for _, v := range r.vals {
			s, ok := v.(string)
			if !ok {
				continue // (MODSEQ n)
			}
			n, err := strconv.ParseUint(s, 10, 32)
			if err != nil || n == 0 {
				return fmt.Errorf("%s: bad number %q", r.kind, s)
			}
			if !c.curUID && int(n) > len(c.view) {
				return fmt.Errorf("%s: sequence number %d beyond %d messages", r.kind, n, len(c.view))
			}
		}
	}
	return nil
}

func (c *stressClient) applyFetch(r *response) error {
	if r.num < 1 || int(r.num) > len(c.view) {
		return fmt.Errorf("FETCH %d out of range 1..%d", r.num, len(c.view))
	}
	i := int(r.num - 1)
	uid := c.view[i]
	for _, a := range r.fetch {
		switch a.name {
		case "UID":
			s, _ := a.val.(string)
			n, err := strconv.ParseUint(s, 10, 32)
			if err != nil || n == 0 {
				return fmt.Errorf("FETCH UID %q", s)
			}
			got := store.UID(n)
			if uid != 0 && uid != got {
				return fmt.Errorf("FETCH %d has UID %d, the view says %d", r.num, got, uid)
			}
			if uid == 0 {
				// Learn it: UIDs ascend with sequence numbers.
				for j := i - 1; j >= 0; j-- {
					if c.view[j] != 0 {
						if c.view[j] >= got {
							return fmt.Errorf("FETCH %d UID %d not above UID %d of %d", r.num, got, c.view[j], j+1)
						}
						break
					}
				}
				for j := i + 1; j < len(c.view); j++ {
					if c.view[j] != 0 {
						if c.view[j] <= got {
							return fmt.Errorf("FETCH %d UID %d not below UID %d of %d", r.num, got, c.view[j], j+1)
						}
						break
					}
				}
				c.view[i], uid = got, got
			}
		case "FLAGS":
			list, ok := a.val.([]any)
			if !ok && a.val != nil {
				return fmt.Errorf("FLAGS not a list: %q", r.raw)
			}
			seen := map[string]bool{}
			for _, f := range list {
				s, ok := f.(string)
				if !ok || s == "" {
					return fmt.Errorf("bad flag in %q", r.raw)
				}
				if seen[strings.ToLower(s)] {
					return fmt.Errorf("flag %s twice in %q", s, r.raw)
				}
				seen[strings.ToLower(s)] = true
			}
		case "MODSEQ":
			list, _ := a.val.([]any)
			if len(list) != 1 {
				return fmt.Errorf("MODSEQ not (n): %q", r.raw)
			}
			n, err := strconv.ParseUint(fmt.Sprint(list[0]), 10, 64)
			if err != nil || n == 0 {
				return fmt.Errorf("MODSEQ %v", list[0])
			}
			// RFC 7162 §3.1.1: a message's MODSEQ never decreases.
			if uid != 0 {
				if n < c.modseq[uid] {
					return fmt.Errorf("MODSEQ of UID %d went from %d down to %d", uid, c.modseq[uid], n)
				}
				c.modseq[uid] = n
			}
		}
	}
	return nil
}

func parseUIDSet(s string) ([]store.UID, error) {
	var out []store.UID
	for _, part := range strings.Split(s, ",") {
		lo, hi, rng := strings.Cut(part, ":")
		a, err := strconv.ParseUint(lo, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("bad set %q", s)
		}
		b := a
		if rng {
			if b, err = strconv.ParseUint(hi, 10, 32); err != nil {
				return nil, fmt.Errorf("bad set %q", s)
			}
		}
		if b < a {
			a, b = b, a
		}
		if b-a > 100000 {
			return nil, fmt.Errorf("set too large %q", s)
		}
		for u := a; u <= b; u++ {
			out = append(out, store.UID(u))
		}
	}
	return out, nil
}

// mustOK runs a command that must succeed; codes lists the NO response
// codes that are acceptable answers.
func (c *stressClient) mustOK(text string, codes ...string) ([]*response, error) {
	tagged, untagged, err := c.cmd(text)
	if err != nil {
		return untagged, err
	}
	if tagged.kind != "OK" {
		code, _, _ := strings.Cut(tagged.code, " ")
		if tagged.kind == "NO" && slices.Contains(codes, code) {
			return untagged, nil
		}
		return untagged, fmt.Errorf("%s: %s [%s] %s", text, tagged.kind, tagged.code, tagged.text)
	}
	return untagged, nil
}

// learnUIDs asks for the UIDs of messages announced by EXISTS; FETCH
// without UID is not interrupted by expunges (RFC 9051 §7.5.1).
func (c *stressClient) learnUIDs() error {
	first := slices.Index(c.view, 0)
	if first < 0 {
		return nil
	}
	c.curUID = false
	if _, err := c.mustOK(fmt.Sprintf("FETCH %d:* (UID)", first+1)); err != nil {
		return err
	}
	if i := slices.Index(c.view, 0); i >= 0 {
		return fmt.Errorf("message %d of the view got no FETCH UID", i+1)
	}
	return nil
}

func (c *stressClient) selectBox(name string) error {
	c.view, c.mbox = nil, name
	clear(c.modseq)
	if _, err := c.mustOK("SELECT " + name); err != nil {
		return err
	}
	return c.learnUIDs()
}

func (c *stressClient) run(ops int) error {
	if _, err := c.readOne(); err != nil { // greeting
		return err
	}
	if _, err := c.mustOK("LOGIN " + testUser + ` "` + testPassword + `"`); err != nil {
		return err
	}
	switch c.id % 3 {
	case 1:
		if _, err := c.mustOK("ENABLE CONDSTORE"); err != nil {
			return err
		}
	case 2:
		if _, err := c.mustOK("ENABLE QRESYNC"); err != nil {
			return err
		}
		c.qresync = true
	}
	if err := c.selectBox([]string{"INBOX", "Work"}[c.rng.IntN(2)]); err != nil {
		return err
	}
	for range ops {
		if err := c.step(); err != nil {
			return err
		}
		if err := c.learnUIDs(); err != nil {
			return err
		}
	}
	return nil
}

// seqRange picks a random range of the view, "" when it is empty.
func (c *stressClient) seqRange() string {
	n := len(c.view)
	if n == 0 {
		return ""
	}
	lo := 1 + c.rng.IntN(n)
	hi := min(n, lo+c.rng.IntN(4))
	return fmt.Sprintf("%d:%d", lo, hi)
}

// uidRange picks a random range of UIDs of the view.
func (c *stressClient) uidRange() string {
	n := len(c.view)
	if n == 0 {
		return ""
	}
	lo := c.rng.IntN(n)
	hi := min(n-1, lo+c.rng.IntN(4))
	return fmt.Sprintf("%d:%d", c.view[lo], c.view[hi])
}

func (c *stressClient) other() string {
	if c.mbox == "INBOX" {
		return "Work"
	}
	return "INBOX"
}

var stressFetches = []string{
	"FETCH 1:* (FLAGS BODY ENVELOPE)",
	"FETCH 1:* (UID BODY.PEEK[])",
	"UID FETCH 1:* (FLAGS RFC822.SIZE)",
	"FETCH 1:* (BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)] BODY.PEEK[1])",
	"FETCH 1:* (INTERNALDATE BODY.PEEK[TEXT]<0.20>)",
}

// step runs one random command.
func (c *stressClient) step() error {
	c.curUID = false
	switch k := c.rng.IntN(100); {
	case k < 28:
		f := stressFetches[c.rng.IntN(len(stressFetches))]
		if c.rng.IntN(4) == 0 {
			if r := c.seqRange(); r != "" {
				f = strings.Replace(f, "1:*", r, 1)
				f = strings.Replace(f, ".PEEK", "", 1) // sets \Seen
			}
		}
		c.curUID = strings.HasPrefix(f, "UID ")
		_, err := c.mustOK(f)
		return err
	case k < 42:
		return c.store()
	case k < 50:
		if c.rng.IntN(2) == 0 {
			_, err := c.mustOK("EXPUNGE")
			return err
		}
		r := c.uidRange()
		if r == "" {
			return nil
		}
		c.curUID = true
		_, err := c.mustOK("UID EXPUNGE " + r)
		return err
	case k < 58:
		return c.append()
	case k < 66:
		return c.copyMove()
	case k < 80:
		return c.search()
	case k < 86:
		return c.idle()
	case k < 94:
		_, err := c.mustOK("NOOP")
		return err
	default:
		box := c.mbox
		if c.rng.IntN(2) == 0 {
			box = c.other()
		}
		return c.selectBox(box)
	}
}

func (c *stressClient) store() error {
	uid := c.rng.IntN(2) == 0
	set := c.seqRange()
	if uid {
		set = c.uidRange()
	}
	if set == "" {
		return nil
	}
	flag := []string{`\Deleted`, `\Seen`, `\Flagged`, `$label1`, `$Forwarded`, "Work" + strconv.Itoa(c.rng.IntN(3))}[c.rng.IntN(6)]
	op := []string{"+FLAGS", "-FLAGS", "+FLAGS.SILENT"}[c.rng.IntN(3)]
	cmd := fmt.Sprintf("STORE %s %s (%s)", set, op, flag)
	if uid {
		cmd = "UID " + cmd
	}
	c.curUID = uid
	before := slices.Clone(c.view)
	untagged, err := c.mustOK(cmd, "EXPUNGEISSUED") // RFC 2180 §4.2
	if err != nil || op == "+FLAGS.SILENT" || uid {
		return err
	}
	// STORE without UID is not followed by other sessions' updates (RFC
	// 9051 §7.5.1), so every FETCH is the STORE's own result and must
	// show the change (RFC 9051 §6.4.6).
	for _, r := range untagged {
		if r.kind != "FETCH" {
			continue
		}
		has := false
		for _, a := range r.fetch {
			if a.name == "FLAGS" {
				list, _ := a.val.([]any)
				for _, f := range list {
					has = has || strings.EqualFold(fmt.Sprint(f), flag)
				}
			}
		}
		if has != (op == "+FLAGS") {
			return fmt.Errorf("STORE %s %s: FETCH %d (UID %d) shows %q", op, flag, r.num, before[r.num-1], r.raw)
		}
	}
	return nil
}

func (c *stressClient) append() error {
	box := c.mbox
	if c.rng.IntN(3) == 0 {
		box = c.other()
	}
	msg := stressMessage(c.rng, 1000+c.rng.IntN(1000))
	c.tag++
	tag := fmt.Sprintf("c%d.%d", c.id, c.tag)
	c.note(fmt.Sprintf("C: %s APPEND %s (\\Seen) {%d+}", tag, box, len(msg)))
	if _, err := fmt.Fprintf(c.conn, "%s APPEND %s (\\Seen) {%d+}\r\n%s\r\n", tag, box, len(msg), msg); err != nil {
		return err
	}
	tagged, _, err := c.readTagged(tag)
	if err != nil {
		return err
	}
	if tagged.kind != "OK" {
		return fmt.Errorf("APPEND: %s %s", tagged.kind, tagged.text)
	}
	return nil
}

func (c *stressClient) copyMove() error {
	uid := c.rng.IntN(2) == 0
	set := c.seqRange()
	if uid {
		set = c.uidRange()
	}
	if set == "" {
		return nil
	}
	verb := []string{"COPY", "MOVE"}[c.rng.IntN(2)]
	dst := c.other()
	if c.rng.IntN(4) == 0 {
		dst = c.mbox
	}
	cmd := verb + " " + set + " " + dst
	if uid {
		cmd = "UID " + cmd
	}
	c.curUID = uid
	_, err := c.mustOK(cmd)
	return err
}

var stressSearches = []string{
	"SEARCH ALL",
	"SEARCH UNSEEN",
	"UID SEARCH KEYWORD $label1",
	"SEARCH TEXT line",
	"SEARCH HEADER Subject beta",
	"SORT (DATE) UTF-8 ALL",
	"UID SORT (SUBJECT) UTF-8 BODY text",
	"SORT (REVERSE ARRIVAL) UTF-8 DELETED",
}

func (c *stressClient) search() error {
	s := stressSearches[c.rng.IntN(len(stressSearches))]
	c.curUID = strings.HasPrefix(s, "UID ")
	_, err := c.mustOK(s)
	return err
}

// idle idles for a moment, taking whatever updates come.
func (c *stressClient) idle() error {
	c.tag++
	tag := fmt.Sprintf("c%d.%d", c.id, c.tag)
	c.note("C: " + tag + " IDLE")
	if _, err := c.conn.Write([]byte(tag + " IDLE\r\n")); err != nil {
		return err
	}
	r, err := c.readOne()
	if err != nil {
		return err
	}
	if r.tag != "+" {
		return fmt.Errorf("IDLE: no continuation: %q", r.raw)
	}
	time.Sleep(time.Duration(c.rng.IntN(5)) * time.Millisecond)
	c.note("C: DONE")
	if _, err := c.conn.Write([]byte("DONE\r\n")); err != nil {
		return err
	}
	tagged, _, err := c.readTagged(tag)
	if err != nil {
		return err
	}
	if tagged.kind != "OK" {
		return errors.New("IDLE: " + tagged.raw)
	}
	return nil
}

// finalCheck brings the view up to date and compares it with the mailbox.
func (c *stressClient) finalCheck(ts *testServer) error {
	if _, err := c.mustOK("NOOP"); err != nil {
		return err
	}
	if err := c.learnUIDs(); err != nil {
		return err
	}
	ctx := context.Background()
	mb, err := ts.st.Mailbox(ctx, ts.acct.ID, c.mbox)
	if err != nil {
		return err
	}
	live, err := ts.st.Search(ctx, ts.acct.ID, mb.ID, store.Query{})
	if err != nil {
		return err
	}
	if !slices.Equal(live, c.view) {
		return fmt.Errorf("view of %s %v, mailbox %v", c.mbox, c.view, live)
	}
	// Every message of the view answers with its own UID.
	if len(c.view) > 0 {
		c.view = make([]store.UID, len(c.view))
		if _, err := c.mustOK("FETCH 1:* (UID FLAGS)"); err != nil {
			return err
		}
		if !slices.Equal(live, c.view) {
			return fmt.Errorf("FETCH 1:* UIDs %v, mailbox %v", c.view, live)
		}
	}
	return nil
}
