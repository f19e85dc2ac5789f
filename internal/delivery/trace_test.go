package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/youju/youju/internal/delivery/deliverytest"
	"github.com/youju/youju/internal/store"
)

// TestWithTrace pins the trace fields byte for byte: client-given text
// sanitised (controls, parentheses, invalid UTF-8), "for" only with one
// recipient, Return-Path only on final delivery, env.Fields after.
func TestWithTrace(t *testing.T) {
	at := time.Date(2026, 12, 4, 13, 5, 7, 0, time.FixedZone("", 8*3600))
	d := &Deliverer{Hostname: "mx.example.com"}
	for _, tc := range []struct {
		env   Envelope
		final bool
		want  string
	}{
		{Envelope{ID: "3.ab", From: "a@b.c", Helo: "client(x)\r\n", RemoteIP: "192.0.2.1", Protocol: "ESMTPS",
			TLS: "TLS1.3 TLS_AES_128_GCM_SHA256", Time: at, Rcpts: []Recipient{{Address: "alice@example.com"}},
			Fields: "Authentication-Results: mx.example.com; spf=pass\r\n"}, true,
			"Return-Path: <a@b.c>\r\nReceived: from client_x___ ([192.0.2.1])\r\n\tby mx.example.com (youju) with ESMTPS" +
				" (TLS1.3 TLS_AES_128_GCM_SHA256) id 3.ab\r\n\tfor <alice@example.com>; Fri, 04 Dec 2026 13:05:07 +0800\r\n" +
				"Authentication-Results: mx.example.com; spf=pass\r\nbody\r\n"},
		{Envelope{Helo: "h\xff\xfeé", Time: at, Rcpts: []Recipient{{Address: "a@x"}, {Address: "b@x"}}}, false,
			"Received: from h\ufffd\ufffdé\r\n\tby mx.example.com (youju) with ESMTP; Fri, 04 Dec 2026 13:05:07 +0800\r\nbody\r\n"},
	} {
		if got := string(d.withTrace(&tc.env, []byte("body\r\n"), tc.final)); got != tc.want {
			t.Errorf("withTrace:\n got %q\nwant %q", got, tc.want)
		}
	}
}

// spyStore keeps the slice the store was handed (the memory store copies).
type spyStore struct {
	*deliverytest.Store
	got []byte
}

func (s *spyStore) Deliver(ctx context.Context, d store.Delivery) ([]store.TargetResult, error) {
	s.got = d.Data
	return s.Store.Deliver(ctx, d)
}

// TestDeliverRoom: with room enough in front of the message, the store
// gets the same bytes as from Deliver, written in place; with too little,
// a copy.
func TestDeliverRoom(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	spy := &spyStore{Store: f.st}
	d := New(spy, nil, "mx.example.com", nil)
	res, err := d.Resolver.Resolve(ctx, "alice@example.com", false)
	if err != nil {
		t.Fatal(err)
	}
	env := func() *Envelope {
		return &Envelope{ID: "1.a", From: "s@remote.net", Helo: "client.test", RemoteIP: "192.0.2.1", Protocol: "ESMTP",
			Time: time.Unix(1_700_000_000, 0), Rcpts: []Recipient{{Address: "alice@example.com", Resolution: res}},
			Fields: "Authentication-Results: mx.example.com; spf=pass\r\n"}
	}
	const msg = "Subject: hi\r\n\r\nbody\r\n"
	if err := d.Deliver(ctx, env(), []byte(msg)); err != nil {
		t.Fatal(err)
	}
	want := string(spy.got)
	for _, tc := range []struct {
		room    int
		inPlace bool
	}{{0, false}, {16, false}, {1024, true}} {
		buf := append(make([]byte, tc.room), msg...)
		if err := d.DeliverRoom(ctx, env(), buf, tc.room); err != nil {
			t.Fatal(err)
		}
		if string(spy.got) != want {
			t.Errorf("room %d: stored\n%q\nwant\n%q", tc.room, spy.got, want)
		}
		if inPlace := &spy.got[len(spy.got)-1] == &buf[len(buf)-1]; inPlace != tc.inPlace {
			t.Errorf("room %d: written in place %v, want %v", tc.room, inPlace, tc.inPlace)
		}
	}
	if got := string(f.st.For(f.alice.ID)[3]); got != want {
		t.Errorf("delivered %q", got)
	}
}

// crlfSpy records what the store was told of the bytes' line ends.
type crlfSpy struct {
	*deliverytest.Store
	crlf []bool
}

func (s *crlfSpy) Deliver(ctx context.Context, d store.Delivery) ([]store.TargetResult, error) {
	s.crlf = append(s.crlf, d.CRLF)
	return s.Store.Deliver(ctx, d)
}

// TestDeliverCRLF: the store is told the message is CRLF only when the
// caller says the body is and the trace fields delivery puts in front of
// it are too (a field with a bare CR or LF makes the store scan).
func TestDeliverCRLF(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	spy := &crlfSpy{Store: f.st}
	d := New(spy, nil, "mx.example.com", nil)
	res, err := d.Resolver.Resolve(ctx, "alice@example.com", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		crlf   bool
		fields string
		want   bool
	}{
		{false, "X-A: a\r\n", false},
		{true, "X-A: a\r\n", true},
		{true, "X-A: a\rb\r\n", false},
		{true, "X-A: a\nb\r\n", false},
	} {
		env := &Envelope{ID: "1.a", From: "s@remote.net", Helo: "client.test", Protocol: "ESMTP", CRLF: tc.crlf,
			Rcpts: []Recipient{{Address: "alice@example.com", Resolution: res}}, Fields: tc.fields}
		spy.crlf = nil
		buf := append(make([]byte, 1024), "Subject: hi\r\n\r\nbody\r\n"...)
		if err := d.DeliverRoom(ctx, env, buf, 1024); err != nil {
			t.Fatal(err)
		}
		if len(spy.crlf) != 1 || spy.crlf[0] != tc.want {
			t.Errorf("CRLF %v, fields %q: store told %v, want %v", tc.crlf, tc.fields, spy.crlf, tc.want)
		}
	}
}
