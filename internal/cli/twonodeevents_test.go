package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/youju/youju/internal/store/postgres"
	"github.com/youju/youju/internal/web"
)

// TestMailEventsTwoNodes: the admin console's recent mail events of two
// nodes (two stores on one PostgreSQL schema, each with its EventLog
// shared as serve does): node B shows node A's events with its own,
// newest first, filtered by kind; node A's share of the store stays
// bounded (its ring of chunks) however much it logs.
func TestMailEventsTwoNodes(t *testing.T) {
	dsn := pgSchemaDSN(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, _ := pgAccount(t, dsn, "alice@example.test", "alicepw")
	second, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	evA, evB := web.NewEventLog(nil), web.NewEventLog(nil)
	evA.Share(ctx, first)
	evB.Share(ctx, second)
	logA, logB := slog.New(evA), slog.New(evB)

	logA.Info("mail", "event", "delivered", "id", "a1")
	logB.Info("mail", "event", "bounced", "id", "b1")
	logA.Info("mail", "event", "bounced", "id", "a2")
	if err := evA.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := evB.RecentAll(ctx, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if ids := eventIDs(got); ids != "a2 b1 a1" {
		t.Fatalf("node B's events: %s, want a2 b1 a1", ids)
	}
	got, _ = evB.RecentAll(ctx, 10, "bounced")
	if ids := eventIDs(got); ids != "a2 b1" {
		t.Fatalf("node B's bounces: %s, want a2 b1", ids)
	}
	if err := evB.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := evA.RecentAll(ctx, 10, ""); eventIDs(got) != "a2 b1 a1" {
		t.Fatalf("node A's events: %s, want a2 b1 a1", eventIDs(got))
	}

	for i := range 3000 {
		logA.Info("mail", "event", "delivered", "id", fmt.Sprint("n", i))
		if i%500 == 0 {
			evA.Flush(ctx)
		}
	}
	if err := evA.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ = evB.RecentAll(ctx, 3, "delivered")
	if ids := eventIDs(got); ids != "n2999 n2998 n2997" {
		t.Fatalf("node B's newest deliveries: %s", ids)
	}
	chunks, err := first.ListState(ctx, "mailevents/", 10_000)
	if err != nil {
		t.Fatal(err)
	}
	// Node A's ring (20 chunks of 50) and node B's one chunk.
	if len(chunks) > 21 {
		t.Fatalf("%d chunks of mail events in the store, want at most 21", len(chunks))
	}
}

func eventIDs(evs []web.Event) string {
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.Fields["id"])
	}
	return strings.Join(ids, " ")
}
