package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// testAppendMessages checks AppendMessages: each Append is all or none
// (RFC 3502 §6.3.11) and independent of the others of the call; UIDs are
// consecutive in message order; flags, dates and exact bytes are kept;
// one event per touched mailbox tells sessions.
func testAppendMessages(t *testing.T, open Opener) {
	s := newStore(t, open)
	a := newAccount(t, s, "a@example.com")
	other := newAccount(t, s, "o@example.com")
	in := inbox(t, s, a.ID)
	arch, err := s.CreateMailbox(ctx, a.ID, "Projects", "")
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(message.NormalizeCRLF(testMessage(1))))
	// Room for 4 messages: the second Append (3 messages, after the first's
	// 2) does not fit as a whole, so none of it is stored.
	a.QuotaBytes = 4*size + size/2
	if err := s.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	events, cancel := s.Notifier().Subscribe(a.ID)
	defer cancel()
	date := time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC)
	msgs := func(from, n int) []store.AppendMessage {
		var out []store.AppendMessage
		for i := range n {
			out = append(out, store.AppendMessage{Data: testMessage(from + i), InternalDate: date, Flags: store.Flags{System: store.FlagSeen, Keywords: []string{"k"}}})
		}
		return out
	}
	other0 := inbox(t, s, other.ID)
	res, err := s.AppendMessages(ctx, a.ID, []store.Append{
		{Mailbox: in.ID, Messages: msgs(1, 2)},
		{Mailbox: in.ID, Messages: msgs(3, 3)},     // over quota as a whole
		{Mailbox: other0.ID, Messages: msgs(6, 1)}, // another account's mailbox
		{Mailbox: arch.ID, Messages: msgs(7, 1)},
		{Mailbox: in.ID, Messages: []store.AppendMessage{{Data: []byte("x\x00\n"), Exact: true}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 5 {
		t.Fatalf("%d results", len(res))
	}
	if res[0].Err != nil || !slices.Equal(res[0].UIDs, []store.UID{1, 2}) || res[0].UIDValidity != in.UIDValidity {
		t.Fatalf("first append: %+v", res[0])
	}
	if !errors.Is(res[1].Err, store.ErrQuotaExceeded) || len(res[1].UIDs) != 0 {
		t.Fatalf("append over quota: %+v", res[1])
	}
	if !errors.Is(res[2].Err, store.ErrNotFound) {
		t.Fatalf("append to another account's mailbox: %+v", res[2])
	}
	if res[3].Err != nil || !slices.Equal(res[3].UIDs, []store.UID{1}) || res[3].UIDValidity != arch.UIDValidity {
		t.Fatalf("append to Archive: %+v", res[3])
	}
	// The UID after the failed group follows the first one's: nothing of
	// the failed group took a UID.
	if res[4].Err != nil || !slices.Equal(res[4].UIDs, []store.UID{3}) {
		t.Fatalf("exact append: %+v", res[4])
	}
	if got := listUIDs(t, s, a.ID, in.ID); !slices.Equal(got, []store.UID{1, 2, 3}) {
		t.Fatalf("INBOX has %v", got)
	}
	if got := listUIDs(t, s, other.ID, other0.ID); len(got) != 0 {
		t.Fatalf("other account's INBOX has %v", got)
	}
	if got := readAll(t, s, a.ID, in.ID, 3); string(got) != "x\x00\n" {
		t.Fatalf("exact message stored as %q", got)
	}
	if got, want := readAll(t, s, a.ID, in.ID, 2), message.NormalizeCRLF(testMessage(2)); string(got) != string(want) {
		t.Fatalf("message 2 stored as %q", got)
	}
	err = s.ListMessages(ctx, a.ID, in.ID, store.ListOptions{UIDs: store.UIDSet{{Lo: 1, Hi: 2}}}, func(m *store.Message) error {
		if m.Flags.System&store.FlagSeen == 0 || !slices.Equal(m.Flags.Keywords, []string{"k"}) || !m.InternalDate.Equal(date) {
			t.Errorf("message %d: flags %+v date %v", m.UID, m.Flags, m.InternalDate)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[store.MailboxID]bool{in.ID: true, arch.ID: true}
	for len(want) > 0 {
		select {
		case e := <-events:
			delete(want, e.Mailbox)
		case <-time.After(5 * time.Second):
			t.Fatalf("no event for %v", want)
		}
	}
	// Nothing usable: an empty Append fails alone.
	res, err = s.AppendMessages(ctx, a.ID, []store.Append{{Mailbox: in.ID}})
	if err != nil || res[0].Err == nil {
		t.Fatalf("empty append: %+v, %v", res, err)
	}
	if used, _, _ := s.Quota(ctx, a.ID); used != 3*size+3 {
		t.Fatalf("used %d, want %d", used, 3*size+3)
	}
}
