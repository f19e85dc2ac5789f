package web

import (
	"bytes"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/maillog"
)

// recordsOnly hides the LineHandler of its handler: mail lines reach it
// as slog records.
type recordsOnly struct{ slog.Handler }

func logEvents(h slog.Handler) {
	maillog.SetLogger(slog.New(h))
	maillog.Received(maillog.Msg{ID: "2.5a", From: "a@example.test", To: []string{"b@example.test", "c@example.test"},
		Remote: "192.0.2.1", Proto: "smtp", Size: 10240}, "ESMTPS")
	maillog.Deferred(maillog.Msg{QID: "Q1", To: []string{"d@other.test"}, Proto: "smtp"}, "mx.other.test",
		maillog.Result{Code: 451, Ext: "4.3.0", Text: "try later"}, 3, time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC))
	maillog.SetLogger(nil)
}

// TestEventLogKeepsLinesAsRecords: the console shows a mail line the
// ring kept as a maillog.Line as it shows the record of the line, and
// the handler behind gets it either way.
func TestEventLogKeepsLinesAsRecords(t *testing.T) {
	var text, json bytes.Buffer
	lines := NewEventLog(maillog.NewTextHandler(&text, slog.LevelInfo))
	logEvents(lines)
	logEvents(NewEventLog(slog.NewJSONHandler(&json, nil))) // a LineHandler before one that is not
	records := NewEventLog(nil)
	logEvents(recordsOnly{records})
	got, want := lines.Recent(10, ""), records.Recent(10, "")
	if len(got) != 2 || len(want) != 2 {
		t.Fatalf("%d and %d events", len(got), len(want))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i].Fields, want[i].Fields) || got[i].Level != want[i].Level || got[i].Time.IsZero() {
			t.Errorf("event %d kept as a line: %+v\nas a record: %+v", i, got[i], want[i])
		}
	}
	if got[0].Fields["next"] != "2026-12-03T18:00:00Z" || got[0].Fields["attempts"] != "3" || got[1].Fields["to"] != "b@example.test,c@example.test" {
		t.Errorf("fields: %v, %v", got[0].Fields, got[1].Fields)
	}
	if strings.Count(text.String(), " msg=mail event=") != 2 || strings.Count(json.String(), `"msg":"mail","event":`) != 2 {
		t.Errorf("passed on:\n%s%s", text.String(), json.String())
	}
}

// TestEventLogKeepsOtherRecords: a record that is not a mail line is
// kept too, with its logger's attributes.
func TestEventLogKeepsOtherRecords(t *testing.T) {
	l := NewEventLog(nil)
	slog.New(l).With("node", "n1").Warn("odd", "n", 7)
	slog.New(l).Debug("below the ring")
	got := l.Recent(10, "")
	if len(got) != 1 || got[0].Level != "WARN" || !reflect.DeepEqual(got[0].Fields, map[string]string{"node": "n1", "n": "7"}) {
		t.Errorf("%+v", got)
	}
}
