package server

import (
	"context"
	"strings"
	"testing"
)

// TestUTF8NamesEachMode checks UTF8=ACCEPT (RFC 6855) and IMAP4rev2 (RFC
// 9051 §5.1) against modified UTF-7 (RFC 3501 §5.1.3) with Chinese names:
// the same mailboxes, named in UTF-8 once a client enabled either and in
// modified UTF-7 for the others, in LIST, LSUB, STATUS, SELECT's LIST and
// GETQUOTAROOT, and created from any of the three.
func TestUTF8NamesEachMode(t *testing.T) {
	ts := startServer(t, nil)
	rev1 := ts.login(t)
	acc := ts.login(t)
	mustContain(t, acc.ok("ENABLE UTF8=ACCEPT"), "* ENABLED UTF8=ACCEPT")
	rev2 := ts.login(t)
	mustContain(t, rev2.ok("ENABLE IMAP4rev2"), "* ENABLED IMAP4rev2")

	rev1.ok("CREATE &ZTZO9nux-")       // 收件箱
	acc.ok(`CREATE "已发送"`)             // sent in UTF-8
	rev2.ok(`CREATE "项目/2026"`)        // and under IMAP4rev2
	acc.ok(`CREATE "R&D"`)             // "&" is a plain character in UTF-8 names
	rev1.ok("SUBSCRIBE &mHl27g-/2026") // 项目/2026
	acc.ok(`RENAME "项目/2026" "项目/报告"`) // the subscription follows in every mode

	ctx := context.Background()
	for _, name := range []string{"收件箱", "已发送", "项目", "项目/报告", "R&D"} {
		if _, err := ts.st.Mailbox(ctx, ts.acct.ID, name); err != nil {
			t.Fatalf("store has no %q: %v", name, err)
		}
	}

	mustContain(t, rev1.ok(`LIST "" *`), `* LIST (\HasNoChildren) "/" &ZTZO9nux-`, `* LIST (\HasNoChildren) "/" &XfJT0ZAB-`,
		`* LIST (\HasChildren) "/" &mHl27g-`, `* LIST (\HasNoChildren) "/" &mHl27g-/&YqVUSg-`, `* LIST (\HasNoChildren) "/" R&-D`)
	for _, c := range []*client{acc, rev2} {
		u := c.ok(`LIST "" *`)
		mustContain(t, u, `* LIST (\HasNoChildren) "/" "收件箱"`, `* LIST (\HasNoChildren) "/" "已发送"`,
			`* LIST (\HasChildren) "/" "项目"`, `* LIST (\HasNoChildren) "/" "项目/报告"`, `* LIST (\HasNoChildren) "/" R&D`)
		for _, l := range u {
			if strings.Contains(l, "&") && !strings.HasSuffix(l, "R&D") {
				t.Fatalf("modified UTF-7 after UTF-8 was enabled: %s", l)
			}
		}
		// Patterns are UTF-8 too, "%" stops at the delimiter.
		if u := c.ok(`LIST "项目/" %`); len(u) != 1 || u[0] != `* LIST (\HasNoChildren) "/" "项目/报告"` {
			t.Fatalf("LIST 项目/%%: %q", u)
		}
		mustContain(t, c.ok(`LSUB "" *`), `* LSUB () "/" "项目/报告"`)
		mustContain(t, c.ok(`STATUS "已发送" (MESSAGES)`), `* STATUS "已发送" (MESSAGES 0)`)
		mustContain(t, c.ok(`GETQUOTAROOT "收件箱"`), `* QUOTAROOT "收件箱" ""`)
	}
	mustContain(t, rev1.ok(`LSUB "" *`), `* LSUB () "/" &mHl27g-/&YqVUSg-`)
	mustContain(t, rev1.ok(`STATUS &XfJT0ZAB- (MESSAGES)`), `* STATUS &XfJT0ZAB- (MESSAGES 0)`)
	// IMAP4rev2's SELECT names the mailbox in a LIST response (RFC 9051
	// §6.3.2), in UTF-8.
	mustContain(t, rev2.ok(`SELECT "项目/报告"`), `* LIST () "/" "项目/报告"`)
	// The same NAMESPACE for every mode: no names to encode.
	for _, c := range []*client{rev1, acc, rev2} {
		mustContain(t, c.ok("NAMESPACE"), `* NAMESPACE (("" "/")) NIL NIL`)
	}
	// After UTF-8 is on, a modified UTF-7 spelling is just another name.
	if _, done := acc.do("SELECT &XfJT0ZAB-"); !strings.HasPrefix(done, "NO [NONEXISTENT]") {
		t.Fatalf("SELECT &XfJT0ZAB- under UTF8=ACCEPT: %s", done)
	}
}

// TestUTF8AcceptAppendAndSearch checks the APPEND UTF8 data item (RFC 6855
// §4) into a Chinese-named mailbox, delivered to a modified UTF-7 client
// too, and that SEARCH CHARSET is BAD after ENABLE UTF8=ACCEPT (§3).
func TestUTF8AcceptAppendAndSearch(t *testing.T) {
	ts := startServer(t, nil)
	acc := ts.login(t)
	acc.ok("ENABLE UTF8=ACCEPT")
	acc.ok(`CREATE "项目"`)
	msg := "From: 李四 <li@example.cn>\r\nTo: alice@example.org\r\nSubject: 2026 计划\r\n\r\n正文\r\n"
	acc.ok(`APPEND "项目" (\Seen) UTF8 (~{` + itoa(uint64(len(msg))) + "+}\r\n" + msg + ")")
	acc.ok(`SELECT "项目"`)
	mustContain(t, acc.ok("SEARCH SUBJECT 计划"), "* SEARCH 1")
	if _, done := acc.do("SEARCH CHARSET UTF-8 SUBJECT 计划"); !strings.HasPrefix(done, "BAD") {
		t.Fatalf("SEARCH CHARSET after UTF8=ACCEPT: %s", done)
	}
	rev1 := ts.login(t)
	mustContain(t, rev1.ok("STATUS &mHl27g- (MESSAGES)"), "* STATUS &mHl27g- (MESSAGES 1)")
	rev1.ok("SELECT &mHl27g-")
	mustContain(t, rev1.ok("SEARCH CHARSET UTF-8 SUBJECT 计划"), "* SEARCH 1")
	// Without ENABLE, the UTF8 data item is a syntax error (RFC 6855 §4).
	if _, done := rev1.do("APPEND &mHl27g- UTF8 (~{" + itoa(uint64(len(msg))) + "+}\r\n" + msg + ")"); !strings.HasPrefix(done, "BAD") {
		t.Fatalf("APPEND UTF8 without ENABLE: %s", done)
	}
}
