package importer

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
)

func readAll(t *testing.T, in string, opt MboxOptions) ([]Message, MboxStats) {
	t.Helper()
	var out []Message
	st, err := ReadMbox(strings.NewReader(in), opt, func(m Message) error {
		m.Data = append([]byte(nil), m.Data...)
		out = append(out, m)
		return nil
	})
	if err != nil {
		t.Fatalf("ReadMbox: %v", err)
	}
	return out, st
}

func TestMboxNastyCases(t *testing.T) {
	in := "From alice@example.com Mon Jan  2 15:04:05 2006\n" +
		"From: alice@example.com\nSubject: one\nStatus: RO\nX-Status: AF\nX-Keywords: $Label1, work\nContent-Length: 3\n\n" +
		"Body line\nFrom the start, this line is body text (mboxo did not quote it)\n>From quoted once\n>>From quoted twice\n\n" +
		"From bob@example.com Tue Feb  3 10:00:00 2009\n" +
		"From: bob@example.com\nSubject: two\nX-Status: DT\n\nsecond\n"
	msgs, st := readAll(t, in, MboxOptions{Folder: "Old"})
	if len(msgs) != 2 || st.Messages != 2 {
		t.Fatalf("got %d messages, want 2", len(msgs))
	}
	m := msgs[0]
	wantBody := "Body line\nFrom the start, this line is body text (mboxo did not quote it)\nFrom quoted once\n>From quoted twice\n"
	if !strings.HasSuffix(string(m.Data), "\n\n"+wantBody) {
		t.Errorf("body = %q", m.Data)
	}
	for _, f := range []string{"Status:", "X-Status:", "X-Keywords:", "Content-Length:"} {
		if bytes.Contains(m.Data, []byte(f)) {
			t.Errorf("%s kept in %q", f, m.Data)
		}
	}
	if want := store.FlagSeen | store.FlagAnswered | store.FlagFlagged; m.Flags.System != want {
		t.Errorf("flags = %b, want %b", m.Flags.System, want)
	}
	if strings.Join(m.Flags.Keywords, " ") != "$Label1 work" {
		t.Errorf("keywords = %q", m.Flags.Keywords)
	}
	if want := time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC); !m.InternalDate.Equal(want) {
		t.Errorf("date = %v, want %v", m.InternalDate, want)
	}
	if m.Folder != "Old" {
		t.Errorf("folder = %q", m.Folder)
	}
	if msgs[1].Flags.System != store.FlagDeleted|store.FlagDraft || string(msgs[1].Data) != "From: bob@example.com\nSubject: two\n\nsecond\n" {
		t.Errorf("second = %b %q", msgs[1].Flags.System, msgs[1].Data)
	}
}

func TestMboxOQuoting(t *testing.T) {
	in := "From a@b Mon Jan  2 15:04:05 2006\nSubject: x\n\n>From one\n>>From two\n"
	msgs, _ := readAll(t, in, MboxOptions{Quoting: MboxO})
	if want := "Subject: x\n\nFrom one\n>>From two\n"; len(msgs) != 1 || string(msgs[0].Data) != want {
		t.Fatalf("got %q, want %q", msgs, want)
	}
}

func TestMboxCRLFAndDateField(t *testing.T) {
	in := "From a@b Mon Jan  2 15:04:05 2006\r\nSubject: x\r\n\r\nbody\r\n\r\nFrom c@d Sat Jan  1 00:00:00 2000\r\nDate: Sun, 2 Jan 2000 01:02:03 +0800\r\n\r\ntwo\r\n"
	msgs, _ := readAll(t, in, MboxOptions{})
	if len(msgs) != 2 || string(msgs[0].Data) != "Subject: x\r\n\r\nbody\r\n" {
		t.Fatalf("got %q", msgs)
	}
	// The From_ line's date wins over the Date field.
	if !msgs[1].InternalDate.Equal(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("date = %v", msgs[1].InternalDate)
	}
	// Without a parsable From_ date, the Date field is used.
	msgs, _ = readAll(t, "From a@b\nDate: Sun, 2 Jan 2000 01:02:03 +0800\n\nx\n", MboxOptions{})
	if len(msgs) != 1 || !msgs[0].InternalDate.Equal(time.Date(2000, 1, 1, 17, 2, 3, 0, time.UTC)) {
		t.Errorf("got %+v", msgs)
	}
}

