package maillog

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// slogText is what slog.TextHandler writes of l.Record().
func slogText(t testing.TB, l Line) string {
	var b bytes.Buffer
	if err := slog.NewTextHandler(&b, nil).Handle(context.Background(), l.Record()); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// quoting are values on each side of slog's rule for quoting a text
// value: empty, space, '=', '"', backslash, control bytes, DEL, invalid
// UTF-8, U+FFFD, Unicode spaces and unprintable runes, printable runes.
var quoting = []string{
	"", "a", "INBOX", "a b", " ", "a=b", "=", `a"b`, `"`, `a\b`, `\`, "a\tb", "a\nb", "\r", "\x00", "\x1f",
	"\x7f", "a\x7fb", "\x80", "a\xffb", "\xe2\x82", "é", "aé", "é b", "\ufffd", "a\u00a0b", "\u2028", "\u0085",
	"\u200b", "\u00ad", "日本語", "\U0001F600", "a\U0010FFFFb", "<>", "mx.example.net [192.0.2.1:25]",
	"bob@example.test,carol@other.test", "550 5.1.1", "2.5987870ad7ca", "'", "a'b", "`", "#", "a,b;c:d",
}

func TestAppendTextIsTextHandler(t *testing.T) {
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("", 2*3600+30*60), time.FixedZone("", -7*3600-15),
		time.FixedZone("", 0)}
	times := []time.Time{time.Date(2026, 12, 3, 17, 13, 58, 144_999_999, time.UTC), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 100_000, time.UTC), time.Date(1999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Now(), {}}
	n := 0
	for i, s := range quoting {
		tm := times[i%len(times)]
		if !tm.IsZero() {
			tm = tm.In(zones[i%len(zones)])
		}
		other := quoting[(i*7+3)%len(quoting)]
		l := Line{Time: tm, Event: s, ID: other, QID: s, From: other, To: s, Remote: other, Proto: s, User: other,
			Code: s, Text: other, Size: int64(i*1000 - 7000)}
		for _, extra := range [][]slog.Attr{nil, {slog.String("with", s)},
			{slog.String("relay", other), slog.Int("attempts", i), slog.String("next", s)},
			{slog.String(s, other)}, {slog.Int64(other, -1)}} {
			l.nExtra = copy(l.extra[:], extra)
			want := slogText(t, l)
			if got := string(l.AppendText(nil)); got != want {
				t.Errorf("AppendText:\n%s\nslog:\n%s", got, want)
			}
			n++
		}
	}
	if n < 200 {
		t.Fatalf("only %d lines compared", n)
	}
}

// TestEveryEventAsTextHandler: each event function writes through a
// LineHandler the bytes it writes through slog's text handler.
func TestEveryEventAsTextHandler(t *testing.T) {
	var fast, plain bytes.Buffer
	events := func() {
		ctx := WithID(context.Background(), "1a.00ff")
		m := Msg{ID: "1a.00ff", From: "alice@example.test", To: []string{"bob@example.test", "carol@other.test"},
			Remote: "192.0.2.1", Proto: "submission", User: "alice@example.test", Size: 1234}
		Received(m, "ESMTPSA")
		Queued(ctx, "Q1", "", []string{"carol@other.test"}, 1300)
		Delivered(Msg{ID: "1a.00ff", To: []string{"bob@example.test"}, Proto: "local"}, "", Result{Code: 250, Text: "INBOX"})
		Deferred(Msg{QID: "Q1", To: []string{"carol@other.test"}, Proto: "smtp"}, "mx.other.test [192.0.2.7:25]",
			Result{Code: 451, Ext: "4.3.0", Text: "try\r\n  \"later\""}, 2, time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC))
		Bounced(Msg{QID: "Q1", To: []string{"carol@other.test"}, Proto: "smtp"}, "", Result{Code: 550, Ext: "5.1.1", Text: strings.Repeat("é", 400)})
		Rejected(Msg{Remote: "192.0.2.9", Proto: "smtp", To: []string{"x=y@example.test"}}, "RCPT", Result{Code: 550, Text: "No such user here"})
		AuthFailed("imap", netip.MustParseAddr("2001:db8::1"), "bob", "LOGIN", nil)
	}
	SetLogger(slog.New(NewTextHandler(&fast, slog.LevelInfo)))
	events()
	SetLogger(slog.New(slog.NewTextHandler(&plain, nil)))
	events()
	SetLogger(nil)
	if got, want := dropTimes(fast.String()), dropTimes(plain.String()); got != want || strings.Count(got, "\n") != 7 {
		t.Errorf("through HandleLine:\n%s\nthrough slog:\n%s", got, want)
	}
}

// dropTimes removes each line's time, which differs from run to run.
func dropTimes(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if _, rest, ok := strings.Cut(l, " "); ok && strings.HasPrefix(l, "time=") {
			l = rest
		}
		b.WriteString(l)
	}
	return b.String()
}

// TestTextHandlerOtherRecords: records that are not mail lines, and the
// handlers of WithAttrs and WithGroup, are slog's text handler's.
func TestTextHandlerOtherRecords(t *testing.T) {
	var got, want bytes.Buffer
	for _, h := range []slog.Handler{NewTextHandler(&got, slog.LevelWarn), slog.NewTextHandler(&want, &slog.HandlerOptions{Level: slog.LevelWarn})} {
		l := slog.New(h)
		l.Info("quiet")
		l.Warn("store slow", "op", "commit", "took", 3*time.Millisecond)
		l.With("conn", "1f").WithGroup("g").Error("failed", "err", "x y")
	}
	if g, w := dropTimes(got.String()), dropTimes(want.String()); g != w || strings.Count(g, "\n") != 2 {
		t.Errorf("got:\n%s\nwant:\n%s", g, w)
	}
}

func FuzzAppendText(f *testing.F) {
	for i, s := range quoting {
		f.Add(s, quoting[(i+1)%len(quoting)], int64(i), int64(1764781438144123456), i%4)
	}
	f.Fuzz(func(t *testing.T, a, b string, size, nanos int64, extra int) {
		tm := time.Unix(0, nanos).In(time.FixedZone("", int(size%(14*3600))))
		if tm.Year() < 0 || tm.Year() > 9999 {
			tm = time.Time{} // RFC 3339 has four-digit years; slog writes others as Go does
		}
		l := Line{Time: tm, Event: a, ID: b, QID: a + b, From: b + a, To: a, Remote: b, Proto: a, User: b, Code: a,
			Text: b, Size: size}
		switch extra & 3 {
		case 1:
			l.nExtra = copy(l.extra[:], []slog.Attr{slog.String("with", a)})
		case 2:
			l.nExtra = copy(l.extra[:], []slog.Attr{slog.String("relay", b), slog.Int64("attempts", size), slog.String(a, b)})
		case 3:
			l.nExtra = copy(l.extra[:], []slog.Attr{slog.Int64(b, nanos)})
		}
		if got, want := string(l.AppendText(nil)), slogText(t, l); got != want {
			t.Errorf("AppendText:\n%q\nslog:\n%q", got, want)
		}
	})
}
