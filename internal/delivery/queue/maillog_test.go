package queue

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/maillog"
	"github.com/youju/youju/internal/testutil"
)

func pick(evs []map[string]any, event string) []map[string]any {
	var out []map[string]any
	for _, e := range evs {
		if e["event"] == event {
			out = append(out, e)
		}
	}
	return out
}

// TestMailLogDeferredThenExpired: each temporary failure is a "deferred"
// line with the attempt count and the next attempt; giving up is a
// "bounced" line with the last reply; every line names the message by
// the id it was received under and by its queue id, and so does the DSN.
func TestMailLogDeferredThenExpired(t *testing.T) {
	var buf testutil.SyncBuffer
	maillog.SetLogger(slog.New(slog.NewJSONHandler(&buf, nil)))
	defer maillog.SetLogger(nil)

	w := newWorld()
	s := newSink(t, false, false)
	s.setBehave(tempFail)
	w.host("mx.remote.test", s.addr)
	w.mx("remote.test", "mx.remote.test")
	opt := testOptions(t, w)
	var c clock
	opt.Now = c.now
	opt.DelayNotice, opt.Lifetime = -1, 24*time.Hour
	var dsnIDs sync.Map
	opt.LocalDeliver = func(ctx context.Context, _ string, _ []string, _ []byte) error {
		dsnIDs.Store(maillog.IDFrom(ctx), true)
		return nil
	}
	opt.IsLocalDomain = func(d string) bool { return d == "youju.test" }
	q := openQueue(t, opt)
	ctx := maillog.WithID(context.Background(), "7.abc")
	if err := q.Enqueue(ctx, "alice@youju.test", []string{"bob@remote.test"}, testMessage("alice@youju.test", "bob@remote.test", "late"), delivery.DSN{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two deferrals", func() bool { return len(pick(buf.JSONLines(t), "deferred")) >= 2 })
	evs := buf.JSONLines(t)
	queued := pick(evs, "queued")
	if len(queued) != 1 || queued[0]["id"] != "7.abc" || queued[0]["qid"] == "" {
		t.Fatalf("queued: %v", queued)
	}
	qid := queued[0]["qid"]
	for i, d := range pick(evs, "deferred")[:2] {
		next, err := time.Parse(time.RFC3339, d["next"].(string))
		if d["id"] != "7.abc" || d["qid"] != qid || d["to"] != "bob@remote.test" || d["code"] != "451 4.3.0" ||
			d["text"] != "try later" || d["attempts"] != float64(i+1) || err != nil || next.IsZero() || d["relay"] == "" {
			t.Errorf("deferred %d: %v", i, d)
		}
	}
	c.add(25 * time.Hour)
	waitFor(t, "expiry", func() bool { return len(pick(buf.JSONLines(t), "bounced")) == 1 && q.Len() == 0 })
	b := pick(buf.JSONLines(t), "bounced")[0]
	if b["id"] != "7.abc" || b["qid"] != qid || b["code"] != "451 4.3.0" || !strings.HasPrefix(b["text"].(string), "gave up after") {
		t.Errorf("bounced: %v", b)
	}
	if _, ok := dsnIDs.Load("7.abc.dsn"); !ok {
		t.Errorf("the DSN was not delivered under 7.abc.dsn")
	}
	if n := len(pick(buf.JSONLines(t), "delivered")); n != 0 {
		t.Errorf("%d delivered lines", n)
	}
}

// TestMailLogOriginSurvivesRestart: the receipt id is in the state file,
// so a message delivered after a restart is still logged under it.
func TestMailLogOriginSurvivesRestart(t *testing.T) {
	var buf testutil.SyncBuffer
	maillog.SetLogger(slog.New(slog.NewJSONHandler(&buf, nil)))
	defer maillog.SetLogger(nil)
	w := newWorld()
	s := newSink(t, false, false)
	w.host("mx.remote.test", s.addr)
	w.mx("remote.test", "mx.remote.test")
	opt := testOptions(t, w)
	q1, err := Open(opt) // not started: nothing is sent
	if err != nil {
		t.Fatal(err)
	}
	ctx := maillog.WithID(context.Background(), "9.def")
	if err := q1.Enqueue(ctx, "alice@youju.test", []string{"bob@remote.test"}, testMessage("alice@youju.test", "bob@remote.test", "later"), delivery.DSN{}); err != nil {
		t.Fatal(err)
	}
	openQueue(t, opt) // a new process on the same directory
	waitFor(t, "delivery", func() bool { return len(pick(buf.JSONLines(t), "delivered")) == 1 })
	d := pick(buf.JSONLines(t), "delivered")[0]
	if d["id"] != "9.def" || d["qid"] == "" || d["code"] != "250" || d["proto"] != "smtp" || d["to"] != "bob@remote.test" {
		t.Errorf("delivered: %v", d)
	}
}
