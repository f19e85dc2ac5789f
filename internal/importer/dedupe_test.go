package importer

import (
	"context"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
)

// TestImportDedupe: with Dedupe, the same mail (Message-ID, size, Date)
// under two folders is imported once, also across runs and after the
// state is reopened; a message differing in size or Date, or without a
// Message-ID, is not taken for it. Without Dedupe both copies go in.
func TestImportDedupe(t *testing.T) {
	mail := "Message-ID: <a@x>\r\nDate: Mon, 1 Jun 2020 10:00:00 +0800\r\nSubject: s\r\n\r\nbody\r\n"
	msgs := []Message{
		{Folder: "", Data: []byte(mail)},
		{Folder: "Work", Data: []byte(mail)},                    // same mail, another label
		{Folder: "Work", Data: []byte("X-Label: w\r\n" + mail)}, // other size
		{Folder: "Work", Data: []byte("Message-ID: <a@x>\r\nDate: Tue, 2 Jun 2020 10:00:00 +0800\r\nSubject: s\r\n\r\nbody\r\n")}, // other date
		{Folder: "A", Data: []byte("Subject: no id\r\n\r\nx\r\n")},
		{Folder: "B", Data: []byte("Subject: no id\r\n\r\nx\r\n")}, // no Message-ID: by bytes only, per folder
	}
	for i := range msgs {
		msgs[i].InternalDate = time.Date(2020, 6, 1, 0, 0, i, 0, time.UTC)
	}
	stores := map[string]storeAcct{}
	run := func(dir string, dedupe bool, ms []Message) Stats {
		t.Helper()
		st, a := stores[dir].st, stores[dir].acct
		ctx := context.Background()
		state, err := OpenState(ctx, dir, Local{Mail: st}, a)
		if err != nil {
			t.Fatal(err)
		}
		defer state.Close()
		im := &Importer{T: Local{Mail: st}, Account: a, State: state, Dedupe: dedupe, BatchMessages: 2}
		for _, m := range ms {
			if err := im.Add(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		if err := im.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		return im.Stats()
	}
	on, off := t.TempDir(), t.TempDir()
	for _, d := range []string{on, off} {
		st, a := openTestStore(t)
		stores[d] = storeAcct{st, a.ID}
	}
	if s := run(on, true, msgs); s.Imported != 5 || s.Duplicates != 1 {
		t.Fatalf("--dedupe: %+v, want 5 imported, 1 duplicate", s)
	}
	if s := run(off, false, msgs); s.Imported != 6 || s.Duplicates != 0 {
		t.Fatalf("without --dedupe: %+v, want 6 imported", s)
	}
	// A later run (state reopened and compacted) from another source:
	// the mail is known by its id key.
	if s := run(on, true, []Message{{Folder: "Archive", Data: []byte(mail)}}); s.Imported != 0 || s.Duplicates != 1 {
		t.Fatalf("second run: %+v", s)
	}
	if s := run(on, false, []Message{{Folder: "Archive", Data: []byte(mail)}}); s.Imported != 1 {
		t.Fatalf("second run without --dedupe: %+v", s)
	}
}

func TestIDKey(t *testing.T) {
	// Same size (the body pads), written differently.
	x := "Message-ID:\r\n <a@x>\r\nDate: Mon,  1 Jun 2020\r\n\r\n"
	y := "message-id: <a@x>\r\nDATE: Mon, 1 Jun\r\n 2020\r\n\r\n"
	for len(y) < len(x) {
		y += "."
	}
	for len(x) < len(y) {
		x += "."
	}
	a, b := IDKey([]byte(x)), IDKey([]byte(y))
	if a == "" || a != b {
		t.Fatalf("folding and case change the key: %q %q", a, b)
	}
	if IDKey([]byte("Subject: x\r\n\r\n")) != "" || IDKey([]byte("Message-ID: <>\r\n\r\n")) != "" {
		t.Fatal("a key without a Message-ID")
	}
}

type storeAcct struct {
	st   *sqlite.Store
	acct store.AccountID
}

func FuzzIDKey(f *testing.F) {
	f.Add([]byte("Message-ID: <a@x>\r\nDate: Mon, 1 Jun 2020\r\n\r\nbody"))
	f.Add([]byte("message-id:\n <>\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k := IDKey(b)
		if k != "" && len(k) != 32 {
			t.Fatalf("key %q", k)
		}
		if k != IDKey(append([]byte(nil), b...)) {
			t.Fatal("not deterministic")
		}
	})
}

// BenchmarkIDKey is the duplicate key of a message with a folded
// Message-ID, per message imported; cpu-ns/op survives a loaded machine.
func BenchmarkIDKey(b *testing.B) {
	msg := []byte("From: a@example.org\r\nDate: Thu, 4 Mar 2021 05:06:07\r\n +0000\r\nMessage-ID:\r\n <1234@example.org>\r\nSubject: x\r\n\r\nbody\r\n")
	c0 := processCPU()
	for b.Loop() {
		if IDKey(msg) == "" {
			b.Fatal("no key")
		}
	}
	b.ReportMetric(float64(processCPU()-c0)/float64(b.N), "cpu-ns/op")
}
