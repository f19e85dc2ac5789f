package server

import (
	"strings"
	"testing"
)

func TestListAndSpecialUse(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.login(t)
	u := c.ok(`LIST "" *`)
	mustContain(t, u,
		`* LIST (\HasNoChildren) "/" INBOX`,
		`* LIST (\HasNoChildren \Sent) "/" Sent`,
		`* LIST (\HasNoChildren \Trash) "/" Trash`,
		`* LIST (\HasNoChildren \Drafts) "/" Drafts`)
	mustContain(t, c.ok(`LIST "" ""`), `* LIST (\Noselect) "/" ""`)

	// Chinese names round-trip in modified UTF-7 (RFC 3501 §5.1.3).
	c.ok("CREATE &XfJT0ZAB-/&g0l6P3ux-")
	u = c.ok(`LIST "" *`)
	mustContain(t, u, `* LIST (\HasChildren) "/" &XfJT0ZAB-`, `* LIST (\HasNoChildren) "/" &XfJT0ZAB-/&g0l6P3ux-`)
	u = c.ok(`LIST "" %`)
	if hasLine(u, `* LIST (\HasNoChildren) "/" &XfJT0ZAB-/&g0l6P3ux-`) {
		t.Fatal("% matched across the delimiter")
	}
	mustContain(t, u, `* LIST (\HasChildren) "/" &XfJT0ZAB-`) // CREATE made the parent (RFC 9051 §6.3.4)
	u = c.ok(`LIST "&XfJT0ZAB-/" %`)
	if len(u) != 1 || u[0] != `* LIST (\HasNoChildren) "/" &XfJT0ZAB-/&g0l6P3ux-` {
		t.Fatalf("reference: %q", u)
	}

	// CREATE-SPECIAL-USE and LIST-EXTENDED selection.
	c.ok(`CREATE Outbox (USE (\Sent))`)
	if _, done := c.do(`CREATE X (USE (\Bogus))`); !strings.HasPrefix(done, "NO [USEATTR]") {
		t.Fatal(done)
	}
	u = c.ok(`LIST (SPECIAL-USE) "" *`)
	mustContain(t, u, `* LIST (\HasNoChildren \Sent) "/" Outbox`)
	if hasLine(u, `* LIST (\HasNoChildren) "/" INBOX`) {
		t.Fatal("SPECIAL-USE selection returned INBOX")
	}

	// Subscriptions.
	c.ok("SUBSCRIBE Outbox")
	mustContain(t, c.ok(`LSUB "" *`), `* LSUB () "/" Outbox`)
	u = c.ok(`LIST (SUBSCRIBED) "" Out*`)
	mustContain(t, u, `* LIST (\HasNoChildren \Sent \Subscribed) "/" Outbox`)
	// RFC 5258 §3.5: RECURSIVEMATCH reports unsubscribed parents.
	c.ok("CREATE Lists/Go")
	c.ok("SUBSCRIBE Lists/Go")
	u = c.ok(`LIST (SUBSCRIBED RECURSIVEMATCH) "" %`)
	mustContain(t, u, `* LIST (\HasChildren) "/" Lists ("CHILDINFO" ("SUBSCRIBED"))`, `* LIST (\HasNoChildren \Sent \Subscribed) "/" Outbox`)
	if _, done := c.do(`LIST (RECURSIVEMATCH) "" %`); !strings.HasPrefix(done, "BAD") {
		t.Fatal(done)
	}
	c.ok("UNSUBSCRIBE Outbox")
	if hasLine(c.ok(`LSUB "" *`), `* LSUB () "/" Outbox`) {
		t.Fatal("still subscribed")
	}

	// RENAME and DELETE.
	c.ok("RENAME Outbox Ausgang")
	if _, done := c.do("DELETE Outbox"); !strings.HasPrefix(done, "NO [NONEXISTENT]") {
		t.Fatal(done)
	}
	c.ok("DELETE Ausgang")
	if _, done := c.do("DELETE INBOX"); !strings.HasPrefix(done, "NO") {
		t.Fatal(done)
	}
	if _, done := c.do("CREATE inbox"); !strings.HasPrefix(done, "NO") {
		t.Fatal(done)
	}
}

func TestStatusAndListStatus(t *testing.T) {
	ts := startServer(t, nil)
	ts.deliver(t, "INBOX", simpleMsg, 0)
	ts.deliver(t, "INBOX", simpleMsg, 1) // \Seen
	c := ts.login(t)
	u := c.ok("STATUS INBOX (MESSAGES UNSEEN UIDNEXT SIZE DELETED)")
	want := "* STATUS INBOX (MESSAGES 2 UNSEEN 1 UIDNEXT 3 SIZE " + itoa(uint64(2*len(simpleMsg))) + " DELETED 0)"
	mustContain(t, u, want)
	u = c.ok(`LIST "" INBOX RETURN (STATUS (MESSAGES UNSEEN))`)
	if len(u) != 2 || u[1] != "* STATUS INBOX (MESSAGES 2 UNSEEN 1)" {
		t.Fatalf("%q", u)
	}
	if _, done := c.do("STATUS nope (MESSAGES)"); !strings.HasPrefix(done, "NO [NONEXISTENT]") {
		t.Fatal(done)
	}
	mustContain(t, c.ok("GETQUOTAROOT INBOX"), `* QUOTAROOT INBOX ""`, `* QUOTA "" ()`)
}

func TestUTF8Accept(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.login(t)
	mustContain(t, c.ok("ENABLE UTF8=ACCEPT"), "* ENABLED UTF8=ACCEPT")
	c.ok(`CREATE "草稿箱"`)
	mustContain(t, c.ok(`LIST "" 草*`), `* LIST (\HasNoChildren) "/" "草稿箱"`)
	msg := "From: 张三 <z@example.cn>\r\nSubject: 你好\r\n\r\n正文\r\n"
	c.ok("APPEND 草稿箱 UTF8 (~{" + itoa(uint64(len(msg))) + "+}\r\n" + msg + ")")
	c.ok("SELECT 草稿箱")
	mustContain(t, c.ok("SEARCH SUBJECT 你好"), "* SEARCH 1")
	mustContain(t, c.ok("FETCH 1 ENVELOPE"), `* 1 FETCH (ENVELOPE (NIL "你好" (("张三" NIL "z" "example.cn")) (("张三" NIL "z" "example.cn")) (("张三" NIL "z" "example.cn")) NIL NIL NIL NIL NIL))`)
}

func TestUTF8NamesUnderRev2(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.login(t)
	c.ok("ENABLE IMAP4rev2")
	c.ok(`CREATE "已发送"`)
	mustContain(t, c.ok(`LIST "" *`), `* LIST (\HasNoChildren) "/" "已发送"`)
	c2 := ts.login(t)
	mustContain(t, c2.ok(`LIST "" *`), `* LIST (\HasNoChildren) "/" &XfJT0ZAB-`)
}
