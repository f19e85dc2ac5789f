"""Interop check with Python's imaplib, an independent IMAP client.

Usage: imaplib_interop.py HOST PORT USER PASSWORD
Exits non-zero (with a message) on the first failed expectation.
"""
import imaplib
import sys


def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)


def ok(resp, what):
    typ, data = resp
    check(typ == "OK", "%s: %s %r" % (what, typ, data))
    return data


host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
m = imaplib.IMAP4(host, port, timeout=20)
imaplib.Debug = 4 if len(sys.argv) > 5 else 0
check("IDLE" in m.capabilities, "capabilities %r" % (m.capabilities,))
ok(m.login(user, password), "login")

# Chinese folder names in modified UTF-7 (RFC 3501 section 5.1.3).
name = "&XfJT0ZAB-"  # 已发送
ok(m.create(name), "create")
boxes = ok(m.list(), "list")
check(any(b'"/" &XfJT0ZAB-' in b for b in boxes), "list %r" % (boxes,))

msg = b"From: py@example.com\r\nSubject: from python\r\n\r\nhello from imaplib\r\n"
typ, data = m.append("INBOX", r"(\Flagged)", None, msg)
check(typ == "OK" and b"APPENDUID" in data[0], "append %r %r" % (typ, data))

typ, data = m.select("INBOX")
check(typ == "OK", "select")
count = int(data[0])
check(count >= 1, "exists %r" % (data,))

typ, data = m.search(None, "FLAGGED")
check(typ == "OK" and data[0].split() == [str(count).encode()], "search %r" % (data,))
typ, data = m.uid("SEARCH", None, "SUBJECT", '"from python"')
check(typ == "OK" and len(data[0].split()) == 1, "uid search %r" % (data,))
uid = data[0].split()[0].decode()

typ, data = m.fetch(str(count), "(RFC822)")
check(typ == "OK" and data[0][1] == msg, "fetch %r" % (data,))
typ, data = m.uid("FETCH", uid, "(FLAGS)")
check(typ == "OK" and b"\\Seen" in data[0] and b"\\Flagged" in data[0], "flags %r" % (data,))

ok(m.store(str(count), "+FLAGS", r"(\Deleted)"), "store")
typ, data = m.expunge()
check(typ == "OK" and data == [str(count).encode()], "expunge %r" % (data,))
ok(m.copy("1:*", name), "copy") if count > 1 else None

# BINARY (RFC 3516): a base64 part holding NUL comes back decoded, in a
# literal8 that imaplib reads like a literal.
check("BINARY" in m.capabilities and "CATENATE" in m.capabilities, "capabilities %r" % (m.capabilities,))
binmsg = b"From: py@example.com\r\nSubject: binary\r\nContent-Transfer-Encoding: base64\r\n\r\nAGEAYg==\r\n"
typ, data = m.append("INBOX", None, None, binmsg)
check(typ == "OK", "append binary %r" % (data,))
typ, data = m.select("INBOX")
n = data[0].decode()
typ, data = m.fetch(n, "(BINARY.PEEK[1] BINARY.SIZE[1])")
check(typ == "OK" and data[0][0].endswith(b"BINARY[1] ~{4}") and data[0][1] == b"\x00a\x00b"
      and data[1] == b" BINARY.SIZE[1] 4)", "fetch binary %r" % (data,))
typ, data = m.fetch(n, "(UID)")
buid = data[0].split()[-1].rstrip(b")").decode()

# CATENATE (RFC 4469): a new message from text of the stored one.
typ, data = m._simple_command("APPEND", "Drafts", "CATENATE",
                              "(URL /INBOX/;UID=%s/;SECTION=HEADER URL /INBOX/;UID=%s/;SECTION=TEXT)" % (buid, buid))
check(typ == "OK", "catenate %r %r" % (typ, data))
typ, data = m.select("Drafts", readonly=True)
typ, data = m.fetch(data[0].decode(), "(BODY.PEEK[])")
check(typ == "OK" and data[0][1] == binmsg, "catenated %r" % (data,))
typ, data = m._simple_command("APPEND", "Drafts", "CATENATE", "(URL /INBOX/;UID=999999)")
check(typ == "NO" and b"[BADURL /INBOX/;UID=999999]" in data[0], "badurl %r %r" % (typ, data))
ok(m.close(), "close")
ok(m.delete(name), "delete")
m.logout()
print("imaplib interop OK")
