package maillog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/auth"
)

// capture sends the events to a JSON buffer for the test's duration.
func capture(t *testing.T) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	SetLogger(slog.New(slog.NewJSONHandler(&b, nil)))
	t.Cleanup(func() { SetLogger(nil) })
	return &b
}

// lines decodes the buffer, keeping the key order of each line.
func lines(t *testing.T, b *bytes.Buffer) []([]string) {
	t.Helper()
	var out [][]string
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		dec := json.NewDecoder(strings.NewReader(l))
		dec.Token() // {
		var kv []string
		for dec.More() {
			k, _ := dec.Token()
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			kv = append(kv, fmt.Sprint(k), fmt.Sprint(v))
		}
		out = append(out, kv)
	}
	return out
}

func TestEveryEventHasTheFixedKeysInOrder(t *testing.T) {
	b := capture(t)
	ctx := WithID(context.Background(), "1a.00ff")
	m := Msg{ID: "1a.00ff", From: "alice@example.test", To: []string{"bob@example.test", "carol@other.test"},
		Remote: "192.0.2.1", Proto: "submission", User: "alice@example.test", Size: 1234}
	Received(m, "ESMTPSA")
	Queued(ctx, "Q1", "", []string{"carol@other.test"}, 1300)
	Delivered(Msg{ID: "1a.00ff", To: []string{"bob@example.test"}, Proto: "local"}, "", Result{Code: 250, Text: "INBOX"})
	Deferred(Msg{QID: "Q1", To: []string{"carol@other.test"}, Proto: "smtp"}, "mx.other.test", Result{Code: 451, Ext: "4.3.0", Text: "try\r\n  later"}, 2, time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC))
	Bounced(Msg{QID: "Q1", To: []string{"carol@other.test"}, Proto: "smtp"}, "mx.other.test", Result{Code: 550, Ext: "5.1.1", Text: strings.Repeat("é", 400)})
	Rejected(Msg{Remote: "192.0.2.9", Proto: "smtp", To: []string{"x@example.test"}}, "RCPT", Result{Code: 550, Ext: "5.1.1", Text: "No such user here"})
	AuthFailed("imap", netip.MustParseAddr("192.0.2.5"), "bob", "LOGIN", fmt.Errorf("wrapped: %w", auth.ErrThrottled))

	got := lines(t, b)
	if len(got) != 7 {
		t.Fatalf("%d lines:\n%s", len(got), b)
	}
	extra := [][]string{{"with"}, nil, {"relay"}, {"relay", "attempts", "next"}, {"relay"}, {"cmd"}, {"mech"}}
	for i, kv := range got {
		var keys []string
		for j := 0; j < len(kv); j += 2 {
			keys = append(keys, kv[j])
		}
		want := append(append([]string{"time", "level", "msg"}, Keys...), extra[i]...)
		if strings.Join(keys, " ") != strings.Join(want, " ") {
			t.Errorf("line %d keys %v, want %v", i, keys, want)
		}
		if kv[5] != "mail" {
			t.Errorf("line %d msg %q", i, kv[5])
		}
	}
	val := func(line int, key string) string {
		kv := got[line]
		for j := 0; j < len(kv); j += 2 {
			if kv[j] == key {
				return kv[j+1]
			}
		}
		return "<missing>"
	}
	for _, c := range []struct {
		line     int
		key, val string
	}{
		{0, "event", "received"}, {0, "to", "bob@example.test,carol@other.test"}, {0, "code", "250"}, {0, "size", "1234"}, {0, "with", "ESMTPSA"},
		{1, "event", "queued"}, {1, "id", "1a.00ff"}, {1, "qid", "Q1"}, {1, "from", "<>"},
		{3, "code", "451 4.3.0"}, {3, "text", "try later"}, {3, "next", "2026-12-03T18:00:00Z"}, {3, "attempts", "2"},
		{5, "cmd", "RCPT"}, {5, "code", "550 5.1.1"},
		{6, "event", "auth_failed"}, {6, "text", "throttled"}, {6, "from", ""}, {6, "user", "bob"}, {6, "remote", "192.0.2.5"},
	} {
		if v := val(c.line, c.key); v != c.val {
			t.Errorf("line %d: %s=%q, want %q", c.line, c.key, v, c.val)
		}
	}
	if txt := val(4, "text"); len(txt) > maxText+3 || !strings.HasSuffix(txt, "...") || !strings.HasPrefix(txt, "éé") {
		t.Errorf("long text not bounded: %d bytes", len(txt))
	}
}

func TestReason(t *testing.T) {
	for err, want := range map[error]string{
		auth.ErrInvalidCredentials:                   "invalid credentials",
		fmt.Errorf("x: %w", auth.ErrAccountDisabled): "account disabled",
		auth.ErrServiceDisabled:                      "service disabled",
		errors.New("sasl: malformed\nrequest"):       "sasl: malformed request",
		nil:                                          "",
	} {
		if got := Reason(err); got != want {
			t.Errorf("Reason(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestSilentBelowInfo(t *testing.T) {
	var b bytes.Buffer
	SetLogger(slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelWarn})))
	defer SetLogger(nil)
	Received(Msg{ID: "x"}, "ESMTP")
	if b.Len() != 0 {
		t.Errorf("logged at warn level: %s", b.String())
	}
}

// TestOneLineFastPath: the shortcut for text that needs no change agrees
// with the general rule.
func TestOneLineFastPath(t *testing.T) {
	for _, s := range []string{"", "INBOX", "a b", " a", "a ", "a  b", "a\tb", "a\r\nb", "a\u00a0b",
		"Junk,Archive", "(discarded)", "x\u0085y", strings.Repeat("a", maxText), strings.Repeat("a", maxText+1)} {
		want := strings.Join(strings.Fields(s), " ")
		if len(want) > maxText {
			want = strings.ToValidUTF8(want[:maxText], "") + "..."
		}
		if got := oneLine(s); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", s, got, want)
		}
	}
}

// TestInfoIsLogAttrs: Info writes the line Logger.LogAttrs writes, with
// the logger's own attributes, and nothing below the handler's level.
func TestInfoIsLogAttrs(t *testing.T) {
	noTime := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	var got, want bytes.Buffer
	attrs := []slog.Attr{slog.String("verdict", "junk"), slog.Float64("score", 7.5), slog.String("reasons", "BAYES(+6.5) NO_PTR(+1.5)")}
	Info(slog.New(slog.NewTextHandler(&got, noTime)).With("conn", "2a", "tls", false), "spam verdict", attrs...)
	slog.New(slog.NewTextHandler(&want, noTime)).With("conn", "2a", "tls", false).LogAttrs(context.Background(), slog.LevelInfo, "spam verdict", attrs...)
	if got.String() != want.String() || got.Len() == 0 {
		t.Errorf("Info wrote %q, LogAttrs %q", got.String(), want.String())
	}
	var quiet bytes.Buffer
	Info(slog.New(slog.NewTextHandler(&quiet, &slog.HandlerOptions{Level: slog.LevelWarn})), "spam verdict", attrs...)
	if quiet.Len() != 0 {
		t.Errorf("written below the level: %q", quiet.String())
	}
}
