"""Drive youju's SMTP server with Python's stdlib smtplib (an independent
client). Usage: smtplib_client.py MODE HOST PORT [CAFILE]

MODE inbound:    plain MX delivery to a local user, unknown user refused.
MODE submission: STARTTLS + AUTH LOGIN, send to a local and a remote user,
                 forged sender refused.
MODE smtps:      implicit TLS (465) + AUTH PLAIN.
Exits non-zero with a message on any unexpected behaviour."""
import smtplib
import ssl
import sys
from email.message import EmailMessage

mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
ctx = None
if len(sys.argv) > 4:
    ctx = ssl.create_default_context(cafile=sys.argv[4])
    ctx.check_hostname = False  # the cert names localhost, we dial an IP


def message(frm, to, subject):
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = frm, to, subject
    m["Message-ID"] = "<%s@python.test>" % subject
    m.set_content("Hello from smtplib, mode %s.\n" % mode)
    return m


def expect_refused(fn, code):
    try:
        fn()
    except smtplib.SMTPRecipientsRefused as e:
        got = list(e.recipients.values())[0][0]
    except smtplib.SMTPSenderRefused as e:
        got = e.smtp_code
    except smtplib.SMTPResponseException as e:
        got = e.smtp_code
    else:
        sys.exit("expected refusal %d, got success" % code)
    if got != code:
        sys.exit("expected %d, got %d" % (code, got))


if mode == "inbound":
    with smtplib.SMTP(host, port) as s:
        s.ehlo("python.test")
        for ext in ("pipelining", "8bitmime", "smtputf8", "chunking", "size", "enhancedstatuscodes", "dsn"):
            if not s.has_extn(ext):
                sys.exit("missing extension " + ext)
        s.send_message(message("py@remote.net", "alice@example.com", "py-inbound"))
        expect_refused(lambda: s.send_message(message("py@remote.net", "nobody@example.com", "x")), 550)
        expect_refused(lambda: s.send_message(message("py@remote.net", "victim@remote.net", "x")), 550)
elif mode == "submission":
    with smtplib.SMTP(host, port) as s:
        s.ehlo("python.test")
        if s.has_extn("auth"):
            sys.exit("AUTH offered before STARTTLS")
        s.starttls(context=ctx)
        s.ehlo("python.test")
        s.login("alice@example.com", "correct horse battery staple")  # smtplib picks PLAIN or LOGIN
        s.send_message(message("alice@example.com", "bob@example.com, far@remote.net", "py-submission"))
        expect_refused(lambda: s.send_message(message("bob@example.com", "bob@example.com", "forged")), 553)
elif mode == "smtps":
    with smtplib.SMTP_SSL(host, port, context=ctx) as s:
        s.ehlo("python.test")
        s.login("bob", "correct horse battery staple")
        s.send_message(message("bob@example.com", "alice@example.com", "py-smtps"))
else:
    sys.exit("unknown mode " + mode)
print("ok")