func TestMboxOversizedSkipped(t *testing.T) {
	big := strings.Repeat("x", 1000) + "\n"
	in := "From a@b Mon Jan  2 15:04:05 2006\n\n" + strings.Repeat(big, 10) + "\nFrom a@b Mon Jan  2 15:04:05 2006\n\nsmall\n"
	msgs, st := readAll(t, in, MboxOptions{MaxMessage: 5000})
	if len(msgs) != 1 || st.Oversized != 1 || string(msgs[0].Data) != "\nsmall\n" {
		t.Fatalf("got %d %+v %q", len(msgs), st, msgs)
	}
}

func TestMboxNotAnMbox(t *testing.T) {
	_, err := ReadMbox(strings.NewReader("Subject: hi\n\nbody\n"), MboxOptions{}, func(Message) error { return nil })
	if err == nil {
		t.Fatal("a file without From_ line was accepted")
	}
}

// TestMboxRoundTrip writes messages with WriteMboxRD and reads them back.
func TestMboxRoundTrip(t *testing.T) {
	bodies := []string{"Subject: a\n\nFrom here\n>From there\n\n\n", "Subject: b\n\n>>>From x\nno newline at end", "Subject: c\n\n"}
	var buf bytes.Buffer
	for _, b := range bodies {
		if err := WriteMboxRD(&buf, "x@y", time.Unix(1e9, 0), []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	msgs, _ := readAll(t, buf.String(), MboxOptions{})
	if len(msgs) != len(bodies) {
		t.Fatalf("got %d messages from %q", len(msgs), buf.String())
	}
	for i, b := range bodies {
		want := b
		if !strings.HasSuffix(want, "\n") {
			want += "\n"
		}
		if string(msgs[i].Data) != want {
			t.Errorf("message %d = %q, want %q", i, msgs[i].Data, want)
		}
	}
}

// FuzzMboxSplit checks that the splitter never fails on any input after a
// From_ line, keeps every message within its bound, and that what it
// yields survives a write/read round trip unchanged.
func FuzzMboxSplit(f *testing.F) {
	f.Add([]byte("From a@b Mon Jan  2 15:04:05 2006\nSubject: x\n\n>From y\n\nFrom c@d Mon Jan  2 15:04:05 2006\n\nz\n"))
	f.Add([]byte("From a\r\n\r\n>>From \r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := append([]byte("From fuzz@example Mon Jan  2 15:04:05 2006\n"), data...)
		var first []Message
		_, err := ReadMbox(bytes.NewReader(in), MboxOptions{MaxMessage: 1 << 16}, func(m Message) error {
			if len(m.Data) > 1<<16 {
				t.Fatalf("message of %d bytes over the bound", len(m.Data))
			}
			first = append(first, Message{Data: append([]byte(nil), m.Data...)})
			return nil
		})
		if err != nil {
			t.Fatalf("ReadMbox: %v", err)
		}
		// Round trip of what came out (mbox-only fields are gone, so a
		// second read must give the same bytes).
		var buf bytes.Buffer
		for _, m := range first {
			if bytes.ContainsRune(m.Data, '\r') {
				return // a CR alone ending a line is not kept by the round trip
			}
			WriteMboxRD(&buf, "x@y", time.Unix(0, 0), m.Data)
		}
		var second [][]byte
		ReadMbox(&buf, MboxOptions{MaxMessage: 1 << 17}, func(m Message) error {
			second = append(second, append([]byte(nil), m.Data...))
			return nil
		})
		if len(second) != len(first) {
			t.Fatalf("round trip: %d messages, then %d", len(first), len(second))
		}
	})
}
