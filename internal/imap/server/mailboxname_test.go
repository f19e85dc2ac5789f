package server

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestBadMailboxNamesGetNO checks bug 7 of issue 10: a name that is good
// IMAP syntax but not valid modified UTF-7 (RFC 3501 §5.1.3), or raw 8-bit
// without UTF8=ACCEPT, gets NO [CANNOT] from every command that takes a
// mailbox name, not BAD (RFC 3501 §7.1: BAD is for protocol syntax), and a
// LIST with such a pattern is OK and empty.
func TestBadMailboxNamesGetNO(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.login(t)
	c.ok("CREATE &XfJT0ZAB-") // 已发送
	for _, name := range []string{"&Jjo", "&AGE-", "&XfI-&T0ZAB-", "&!-", "&AAA-", `"a&"`, "已发送", `"项目/报告"`} {
		for _, cmd := range []string{
			"SELECT " + name, "EXAMINE " + name, "CREATE " + name, "DELETE " + name,
			"RENAME INBOX/x " + name, "RENAME " + name + " x", "SUBSCRIBE " + name, "UNSUBSCRIBE " + name,
			"STATUS " + name + " (MESSAGES)", "GETQUOTAROOT " + name, "APPEND " + name + " {1+}\r\nx",
		} {
			if _, done := c.do(cmd); !strings.HasPrefix(done, "NO [CANNOT] ") {
				t.Errorf("%s: %s, want NO [CANNOT]", cmd, done)
			}
		}
	}
	// LIST patterns that are not modified UTF-7 match nothing.
	for _, cmd := range []string{`LIST "" &Jjo`, `LIST "" "&AGE-*"`, `LIST "&Jjo" *`, `LSUB "" &Jjo`, `LIST (SUBSCRIBED) "" (&Jjo "&!-")`} {
		if u := c.ok(cmd); len(u) != 0 {
			t.Errorf("%s: %q, want no result", cmd, u)
		}
	}
	// A good pattern beside a bad one still matches.
	mustContain(t, c.ok(`LIST "" (&Jjo &XfJT0ZAB-)`), `* LIST (\HasNoChildren) "/" &XfJT0ZAB-`)
	// Raw 8-bit in a pattern is refused like a name (mbsync 1.4 made
	// duplicate folders when it was taken as UTF-8).
	if _, done := c.do(`LIST "" 已*`); !strings.HasPrefix(done, "NO [CANNOT] ") {
		t.Errorf("8-bit LIST pattern: %s", done)
	}
	ts.deliver(t, "INBOX", simpleMsg, 0)
	c.ok("SELECT INBOX")
	for _, cmd := range []string{"COPY 1 已发送", "MOVE 1 &Jjo", "UID COPY 1 &AGE-"} {
		if _, done := c.do(cmd); !strings.HasPrefix(done, "NO [CANNOT] ") {
			t.Errorf("%s: %s", cmd, done)
		}
	}
	// Nothing was created or moved, and the session is still fine: NO
	// does not count as a bad command.
	mboxes, err := ts.st.Mailboxes(context.Background(), ts.acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mboxes {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	if slices.Contains(names, "项目/报告") || len(names) != 7 { // INBOX, 5 special-use, 已发送
		t.Fatalf("mailboxes %q", names)
	}
	mustContain(t, c.ok("FETCH 1 UID"), "* 1 FETCH (UID 1)")
	// A SELECT refused for its name still closes the selected mailbox
	// (RFC 9051 §6.3.2).
	if _, done := c.do("SELECT &Jjo"); !strings.HasPrefix(done, "NO [CANNOT] ") {
		t.Fatal(done)
	}
	if _, done := c.do("FETCH 1 UID"); !strings.HasPrefix(done, "BAD") {
		t.Fatalf("FETCH after a failed SELECT: %s", done)
	}
}

// TestLSUBPercentNoselectParent checks bug 5 (RFC 3501 §6.3.9): with "%",
// a parent that is not subscribed but has a subscribed child the wildcard
// does not reach is returned with \Noselect; with "*" the child itself is.
func TestLSUBPercentNoselectParent(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.login(t)
	c.ok("CREATE news/comp/mail/misc")
	c.ok("SUBSCRIBE news/comp/mail/misc")
	c.ok("CREATE Work")
	c.ok("SUBSCRIBE Work")
	c.ok("CREATE Work/a")
	c.ok("SUBSCRIBE Work/a")
	u := c.ok(`LSUB "" %`)
	// news exists (CREATE made it) but is not subscribed.
	if !slices.Equal(u, []string{`* LSUB () "/" Work`, `* LSUB (\Noselect) "/" news`}) {
		t.Fatalf("LSUB %%: %q", u)
	}
	mustContain(t, c.ok(`LSUB "news/" %`), `* LSUB (\Noselect) "/" news/comp`)
	u = c.ok(`LSUB "" *`)
	if !slices.Equal(u, []string{`* LSUB () "/" Work`, `* LSUB () "/" Work/a`, `* LSUB () "/" news/comp/mail/misc`}) {
		t.Fatalf("LSUB *: %q", u)
	}
	// The example of RFC 3501 §6.3.9 itself.
	mustContain(t, c.ok(`LSUB "news/" comp/mail/*`), `* LSUB () "/" news/comp/mail/misc`)
}

// TestRecursiveMatchChildInfo checks bug 8 against RFC 5258 §3.5 and the
// hierarchy of its §5 examples: CHILDINFO marks a mailbox whose matching
// (subscribed) descendant is not itself returned; a parent listed together
// with its subscribed children carries none, and an unsubscribed parent is
// then not listed at all ("servers SHOULD suppress redundant CHILDINFO").
func TestRecursiveMatchChildInfo(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.login(t)
	for _, n := range []string{"Foo2", "Foo2/Bar1", "Foo2/Bar2", "Baz2", "Baz2/Bar1", "Eps2", "Eps2/Mail", "Qux2/Bar2"} {
		c.ok("CREATE " + n)
	}
	for _, n := range []string{"Foo2/Bar2", "Baz2", "Baz2/Bar1", "Eps2", "Eps2/Mail", "Qux2/Bar2"} {
		c.ok("SUBSCRIBE " + n)
	}
	const ci = ` ("CHILDINFO" ("SUBSCRIBED"))`
	u := c.ok(`LIST (SUBSCRIBED RECURSIVEMATCH) "" %`)
	want := []string{
		`* LIST (\HasChildren \Subscribed) "/" Baz2` + ci,
		`* LIST (\HasChildren \Subscribed) "/" Eps2` + ci, // RFC 5258 §5 example 9 (D03)
		`* LIST (\HasChildren) "/" Foo2` + ci,
		`* LIST (\HasChildren) "/" Qux2` + ci,
	}
	if !slices.Equal(u, want) {
		t.Fatalf("%%:\n%s\nwant\n%s", strings.Join(u, "\n"), strings.Join(want, "\n"))
	}
	// With "*" every subscribed child is listed itself: no CHILDINFO.
	u = c.ok(`LIST (SUBSCRIBED RECURSIVEMATCH) "" *`)
	want = []string{
		`* LIST (\HasChildren \Subscribed) "/" Baz2`,
		`* LIST (\HasNoChildren \Subscribed) "/" Baz2/Bar1`,
		`* LIST (\HasChildren \Subscribed) "/" Eps2`,
		`* LIST (\HasNoChildren \Subscribed) "/" Eps2/Mail`,
		`* LIST (\HasNoChildren \Subscribed) "/" Foo2/Bar2`,
		`* LIST (\HasNoChildren \Subscribed) "/" Qux2/Bar2`,
	}
	if !slices.Equal(u, want) {
		t.Fatalf("*:\n%s\nwant\n%s", strings.Join(u, "\n"), strings.Join(want, "\n"))
	}
	// Two patterns: Foo2/Bar2 is listed by the second, so Foo2 needs no
	// CHILDINFO and is dropped; Eps2/Mail is not listed, so Eps2 keeps it.
	u = c.ok(`LIST (SUBSCRIBED RECURSIVEMATCH) "" (% Foo2/%)`)
	if hasLine(u, `* LIST (\HasChildren) "/" Foo2`+ci) || !hasLine(u, `* LIST (\HasChildren \Subscribed) "/" Eps2`+ci) ||
		!hasLine(u, `* LIST (\HasNoChildren \Subscribed) "/" Foo2/Bar2`) {
		t.Fatalf("(%% Foo2/%%):\n%s", strings.Join(u, "\n"))
	}
	// A parent that does not exist, listed for a subscribed child that
	// does not either (RFC 5258 §3.4).
	c.ok("SUBSCRIBE Zed/Sub")
	mustContain(t, c.ok(`LIST (SUBSCRIBED RECURSIVEMATCH) "" Z%`), `* LIST (\NonExistent \HasChildren) "/" Zed`+ci)
	mustContain(t, c.ok(`LIST (SUBSCRIBED) "" Zed/*`), `* LIST (\NonExistent \HasNoChildren \Subscribed) "/" Zed/Sub`)
	// Without RECURSIVEMATCH, never CHILDINFO (RFC 5258 §3.5).
	for _, l := range c.ok(`LIST (SUBSCRIBED) "" %`) {
		if strings.Contains(l, "CHILDINFO") {
			t.Fatalf("CHILDINFO without RECURSIVEMATCH: %s", l)
		}
	}
}
