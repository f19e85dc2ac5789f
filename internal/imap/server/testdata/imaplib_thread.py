"""THREAD (RFC 5256) through Python's imaplib, an independent client.

Usage: imaplib_thread.py HOST PORT USER PASSWORD REFS UIDREFS ORDERED
The last three are the expected THREAD, UID THREAD REFERENCES and
THREAD ORDEREDSUBJECT results. Exits non-zero on the first mismatch.
"""
import imaplib
import sys

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
want_refs, want_uid, want_ordered = (a.encode() for a in sys.argv[5:8])
m = imaplib.IMAP4(host, port, timeout=20)
for alg in ("THREAD=REFERENCES", "THREAD=ORDEREDSUBJECT"):
    if alg not in m.capabilities:
        sys.exit("FAIL: %s not in %r" % (alg, m.capabilities))
m.login(user, password)
m.select("INBOX")
for what, resp, want in (
    ("THREAD", m.thread("REFERENCES", "UTF-8", "ALL"), want_refs),
    ("UID THREAD", m.uid("THREAD", "REFERENCES", "UTF-8", "ALL"), want_uid),
    ("THREAD ORDEREDSUBJECT", m.thread("ORDEREDSUBJECT", "US-ASCII", "ALL"), want_ordered),
):
    typ, data = resp
    if typ != "OK" or data != [want]:
        sys.exit("FAIL: %s: %s %r, want %r" % (what, typ, data, want))
typ, data = m.thread("REFERENCES", "UTF-8", "SUBJECT", "nothing-like-this")
if typ != "OK" or data not in ([None], [b""]):
    sys.exit("FAIL: empty THREAD: %s %r" % (typ, data))
m.logout()
print("imaplib thread OK")
